package promote

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/stepper-cd/stepper/internal/config"
	"github.com/stepper-cd/stepper/internal/desiredstate"
	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/gate"
	"github.com/stepper-cd/stepper/internal/gitlab"
	"github.com/stepper-cd/stepper/internal/gitrepo"
	"github.com/stepper-cd/stepper/internal/jenkins"
	"github.com/stepper-cd/stepper/internal/land"
	"github.com/stepper-cd/stepper/internal/logging"
	"github.com/stepper-cd/stepper/internal/release"
)

// States reads desired states with their history from cached checkouts:
// internal/land.
type States interface {
	Snapshot(ctx context.Context, s land.Spec, depth int) (*land.Snapshot, error)
}

// Registry resolves and tags images: internal/registry.
type Registry interface {
	Resolve(ctx context.Context, ref string) (name.Digest, error)
	Tag(ctx context.Context, ref name.Digest, tags []string, allowRetag bool) error
}

// Jenkins runs the target's promotion job and describes builds:
// internal/jenkins.
type Jenkins interface {
	land.Jobs
	SetDescription(ctx context.Context, buildURL, text string) error
}

// Identity tells who runs the promotion, from a system the job cannot
// talk into another answer, and resolves group membership.
type Identity interface {
	// Who returns the user and how it was learnt ("GitLab job token",
	// "Jenkins build causes", ...).
	Who(ctx context.Context) (user, source string, err error)
	InGroup(ctx context.Context, group, user string) (bool, error)
}

// MergeRequests follows a merge request: internal/gitlab.
type MergeRequests interface {
	WaitMergeRequest(ctx context.Context, project string, iid int, interval time.Duration) (*gitlab.MR, error)
}

// Step is promote with the systems it uses. Jenkins, MRs and Registry may
// be nil when the target's route does not need them.
type Step struct {
	States   States
	Lander   land.Landing
	Gates    gate.Checks
	Registry Registry
	Jenkins  Jenkins
	Identity Identity
	MRs      MergeRequests
	// Console receives the Jenkins job's console; nil discards it.
	Console io.Writer
	// WaitInterval is how often --wait asks GitLab; 0 means 10s.
	WaitInterval time.Duration
}

// Job is one promotion.
type Job struct {
	Options
	Config   *config.Config
	From, To *config.Environment
	// Chain is the selected chain's name, for chainPromoters.
	Chain       string
	Started     time.Time
	PipelineURL string
	// InJob says this run is the target's Jenkins promotion job itself
	// (JOB_NAME is its land.job), and BuildURL is its build.
	InJob    bool
	BuildURL string
	DryRun   bool
}

// Candidate is one app's release that moves.
type Candidate struct {
	App string `json:"app"`
	// Image is the release's image, pinned; Tag is the tag it gets in the
	// target.
	Image        release.Ref `json:"image"`
	ChartVersion string      `json:"chartVersion,omitempty"`
	// Current is what the target runs now; nil for an app new there.
	Current *gate.Release `json:"current,omitempty"`
	// Deployed is when the release landed in the source.
	Deployed time.Time `json:"deployedInSource,omitzero"`
	// ReleasesHold is the rollback commit whose hold on the app in the
	// target this promotion lifts; "" when the app is not held.
	ReleasesHold string `json:"releasesHold,omitempty"`
	gate         gate.Release
}

// Outcome is what a promotion did.
type Outcome struct {
	From       string            `json:"from"`
	To         string            `json:"to"`
	Route      string            `json:"route"`
	Releases   []Candidate       `json:"releases"`
	Gates      []gate.Result     `json:"gates"`
	GatesOff   []config.Gate     `json:"gatesOff,omitempty"`
	Actor      string            `json:"actor,omitempty"`
	ActorFrom  string            `json:"actorSource,omitempty"`
	Hotfix     bool              `json:"hotfix,omitempty"`
	Landing    release.Landing   `json:"landing"`
	Diff       string            `json:"diff,omitempty"`
	Build      *jenkins.Build    `json:"jenkinsBuild,omitempty"`
	MergeState string            `json:"mergeRequestState,omitempty"`
	Tags       map[string]string `json:"tags,omitempty"`
	DryRun     bool              `json:"dryRun,omitempty"`
	// NoOp says the target already runs every release asked for.
	NoOp bool `json:"noop,omitempty"`
}

