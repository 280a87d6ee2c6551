package status

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"golang.org/x/sync/errgroup"

	"github.com/stepper-cd/stepper/internal/config"
	"github.com/stepper-cd/stepper/internal/desiredstate"
	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/gate"
	"github.com/stepper-cd/stepper/internal/gitrepo"
	"github.com/stepper-cd/stepper/internal/land"
	"github.com/stepper-cd/stepper/internal/logging"
	"github.com/stepper-cd/stepper/internal/release"
)

// States reads desired states with their history from cached checkouts:
// internal/land.
type States interface {
	Snapshot(ctx context.Context, s land.Spec, depth int) (*land.Snapshot, error)
}

// Registry resolves a tag a desired state names without a digest:
// internal/registry.
type Registry interface {
	Resolve(ctx context.Context, ref string) (name.Digest, error)
}

// Step is status with the systems it reads. Registry may be nil (a
// release named by tag only is then not checked); Releases and Workloads
// are nil unless drift is asked for.
type Step struct {
	States States
	// Evidence checks gates against the registry and chart repositories.
	// It is a *gate.Checker rather than gate.Checks so that the board can
	// make each of its lookups once (see shared).
	Evidence  *gate.Checker
	Registry  Registry
	Releases  Releases
	Workloads Workloads
	// Now is the board's clock; nil means time.Now.
	Now func() time.Time
}

// Job is one board.
type Job struct {
	Options
	Config *config.Config
}

// column is one environment as read: its configuration, snapshot, apps
// and each app's release commits there, newest first.
type column struct {
	env      *config.Environment
	spec     land.Spec
	snap     *land.Snapshot
	apps     map[string]desiredstate.App
	releases map[string][]release.Entry
}

// Run reads every environment shown (and the one after the last, for the
// promotion into it) once, then checks every app's evidence, a bounded
// number at once, each registry lookup made once for the whole board.
func (s *Step) Run(ctx context.Context, job Job) (*Board, error) {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	b := &Board{Chain: job.Config.ChainName, At: now().UTC(), Drift: s.Releases != nil, plainHTTP: job.Config.Registry.InsecureHosts()}
	shown, err := selected(job)
	if err != nil {
		return b, err
	}
	cols, err := s.read(ctx, job, shown)
	if err != nil {
		return b, err
	}
	checker := shared(s.Evidence)
	if checker.Now == nil {
		checker.Now = now
	}
	apps := map[string]bool{}
	for _, e := range shown {
		col := cols[e.Name]
		env := Environment{Name: e.Name, Route: string(orCommit(e.Land.Via)), Repo: displayRepo(col.spec.Repo),
			Branch: col.spec.Branch, Path: col.spec.Path, Head: col.snap.Head, HeadURL: commitURL(col.spec.Repo, col.snap.Head)}
		if next, ok := job.Config.Next(e.Name); ok {
			env.Next = next.Name
		}
		for _, app := range slices.Sorted(maps.Keys(col.apps)) {
			if job.App != "" && app != job.App {
				continue
			}
			apps[app] = true
			env.Apps = append(env.Apps, Cell{App: app, Env: e.Name})
		}
		b.Environments = append(b.Environments, env)
	}
	b.Apps = slices.Sorted(maps.Keys(apps))
	if job.App != "" && len(b.Apps) == 0 {
		return b, exit.Usagef("app %s is in no desired state of %s", job.App, strings.Join(envNames(shown), ", "))
	}

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(job.Concurrency)
	for i := range b.Environments {
		env := &b.Environments[i]
		for j := range env.Apps {
			cell := &env.Apps[j]
			g.Go(func() error { return s.fill(gctx, job, checker, cols, cell, env.Next) })
		}
	}
	if err := g.Wait(); err != nil {
		return b, err
	}
	return b, nil
}

// selected are the environments shown: the chain, or --env alone.
func selected(job Job) ([]*config.Environment, error) {
	chain := job.Config.Chain()
	if job.Env == "" {
		if len(chain) == 0 {
			return nil, exit.Usagef("the chain has no environments: set chain and environments in stepper.yaml, or a profile")
		}
		return chain, nil
	}
	e, err := job.Config.Environment(job.Env)
	if err != nil {
		return nil, err
	}
	return []*config.Environment{e}, nil
}

