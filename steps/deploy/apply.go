package deploy

import (
	"context"
	"fmt"
	"io/fs"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stepper-cd/stepper/internal/desiredstate"
	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/helm"
	"github.com/stepper-cd/stepper/internal/land"
	"github.com/stepper-cd/stepper/internal/logging"
	"github.com/stepper-cd/stepper/internal/report"
)

// Releases installs and upgrades Helm releases: internal/helm.
type Releases interface {
	Load(ctx context.Context, ref helm.ChartRef) (*helm.LoadedChart, error)
	Upgrade(ctx context.Context, cl helm.Cluster, o helm.UpgradeOptions) (*helm.ReleaseResult, error)
	Plan(ctx context.Context, cl helm.Cluster, o helm.UpgradeOptions) (*helm.ReleaseResult, error)
}

// StateReader reads an environment's desired state: internal/land.
type StateReader interface {
	Read(ctx context.Context, s land.Spec, local string) (*land.State, error)
}

// apply applies an environment's desired state to a cluster, the way the
// platform's Jenkins job (and Helmsman) does: every enabled app upgraded or
// installed, in priority order, apps of one priority side by side.
func (s *Step) apply(ctx context.Context, job Job) (*Outcome, error) {
	st, err := s.Reader.Read(ctx, land.SpecOf(job.Config, job.Env), job.State)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	checkout, top, dir, err := openCheckout(st)
	if err != nil {
		return nil, err
	}
	defer checkout.Close()
	a := &applier{
		helm: s.Helm, waiter: s.Waiter, verifier: s.Verifier, cluster: helm.Cluster{Kubeconfig: job.Kubeconfig, Context: job.KubeContext},
		gates:    evidenceGate(ctx, s.Evidence, job),
		checkout: checkout.FS(), top: top, dir: dir, keyring: chartKeyring(job),
		owner: job.Owner, ownerURL: job.OwnerURL, timeout: job.Timeout, rollbackOnFailure: job.RollbackOnFailure, includeProtected: job.IncludeProtected,
	}
	if !job.Wait {
		a.waiter = nil
	}
	results, err := a.run(ctx, st.Doc, job.App, job.DryRun)
	out := &Outcome{Applied: results, DryRun: job.DryRun}
	if out.Applied == nil {
		out.Applied = []*helm.ReleaseResult{}
	}
	for _, r := range results {
		out.Checks = append(out.Checks, appliedCheck(r, job.DryRun))
	}
	return out, err
}

// appliedCheck is how a release ended: a release rolled back is deployed
// again, but its upgrade failed.
func appliedCheck(r *helm.ReleaseResult, dryRun bool) report.Check {
	status := report.Succeeded
	if (r.Status != "deployed" || r.Action == helm.ActionRolledBack) && !dryRun {
		status = report.Failed
	}
	msg := r.Action
	if r.RolledBackTo > 0 {
		msg += fmt.Sprintf(", rolled back to revision %d", r.RolledBackTo)
	}
	return report.Check{Name: r.Namespace + "/" + r.Release, Status: status, Message: msg}
}

// applier applies one desired state.
type applier struct {
	helm     Releases
	cluster  helm.Cluster
	waiter   helm.Waiter
	verifier Verifier
	gates    *applyGate
	// keyring checks Helm provenance files (charts.keyring); "" when none.
	keyring string
	// checkout is the desired state's checkout, and dir the directory in
	// it that relative values files and chart paths start from; nothing
	// outside checkout is read.
	checkout fs.FS
	dir      string
	// top is the checkout's absolute path.
	top string
	// owner names who applies (job URL or user); it is recorded on the
	// release so a stale lock can be recognised as ours.
	owner             string
	ownerURL          string
	timeout           time.Duration
	rollbackOnFailure bool
	// includeProtected also upgrades releases the state marks protected.
	includeProtected bool
}