// Run promotes. Everything that can refuse (privilege, evidence, the
// rollback target) is checked before anything is written; a refusal
// changes nothing anywhere.
func (s *Step) Run(ctx context.Context, job Job) (*Outcome, error) {
	from, to := job.From, job.To
	out := &Outcome{From: from.Name, To: to.Name, Route: string(orCommit(to.Land.Via)), Hotfix: job.Hotfix, DryRun: job.DryRun}
	if to.Land.Via == config.ViaMergeRequest && to.TagPrefix != "" && !job.Wait && !job.DryRun {
		return out, exit.Usagef("promote into %s: it lands by merge request and names images by the tag prefix %q, which is pushed only once the merge request is merged: promote with --wait", to.Name, to.TagPrefix)
	}
	if job.Hotfix && to.Gates.HotfixSoak == "" {
		return out, exit.Usagef("promote --hotfix into %s: the platform allows no shorter soak there (environments[%s].gates.hotfixSoak is not set); promote without --hotfix", to.Name, to.Name)
	}
	out.GatesOff = append(out.GatesOff, to.Gates.Off...)
	var err error
	if out.Actor, out.ActorFrom, err = s.authorize(ctx, job); err != nil {
		return out, err
	}
	// Each checkout is opened once and released before anything lands;
	// the lander fetches again before it commits, so its race guard sees
	// the newest history.
	src, err := s.States.Snapshot(ctx, land.SpecOf(job.Config, from), max(job.Depth, 64))
	if err != nil {
		return out, err
	}
	dst, err := s.States.Snapshot(ctx, land.SpecOf(job.Config, to), 64)
	if err != nil {
		return out, err
	}
	cands, err := s.candidates(ctx, job, src.Doc, dst.Doc)
	if err != nil {
		return out, err
	}
	out.Releases = cands
	if len(cands) == 0 {
		out.NoOp = true
		logging.From(ctx).Info().Str(logging.Env, to.Name).Msgf("%s already runs what %s runs; nothing to promote", to.Name, from.Name)
		return out, nil
	}
	sourceHistory(job, cands, src)
	targetHolds(ctx, job, cands, dst.Commits)
	if err := s.checkGates(ctx, job, out); err != nil {
		return out, err
	}
	if err := s.land(ctx, job, src.Doc, out); err != nil {
		return out, err
	}
	return out, nil
}