// read takes one snapshot of every desired state the board needs: the
// environments shown and the next one after each. Environments that share
// a repository, branch and path share one snapshot.
func (s *Step) read(ctx context.Context, job Job, shown []*config.Environment) (map[string]*column, error) {
	envs := slices.Clone(shown)
	for _, e := range shown {
		if next, ok := job.Config.Next(e.Name); ok && !slices.Contains(envs, next) {
			envs = append(envs, next)
		}
	}
	cols := map[string]*column{}
	snaps := map[string]*land.Snapshot{}
	for _, e := range envs {
		spec := land.SpecOf(job.Config, e)
		key := strings.Join([]string{spec.Repo, spec.Branch, spec.Path, spec.Format}, "\x00")
		snap, ok := snaps[key]
		if !ok {
			var err error
			if snap, err = s.States.Snapshot(ctx, spec, job.Depth); err != nil {
				return nil, err
			}
			snaps[key] = snap
		}
		list, err := snap.Doc.Apps()
		if err != nil {
			return nil, exit.Mark(exit.Usage, fmt.Errorf("desired state of %s: %w", e.Name, err))
		}
		col := &column{env: e, spec: spec, snap: snap, apps: map[string]desiredstate.App{}, releases: map[string][]release.Entry{}}
		for _, a := range list {
			col.apps[a.Name] = a
		}
		// The history is read once per environment, not once per app.
		for _, h := range release.History(snap.Commits, e.Name, "") {
			col.releases[h.App] = append(col.releases[h.App], h)
		}
		cols[e.Name] = col
		logging.From(ctx).Debug().Str(logging.Env, e.Name).Str("head", snap.Head).Int("apps", len(list)).Int("commits", len(snap.Commits)).Msg("desired state read")
	}
	return cols, nil
}

// fill completes one cell: the release, its history, its evidence, the
// promotion verdict and drift.
func (s *Step) fill(ctx context.Context, job Job, checker *gate.Checker, cols map[string]*column, cell *Cell, next string) error {
	col := cols[cell.Env]
	a := col.apps[cell.App]
	cell.Release = Release{Repository: a.Image.Repository, Tag: a.Image.Tag, Digest: a.Image.Digest,
		Chart: a.Chart.Name, ChartVersion: a.ChartVersion, Namespace: a.Namespace, Disabled: !a.Enabled}
	history(cell, col)
	img, problem, err := s.pin(ctx, a.Image)
	if err != nil {
		return err
	}
	cell.Problem = problem
	if cell.Release.Digest == "" && img.Digest != "" {
		cell.Release.Digest, cell.Release.Resolved = img.Digest, true
	}
	if s.Releases != nil {
		if err := s.drift(ctx, job, cell, a); err != nil {
			return err
		}
	}
	var nextCol *column
	if next != "" {
		nextCol = cols[next]
		cell.Promotion = &Promotion{To: next, Verdict: Unknown}
	}
	if problem != "" {
		return nil
	}
	rel := gate.Release{App: cell.App, Image: img, ChartRepo: a.Chart.RepoURL, Chart: a.Chart.Name, ChartVersion: a.ChartVersion}
	deployed := col.deployedAt(cell.App, img.Digest)
	// The evidence as it stands here: no maxAge, no soak, every gate on.
	ev, err := checker.Check(ctx, gate.Want{Release: rel, Env: cell.Env, From: []string{cell.Env}, Deployed: deployed,
		Only: []config.Gate{config.GateSigned, config.GateValidated, config.GateSmokeTested}})
	if err != nil {
		return err
	}
	cell.Evidence = ev
	if nextCol == nil {
		return nil
	}
	return s.promotion(ctx, checker, cell, rel, deployed, col, nextCol)
}

// promotion asks the next environment's gates what promote would ask them:
// the same gate.Want promote builds.
func (s *Step) promotion(ctx context.Context, checker *gate.Checker, cell *Cell, rel gate.Release, deployed time.Time, col, next *column) error {
	p := cell.Promotion
	p.Deployed = deployed
	t, inNext := next.apps[cell.App]
	var current *gate.Release
	if inNext && !t.Image.IsZero() {
		cur, problem, err := s.pin(ctx, t.Image)
		if err != nil {
			return err
		}
		current = &gate.Release{App: cell.App, Image: cur, ChartRepo: t.Chart.RepoURL, Chart: t.Chart.Name, ChartVersion: t.ChartVersion}
		if problem != "" { // a tag that no longer resolves: the rollback gate says so
			current.Image = release.Ref{Repository: t.Image.Repository, Tag: t.Image.Tag}
		}
	}
	w := gate.Want{Release: rel, Env: next.env.Name, Gates: next.env.Gates, From: []string{col.env.Name}, Deployed: deployed, Current: current}
	results, err := checker.Check(ctx, w)
	if err != nil {
		return err
	}
	p.Gates = results
	for _, r := range results {
		if !r.Passed && !r.Off {
			p.StoppedBy = append(p.StoppedBy, string(r.Gate))
		}
	}
	switch {
	case !inNext:
		p.Verdict = NotInNext
	case current != nil && current.Image.Digest == rel.Image.Digest && t.ChartVersion == rel.ChartVersion:
		p.Verdict = InNext
	case len(p.StoppedBy) > 0:
		p.Verdict = Stopped
	default:
		p.Verdict = MayPromote
	}
	return nil
}