// run applies doc's apps (only the one named, when only is set). Every app
// is verified first (see trust.go), and nothing is written unless all of
// them pass. With dryRun it plans.
func (a *applier) run(ctx context.Context, doc desiredstate.Document, only string, dryRun bool) ([]*helm.ReleaseResult, error) {
	apps, err := doc.Apps()
	if err != nil {
		return nil, exit.Mark(exit.Usage, err)
	}
	var queue []desiredstate.App
	for _, app := range apps {
		if only != "" && app.Name != only {
			continue
		}
		if !app.Enabled {
			continue
		}
		if app.Protected && !a.includeProtected {
			logging.From(ctx).Info().Str(logging.App, app.Name).Msg("protected release skipped (pass --include-protected to apply it)")
			continue
		}
		queue = append(queue, app)
	}
	if only != "" && len(queue) == 0 {
		return nil, exit.Usagef("app %q is not an enabled, unprotected app of this desired state", only)
	}
	// Lower priority values go first, as in Helmsman.
	slices.SortStableFunc(queue, func(x, y desiredstate.App) int { return x.Priority - y.Priority })
	prepared, err := a.verifyAll(ctx, queue)
	if err != nil {
		return nil, err
	}
	var results []*helm.ReleaseResult
	for len(queue) > 0 {
		n := 1
		for n < len(queue) && queue[n].Priority == queue[0].Priority {
			n++
		}
		group := queue[:n]
		queue = queue[n:]
		rs, err := a.group(ctx, group, prepared, dryRun)
		results = append(results, rs...)
		if err != nil {
			return results, err
		}
	}
	return results, nil
}

// group applies apps of one priority side by side and reports every
// failure, not just the first.
func (a *applier) group(ctx context.Context, apps []desiredstate.App, prepared map[string]helm.UpgradeOptions, dryRun bool) ([]*helm.ReleaseResult, error) {
	results := make([]*helm.ReleaseResult, len(apps))
	errs := make([]error, len(apps))
	var wg sync.WaitGroup
	for i, app := range apps {
		wg.Go(func() {
			// A panic in one app's apply must not take the others down
			// with the process: it fails that app, by name.
			defer func() {
				if p := recover(); p != nil {
					logging.From(ctx).Error().Str(logging.App, app.Name).Str("panic", fmt.Sprint(p)).Bytes("stack", debug.Stack()).Msg("apply panicked")
					errs[i] = exit.Infraf("internal error (panic: %v); the release was not left pending, see the log for the stack and report it", p)
				}
			}()
			results[i], errs[i] = a.one(ctx, app, prepared[app.Name], dryRun)
		})
	}
	wg.Wait()
	var failed []string
	var first error
	for i, err := range errs {
		if err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", apps[i].Name, err))
			if first == nil {
				first = err
			}
		}
	}
	var out []*helm.ReleaseResult
	for _, r := range results {
		if r != nil {
			out = append(out, r)
		}
	}
	if first != nil {
		return out, exit.Mark(exit.ClassOf(first), fmt.Errorf("%d of %d apps failed:\n  %s", len(failed), len(apps), strings.Join(failed, "\n  ")))
	}
	return out, nil
}

// one applies an app verified by verifyAll.
func (a *applier) one(ctx context.Context, app desiredstate.App, o helm.UpgradeOptions, dryRun bool) (*helm.ReleaseResult, error) {
	if dryRun {
		return a.helm.Plan(ctx, a.cluster, o)
	}
	start := time.Now()
	res, err := a.helm.Upgrade(ctx, a.cluster, o)
	if err != nil {
		return res, err
	}
	logging.From(ctx).Info().Str(logging.Release, app.Name).Str("action", res.Action).Int("revision", res.Revision).
		Int64(logging.Duration, time.Since(start).Milliseconds()).Msg("applied")
	if res.Recovered != "" {
		logging.From(ctx).Warn().Str(logging.Release, app.Name).Str("recovered", res.Recovered).Msg("a release left pending was recovered before the upgrade")
	}
	return res, nil
}

func (a *applier) timeoutOf(app desiredstate.App) time.Duration {
	if app.Timeout > 0 {
		return time.Duration(app.Timeout) * time.Second
	}
	if a.timeout > 0 {
		return a.timeout
	}
	return 5 * time.Minute
}

func isPath(s string) bool {
	return strings.HasPrefix(s, "./") || strings.HasPrefix(s, "../") || strings.HasPrefix(s, "/")
}