// candidates are the releases to move: --app's, or with --all every app
// of the source whose release differs from the target's.
func (s *Step) candidates(ctx context.Context, job Job, src, dst desiredstate.Document) ([]Candidate, error) {
	var apps []string
	if job.All {
		list, err := src.Apps()
		if err != nil {
			return nil, exit.Mark(exit.Usage, fmt.Errorf("desired state of %s: %w", job.From.Name, err))
		}
		for _, a := range list {
			if _, err := dst.App(a.Name); err != nil {
				logging.From(ctx).Warn().Str(logging.App, a.Name).Msgf("%s is not in the desired state of %s; a new app enters an environment by a deploy of its own settings, not by promotion", a.Name, job.To.Name)
				continue
			}
			apps = append(apps, a.Name)
		}
	} else {
		if job.App == "" {
			return nil, exit.Usagef("no app given: pass --app NAME (or --all); outside CI there is no project name to default to")
		}
		apps = []string{job.App}
	}
	var out []Candidate
	for _, app := range apps {
		c, same, err := s.candidate(ctx, job, src, dst, app)
		if err != nil {
			return nil, err
		}
		if same {
			if !job.All {
				logging.From(ctx).Info().Str(logging.App, app).Msgf("%s already runs %s of %s", job.To.Name, c.Image.ShortDigest(), app)
			}
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

// candidate is app's release in the source, pinned, and what the target
// runs now; same reports that the target already runs it.
func (s *Step) candidate(ctx context.Context, job Job, src, dst desiredstate.Document, app string) (Candidate, bool, error) {
	a, err := src.App(app)
	if err != nil {
		return Candidate{}, false, exit.Mark(exit.Usage, fmt.Errorf("promote %s from %s: %w", app, job.From.Name, err))
	}
	t, err := dst.App(app)
	if err != nil {
		return Candidate{}, false, exit.Mark(exit.Usage, fmt.Errorf("promote %s into %s: %w; a new app enters an environment with its own settings (DNS, replicas, secrets), so add it to %s's desired state first", app, job.To.Name, err, job.To.Name))
	}
	img, err := s.pin(ctx, a.Image, job.From.Name, app)
	if err != nil {
		return Candidate{}, false, err
	}
	if job.Digest != "" && img.Digest != job.Digest {
		return Candidate{}, false, exit.Failedf("promote %s refused: %s runs %s, not the %s asked for; promote what was tested there", app, job.From.Name, img.Digest, job.Digest)
	}
	c := Candidate{App: app, Image: img, ChartVersion: a.ChartVersion}
	c.gate = gate.Release{App: app, Image: img, ChartRepo: a.Chart.RepoURL, Chart: a.Chart.Name, ChartVersion: a.ChartVersion}
	if !t.Image.IsZero() {
		cur, err := s.pin(ctx, t.Image, job.To.Name, app)
		if err != nil && (exit.ClassOf(err) == exit.Infra || ctx.Err() != nil) {
			return c, false, err
		}
		c.Current = &gate.Release{App: app, Image: cur, ChartRepo: t.Chart.RepoURL, Chart: t.Chart.Name, ChartVersion: t.ChartVersion}
		if err != nil { // a tag that no longer resolves: the rollback gate says so
			c.Current.Image = release.Ref{Repository: t.Image.Repository, Tag: t.Image.Tag}
			logging.From(ctx).Warn().Str(logging.App, app).Err(err).Msgf("what %s runs now does not resolve", job.To.Name)
		}
		if cur.Digest == img.Digest && t.ChartVersion == a.ChartVersion {
			return c, true, nil
		}
	}
	return c, false, nil
}

// pin is a desired state's image pinned by digest: as written, or its tag
// resolved in the registry.
func (s *Step) pin(ctx context.Context, img desiredstate.Image, env, app string) (release.Ref, error) {
	ref := release.Ref{Repository: img.Repository, Tag: img.Tag, Digest: img.Digest}
	if img.Repository == "" {
		return ref, exit.Usagef("app %s in %s names no image (image repository and tag or digest); stepper cannot tell what would move", app, env)
	}
	if ref.Digest != "" {
		return ref, nil
	}
	if s.Registry == nil || ref.Tag == "" {
		return ref, exit.Failedf("app %s in %s names %s without a digest; pin it (deploy writes digests) so that what is promoted is what was tested", app, env, img)
	}
	d, err := s.Registry.Resolve(ctx, ref.String())
	if err != nil {
		return ref, err
	}
	ref.Digest = d.DigestStr()
	return ref, nil
}

// sourceHistory finds when each candidate landed in the source: its last
// deploy there, which evidence must be newer than and a soak counts from.
// A desired state changed by hand (no stepper trailers) counts from its
// newest change: any change may have redeployed the app.
func sourceHistory(job Job, cands []Candidate, snap *land.Snapshot) {
	landed := func(c gitrepo.Commit) time.Time {
		if t, ok := snap.Landed[c.SHA]; ok {
			return t
		}
		return c.Time
	}
	for i := range cands {
		c := &cands[i]
		if len(snap.Commits) > 0 {
			c.Deployed = landed(snap.Commits[0])
		}
		if h := release.History(snap.Commits, job.From.Name, c.App); len(h) > 0 && h[0].Image.Digest == c.Image.Digest {
			// When the release reached the environment: for a merge
			// request, its merge, not the commit on the request's branch.
			c.Deployed = landed(h[0].Commit)
		}
	}
}

// targetHolds finds the apps a rollback holds in the target: a promotion
// is the deliberate move forward a hold waits for, so it lifts the hold,
// and the commit names the rollback it lifts.
func targetHolds(ctx context.Context, job Job, cands []Candidate, commits []gitrepo.Commit) {
	for i := range cands {
		if h := release.History(commits, job.To.Name, cands[i].App); len(h) > 0 && h[0].Hold {
			cands[i].ReleasesHold = h[0].Commit.SHA
			logging.From(ctx).Info().Str(logging.App, cands[i].App).Str("rollback", h[0].Commit.SHA).Msgf("%s is held by a rollback in %s; this promotion lifts the hold", cands[i].App, job.To.Name)
		}
	}
}

// checkGates runs every gate for every candidate; a failed one refuses the
// whole promotion before anything is written.
func (s *Step) checkGates(ctx context.Context, job Job, out *Outcome) error {
	for _, c := range out.Releases {
		w := gate.Want{
			Release: c.gate, Env: job.To.Name, Gates: job.To.Gates, From: []string{job.From.Name},
			Deployed: c.Deployed, Hotfix: job.Hotfix, Current: c.Current,
		}
		results, err := s.Gates.Check(ctx, w)
		out.Gates = append(out.Gates, results...)
		if err != nil {
			return err
		}
	}
	for _, r := range out.Gates {
		ev := logging.From(ctx).Info()
		if !r.Passed && !r.Off {
			ev = logging.From(ctx).Warn()
		}
		ev.Str("gate", string(r.Gate)).Str(logging.App, r.App).Bool("passed", r.Passed).Bool("off", r.Off).Msg(r.Found)
	}
	return gate.Refusal(fmt.Sprintf("promote %s → %s", job.From.Name, job.To.Name), out.Gates)
}

// evidenceOf names the attestations that admitted app, for the audit.
func evidenceOf(results []gate.Result, app string) string {
	var refs []string
	for _, r := range results {
		if r.App == app && r.Passed && r.Evidence != "" && r.Gate != config.GateSigned && !slices.Contains(refs, r.Evidence) {
			refs = append(refs, r.Evidence)
		}
	}
	return strings.Join(refs, " ")
}

func orCommit(v config.LandVia) config.LandVia {
	if v == "" {
		return config.ViaCommit
	}
	return v
}

func gateNames(g []config.Gate) string {
	s := make([]string, len(g))
	for i, x := range g {
		s[i] = string(x)
	}
	slices.Sort(s)
	return strings.Join(s, ", ")
}