// pin is a desired state's image pinned by digest: as written, or its tag
// resolved in the registry now. problem says why it cannot be checked; err
// is for a registry that cannot answer.
func (s *Step) pin(ctx context.Context, img desiredstate.Image) (release.Ref, string, error) {
	ref := release.Ref{Repository: img.Repository, Tag: img.Tag, Digest: img.Digest}
	switch {
	case img.Repository == "":
		return ref, "names no image (image repository and tag or digest)", nil
	case ref.Digest != "":
		return ref, "", nil
	case ref.Tag == "" || s.Registry == nil:
		return ref, "names " + ref.String() + " without a digest", nil
	}
	d, err := s.Registry.Resolve(ctx, ref.String())
	if err != nil {
		if exit.ClassOf(err) == exit.Failed || exit.ClassOf(err) == exit.Usage {
			return ref, ref.String() + " does not resolve: " + err.Error(), nil
		}
		return ref, "", err
	}
	ref.Digest = d.DigestStr()
	return ref, "", nil
}

// history reads the app's release commits here: the newest, the hold and
// the rollbacks.
func history(cell *Cell, col *column) {
	entries := col.releases[cell.App]
	if len(entries) == 0 {
		return
	}
	landedAt := func(c gitrepo.Commit) time.Time { return col.landed(c).UTC() }
	h := entries[0]
	cell.Landed = &Landed{Action: string(h.Action), From: h.From, Actor: h.Actor, At: landedAt(h.Commit),
		Commit: h.Commit.SHA, CommitURL: commitURL(col.spec.Repo, h.Commit.SHA), Pipeline: h.Pipeline,
		Hotfix: h.Hotfix, Evidence: strings.Fields(h.Evidence)}
	if !h.Image.IsZero() {
		cell.Landed.Image = h.Image.String()
		if d := cell.Release.Digest; d != "" && h.Image.Digest != "" && d != h.Image.Digest {
			cell.Landed.Since = "the desired state names " + cell.Release.Digest + ", not what this commit landed"
		}
	}
	for _, e := range entries {
		if e.Action != release.ActionRollback {
			continue
		}
		cell.Rollbacks = append(cell.Rollbacks, Rollback{Commit: e.Commit.SHA, CommitURL: commitURL(col.spec.Repo, e.Commit.SHA),
			At: landedAt(e.Commit), Actor: e.Actor, Reason: e.Reason, Image: refString(e.Image), Reverts: e.Reverts, Held: e.Hold})
	}
	if h.Hold && len(cell.Rollbacks) > 0 && cell.Rollbacks[0].Commit == h.Commit.SHA {
		hold := cell.Rollbacks[0]
		cell.Hold = &hold
	}
}

// deployedAt is when app's release with digest landed here: its newest
// release commit when that landed this digest, else the newest change of
// the desired state, which may have redeployed it. It is what promote's
// sourceHistory finds, so that the board's smoke-tested gate asks what
// promote's would.
func (col *column) deployedAt(app, digest string) time.Time {
	var at time.Time
	if len(col.snap.Commits) > 0 {
		at = col.landed(col.snap.Commits[0])
	}
	if h := col.releases[app]; len(h) > 0 && h[0].Image.Digest == digest {
		at = col.landed(h[0].Commit)
	}
	return at
}

// landed is when c reached the branch: for a merge request, its merge.
func (col *column) landed(c gitrepo.Commit) time.Time {
	if t, ok := col.snap.Landed[c.SHA]; ok {
		return t
	}
	return c.Time
}

func refString(r release.Ref) string {
	if r.IsZero() {
		return ""
	}
	return r.String()
}

func orCommit(v config.LandVia) config.LandVia {
	if v == "" {
		return config.ViaCommit
	}
	return v
}

func envNames(envs []*config.Environment) []string {
	out := make([]string, len(envs))
	for i, e := range envs {
		out[i] = e.Name
	}
	return out
}
