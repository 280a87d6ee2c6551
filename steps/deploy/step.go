package deploy

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/stepper-cd/stepper/internal/config"
	"github.com/stepper-cd/stepper/internal/gate"
	"github.com/stepper-cd/stepper/internal/helm"
	"github.com/stepper-cd/stepper/internal/land"
	"github.com/stepper-cd/stepper/internal/release"
	"github.com/stepper-cd/stepper/internal/report"
)

// Step is deploy with the systems it uses. GitOps mode needs Images,
// Verifier and Lander; apply mode (--apply) needs Helm, Reader and,
// to wait, Waiter.
type Step struct {
	Images   Images
	Verifier Verifier
	Lander   land.Landing

	Helm   Releases
	Reader StateReader
	// States reads the desired state a GitOps deploy lands on, for the
	// chart version the release keeps when --chart-version is not given;
	// nil leaves it unrecorded.
	States interface {
		Snapshot(ctx context.Context, s land.Spec, depth int) (*land.Snapshot, error)
	}
	Waiter helm.Waiter
	// Evidence checks, in the apply job, that every app's digest brings
	// the evidence its environment's gates ask for; nil checks none.
	Evidence gate.Checks
}

// Job is one run: the options, the configuration they apply to, and who
// runs it.
type Job struct {
	Options
	Config *config.Config
	Env    *config.Environment
	// Started is when the run began; it orders releases (release.Late).
	Started time.Time
	// Actor, PipelineURL and Owner say who deploys from where; Owner, a
	// job's identity stable across its retries, is recorded on Helm
	// releases so a stale lock is recognised as ours, and OwnerURL (this
	// run's job URL) beside it.
	Actor, PipelineURL, Owner, OwnerURL string
	DryRun                              bool
}

// Outcome is what a run did.
type Outcome struct {
	// Deployed is the GitOps release written; zero in apply mode.
	release.Deployed
	Diff     string
	Attempts int
	DryRun   bool
	// Applied are apply mode's releases, and Checks how each one ended.
	Applied []*helm.ReleaseResult
	Checks  []report.Check
}

// Run deploys: in GitOps mode it writes the release into the desired state
// and lands it; with --apply it applies the desired state to a cluster.
func (s *Step) Run(ctx context.Context, job Job) (*Outcome, error) {
	if job.Started.IsZero() {
		job.Started = time.Now()
	}
	if job.Apply {
		return s.apply(ctx, job)
	}
	return s.gitops(ctx, job)
}

// Encode writes the outcome into a result.
func (o *Outcome) Encode(r *report.Result) {
	if o.Applied != nil || o.Checks != nil {
		r.Checks = append(r.Checks, o.Checks...)
		return
	}
	o.Deployed.Encode(r)
}

// WriteDetails is the text a dry run or a no-op prints before the summary.
func (o *Outcome) WriteDetails(w io.Writer) error {
	if o.Applied != nil {
		for _, r := range o.Applied {
			fmt.Fprintf(w, "%-10s %s/%s\n", r.Action, r.Namespace, r.Release)
			if r.Diff != "" {
				fmt.Fprintf(w, "%s\n", r.Diff)
			}
		}
		return nil
	}
	if o.Diff == "" {
		_, err := fmt.Fprintf(w, "no change: %s/%s already has this release on %s\n", o.Env, o.App, o.Branch)
		return err
	}
	_, err := fmt.Fprintf(w, "would commit to %s:\n%s\n", o.Branch, o.Diff)
	return err
}
