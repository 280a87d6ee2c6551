package rollback

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/stepper-cd/stepper/internal/config"
	"github.com/stepper-cd/stepper/internal/desiredstate"
	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/gate"
	"github.com/stepper-cd/stepper/internal/gitlab"
	"github.com/stepper-cd/stepper/internal/gitrepo"
	"github.com/stepper-cd/stepper/internal/helm"
	"github.com/stepper-cd/stepper/internal/jenkins"
	"github.com/stepper-cd/stepper/internal/land"
	"github.com/stepper-cd/stepper/internal/logging"
	"github.com/stepper-cd/stepper/internal/release"
)

// States opens desired-state checkouts: internal/land.
type States interface {
	Open(ctx context.Context, url, branch string) (*gitrepo.Repo, func(), error)
}

// Registry resolves a tag to the digest it names: internal/registry.
type Registry interface {
	Resolve(ctx context.Context, ref string) (name.Digest, error)
}

// Releases rolls Helm releases back: internal/helm.
type Releases interface {
	History(ctx context.Context, cl helm.Cluster, name, namespace string) ([]*helm.ReleaseResult, error)
	Rollback(ctx context.Context, cl helm.Cluster, name, namespace string, toRevision int, o helm.RollbackOptions) (*helm.ReleaseResult, error)
}

// Step is rollback with the systems it uses; each may be nil when the
// run does not need it.
type Step struct {
	States   States
	Lander   land.Landing
	Gates    gate.Checks
	Registry Registry
	// Releases and Waiter roll back in the cluster (--apply).
	Releases Releases
	Waiter   helm.Waiter
	// Charts renders charts, to find migration Jobs and hooks.
	Charts Charts
	// Migrations runs down-migrations.
	Migrations DownMigrations
	// Jenkins runs the environment's job on the jenkins route.
	Jenkins land.Jobs
	Console io.Writer
}

// Job is one rollback.
type Job struct {
	Options
	Config  *config.Config
	Env     *config.Environment
	Started time.Time
	// Actor and PipelineURL say who rolls back from where; Owner and
	// OwnerURL are recorded on Helm revisions, as deploy does.
	Actor, PipelineURL string
	Owner, OwnerURL    string
	// InJob says this run is the environment's Jenkins job itself.
	InJob  bool
	DryRun bool
}

// Outcome is what a rollback did.
type Outcome struct {
	Env    string      `json:"env"`
	App    string      `json:"app"`
	From   release.Ref `json:"from"`
	To     release.Ref `json:"to"`
	Chart  string      `json:"chartVersion,omitempty"`
	Reason string      `json:"reason"`
	// Reverts is the desired-state commit undone, or the release commit
	// returned to.
	Reverts string          `json:"reverts,omitempty"`
	Hold    bool            `json:"hold"`
	Landing release.Landing `json:"landing"`
	Diff    string          `json:"diff,omitempty"`
	// Helm is the revision the cluster's rollback wrote, with --apply.
	Helm *HelmRevision `json:"helm,omitempty"`
	// Migrations is what was found about migrations, and what ran.
	Migrations *Migration     `json:"migrations,omitempty"`
	Gates      []gate.Result  `json:"gates,omitempty"`
	History    []Candidate    `json:"history,omitempty"`
	Build      *jenkins.Build `json:"jenkinsBuild,omitempty"`
	DryRun     bool           `json:"dryRun,omitempty"`
}

// HelmRevision is the revision an --apply rollback wrote, as the result
// file records it: never the revision's manifest, hooks or values, which
// hold what the chart rendered, secrets included.
type HelmRevision struct {
	Release      string    `json:"release"`
	Namespace    string    `json:"namespace"`
	Revision     int       `json:"revision"`
	RolledBackTo int       `json:"rolledBackTo"`
	Status       string    `json:"status"`
	Chart        string    `json:"chart,omitempty"`
	ApplyMethod  string    `json:"applyMethod,omitempty"`
	Recovered    string    `json:"recovered,omitempty"`
	Updated      time.Time `json:"updated"`
}

func revisionOf(r *helm.ReleaseResult) *HelmRevision {
	if r == nil {
		return nil
	}
	return &HelmRevision{
		Release: r.Release, Namespace: r.Namespace, Revision: r.Revision, RolledBackTo: r.RolledBackTo, Status: r.Status,
		Chart: r.Chart, ApplyMethod: r.ApplyMethod, Recovered: r.Recovered, Updated: r.Updated,
	}
}

// Run rolls back: in the cluster with --apply, else by a reverse change of
// the desired state; with --history it only lists the candidates.
func (s *Step) Run(ctx context.Context, job Job) (*Outcome, error) {
	if job.Apply {
		return s.apply(ctx, job)
	}
	return s.gitops(ctx, job)
}

// plan is a GitOps rollback worked out: what runs now, what it returns to,
// and how to edit the desired state to get there.
type plan struct {
	current desiredstate.App
	target  desiredstate.App
	img     release.Ref
	// head is the app's newest release commit when the rollback was
	// planned; the landing refuses if another has landed since.
	head string
	// reverts names the commit undone (or returned to).
	reverts string
	edit    func(doc desiredstate.Document) (bool, error)
	cleanup func()
}

// gitops writes the reverse change for one app and lands it by the
// environment's route, held.
func (s *Step) gitops(ctx context.Context, job Job) (*Outcome, error) {
	env := job.Env
	out := &Outcome{Env: env.Name, App: job.App, Reason: job.Reason, Hold: true, DryRun: job.DryRun}
	ds := env.DesiredState
	if ds.Repo == "" || ds.Path == "" {
		return out, exit.Usagef("environment %s: set desiredState.repo and desiredState.path", env.Name)
	}
	spec := land.SpecOf(job.Config, env)
	p, hist, err := s.read(ctx, job, spec)
	if p != nil && p.cleanup != nil {
		defer p.cleanup()
	}
	if err != nil {
		return out, err
	}
	if job.History {
		out.History = candidates(hist)
		return out, nil
	}
	out.From, out.To, out.Chart, out.Reverts = imageOf(p.current.Image), p.img, p.target.ChartVersion, p.reverts
	if err := s.safe(ctx, job, p, out); err != nil {
		return out, err
	}
	if out.Migrations, err = s.migrations(ctx, job, p.current, p.target, out.From, out.To); err != nil {
		return out, err
	}
	return out, s.land(ctx, job, spec, p, out)
}

// read reads the app's release history from the cached checkout and,
// unless --history only lists it, plans the rollback. It releases the
// checkout before it returns: the landing opens the same cached checkout,
// and while this run still held it the lander had to clone afresh and
// deepen that clone for its guard's history.
func (s *Step) read(ctx context.Context, job Job, spec land.Spec) (*plan, []release.Entry, error) {
	repo, done, err := s.States.Open(ctx, spec.Repo, spec.Branch)
	if err != nil {
		return nil, nil, err
	}
	defer done()
	commits, err := repo.Log(ctx, spec.Path, max(job.Depth, 1))
	if err != nil {
		return nil, nil, err
	}
	hist := release.History(commits, spec.Env, job.App)
	if job.History {
		return nil, hist, nil
	}
	p, err := s.plan(ctx, job, repo, spec, commits, hist)
	return p, hist, err
}

// plan picks the release to return to and the edit that gets there:
// --to-commit undoes that commit for the app; --to restores the state of
// an earlier release commit; by default the app's newest release commit is
// undone.
func (s *Step) plan(ctx context.Context, job Job, repo *gitrepo.Repo, spec land.Spec, commits []gitrepo.Commit, hist []release.Entry) (*plan, error) {
	app, env := job.App, job.Env.Name
	cur, err := spec.Load(repo.Dir())
	if err != nil {
		return nil, err
	}
	curApp, err := cur.App(app)
	if err != nil {
		return nil, exit.Mark(exit.Usage, fmt.Errorf("rollback %s in %s: %w", app, env, err))
	}
	p := &plan{current: curApp}
	if len(hist) > 0 {
		p.head = hist[0].Commit.SHA
	}
	tmp, err := os.MkdirTemp("", "stepper-rollback-")
	if err != nil {
		return nil, err
	}
	p.cleanup = func() { os.RemoveAll(tmp) }
	at := func(rev, dir string) (desiredstate.Document, error) {
		d := tmp + "/" + dir
		if err := os.Mkdir(d, 0o700); err != nil {
			return nil, err
		}
		if err := repo.Export(ctx, rev, d); err != nil {
			return nil, err
		}
		return spec.Load(d)
	}
	keys := spec.Keys
	switch {
	case job.To != "":
		e, ok := findRelease(hist, job.To, curApp.Image)
		if !ok {
			return p, exit.Failedf("rollback %s in %s: no earlier release matching %q in the newest %d desired-state commits; list them with --history", app, env, job.To, len(commits))
		}
		doc, err := at(e.Commit.SHA, "at")
		if err != nil {
			return p, err
		}
		if p.target, err = doc.App(app); err != nil {
			return p, exit.Mark(exit.Usage, fmt.Errorf("rollback %s to %s: %w", app, short(e.Commit.SHA), err))
		}
		p.img, p.reverts = e.Image, e.Commit.SHA
		p.edit = func(d desiredstate.Document) (bool, error) { return desiredstate.CopyRelease(doc, d, app, keys) }
	default:
		undo := ""
		switch {
		case job.ToCommit != "":
			c, ok := findCommit(commits, job.ToCommit)
			if !ok {
				return p, exit.Usagef("rollback %s in %s: commit %s is not among the newest %d commits that change %s; raise --depth or check the SHA", app, env, job.ToCommit, len(commits), spec.Path)
			}
			undo = c.SHA
		case len(hist) == 0:
			return p, exit.Failedf("rollback %s in %s: its desired-state history (the newest %d commits) holds no release of it by stepper; give --to-commit SHA to undo a commit by hand", app, env, len(commits))
		default:
			if d := curApp.Image.Digest; d != "" && hist[0].Image.Digest != "" && d != hist[0].Image.Digest {
				return p, exit.Failedf("rollback %s in %s: the desired state names %s, but its newest release commit %s landed %s: it was changed by hand since; give --to-commit or --to", app, env, curApp.Image, short(hist[0].Commit.SHA), hist[0].Image)
			}
			undo = hist[0].Commit.SHA
		}
		after, err := at(undo, "after")
		if err != nil {
			return p, err
		}
		before, err := at(undo+"^", "before")
		if err != nil {
			return p, exit.Usagef("rollback %s in %s: commit %s has no parent in the checkout to return to: %v", app, env, short(undo), err)
		}
		if p.target, err = before.App(app); err != nil {
			return p, exit.Failedf("rollback %s in %s: commit %s added the app; there is no earlier release of it to return to", app, env, short(undo))
		}
		p.img, p.reverts = imageOf(p.target.Image), undo
		if older, ok := olderRelease(hist, undo); ok && p.img.Digest == "" && sameTag(older.Image, p.img) {
			p.img = older.Image // the trailers pin what the file names only by tag
		}
		p.edit = func(d desiredstate.Document) (bool, error) { return desiredstate.Revert(d, before, after, app) }
	}
	if p.img.Digest == "" {
		if err := s.pin(ctx, p); err != nil {
			return p, err
		}
	}
	if p.img.Digest == imageOf(curApp.Image).Digest && p.img.Digest != "" && p.target.ChartVersion == curApp.ChartVersion {
		return p, exit.Failedf("rollback %s in %s: %s is what runs already; name an older release with --to (see --history)", app, env, p.img)
	}
	return p, nil
}

// pin resolves the target's tag to a digest.
func (s *Step) pin(ctx context.Context, p *plan) error {
	if p.img.Tag == "" || s.Registry == nil {
		return exit.Failedf("the release to return to names %s without a digest or tag; give --to DIGEST", p.img)
	}
	d, err := s.Registry.Resolve(ctx, p.img.String())
	if err != nil {
		if exit.ClassOf(err) == exit.Infra {
			return err
		}
		return exit.Failedf("rollback refused: the release to return to, %s, no longer resolves in the registry: %v", p.img, err)
	}
	p.img.Digest = d.DigestStr()
	return nil
}

// safe refuses a target that cannot be installed again: its digest must
// still be in the registry and signed by an approved key, and its chart
// version still in its repository.
func (s *Step) safe(ctx context.Context, job Job, p *plan, out *Outcome) error {
	if s.Gates == nil {
		return exit.Usagef("rollback checks the release it returns to against the approved keys: set signing.publicKeys")
	}
	results, err := s.Gates.Check(ctx, gate.Want{
		Release: gate.Release{App: job.App, Image: p.img, ChartRepo: p.target.Chart.RepoURL, Chart: p.target.Chart.Name, ChartVersion: p.target.ChartVersion},
		Env:     job.Env.Name, Only: []config.Gate{config.GateSigned, config.GateRollback},
	})
	out.Gates = results
	if err != nil {
		return err
	}
	return gate.Refusal(fmt.Sprintf("rollback %s in %s to %s", job.App, job.Env.Name, p.img.ShortDigest()), results)
}

// land writes the reverse change, holds the app there, and lands it by the
// environment's route. The tag route (image automation) rolls back by a
// commit too: the HelmRelease gets the older tag with its setter held.
func (s *Step) land(ctx context.Context, job Job, spec land.Spec, p *plan, out *Outcome) error {
	env := job.Env
	route := land.Route{Via: land.ViaCommit}
	switch env.Land.Via {
	case config.ViaMergeRequest:
		route = land.Route{Via: land.ViaMergeRequest, SourceBranch: env.Land.SourceBranch, TargetBranch: env.Land.TargetBranch}
		project, err := gitlab.ProjectFromRepoURL(env.DesiredState.Repo)
		if err != nil {
			return exit.Mark(exit.Usage, err)
		}
		route.Project = project
	case config.ViaJenkins:
		if !job.InJob {
			return s.viaJenkins(ctx, job, p, out)
		}
	}
	img := p.img
	trailers := release.Trailers{
		Action: release.ActionRollback, App: job.App, Env: env.Name, Image: img, ChartVersion: p.target.ChartVersion,
		Started: job.Started, Hold: true, Reverts: p.reverts, Reason: job.Reason, Pipeline: job.PipelineURL, Actor: job.Actor,
	}
	subject := fmt.Sprintf("rollback %s in %s to %s: %s", job.App, env.Name, img.ShortDigest(), firstLine(job.Reason))
	ch := land.Change{
		App: job.App, Trailers: trailers,
		Edit: func(doc desiredstate.Document) (bool, error) {
			changed, err := p.edit(doc)
			if err != nil {
				return false, err
			}
			pinned, err := doc.SetImage(job.App, desiredstate.Image{Repository: img.Repository, Tag: img.Tag, Digest: img.Digest})
			if err != nil {
				return false, err
			}
			held, err := desiredstate.HoldImage(doc, job.App)
			if err != nil {
				return false, err
			}
			return changed || pinned || held, nil
		},
		Check: land.ReadsBack(job.App, img),
		Guard: func(history []release.Entry) error {
			if len(history) > 0 && p.head != "" && history[0].Commit.SHA != p.head {
				return exit.Failedf("rollback %s in %s refused: a newer release, %s, landed in %s since this rollback read the history; look again (--history) and roll back from there",
					job.App, env.Name, history[0].Image, short(history[0].Commit.SHA))
			}
			return nil
		},
		Subject:     subject,
		Body:        job.Reason,
		Branch:      fmt.Sprintf("stepper/%s/rollback-%s-%s", env.Name, job.App, img.ShortDigest()),
		Title:       subject,
		Description: describe(job, p, out),
		Labels:      append([]string{"stepper", "rollback", "env::" + env.Name}, env.Land.Labels...),
		Reviewers:   env.Land.Reviewers,
		DryRun:      job.DryRun,
	}
	landed, err := s.Lander.Land(ctx, spec, route, ch)
	if landed != nil {
		out.Landing, out.Diff = landed.Landing, landed.Diff
	}
	if err == nil && !job.DryRun {
		logging.From(ctx).Info().Str(logging.Env, env.Name).Str(logging.App, job.App).Str(logging.Image, img.String()).
			Msg("rolled back in the desired state and held there: automation will not move it forward until a release is promoted or deployed with --release-hold")
	}
	return err
}

// The parameters the environment's Jenkins job gets for a rollback.
const (
	ParamAction = "ACTION"
	ParamApp    = "APP"
	ParamEnv    = "TO"
	ParamTo     = "DIGEST"
	ParamReason = "REASON"
)

// viaJenkins runs the environment's Jenkins job with a rollback request;
// the job runs stepper rollback itself and commits.
func (s *Step) viaJenkins(ctx context.Context, job Job, p *plan, out *Outcome) error {
	env := job.Env
	out.Landing = release.Landing{Via: land.ViaJenkins, Branch: env.DesiredState.Branch}
	if job.DryRun {
		logging.From(ctx).Info().Str("job", env.Land.Job).Msg("dry run: the job is not triggered")
		return nil
	}
	if s.Jenkins == nil {
		return exit.Usagef("environment %s takes changes through the Jenkins job %s: set jenkins.url, jenkins.user and jenkins.token", env.Name, env.Land.Job)
	}
	params := map[string]string{}
	for k, v := range env.Land.Parameters {
		params[k] = v
	}
	params[ParamAction], params[ParamApp], params[ParamEnv], params[ParamTo], params[ParamReason] = "rollback", job.App, env.Name, p.img.Digest, job.Reason
	build, err := land.RunJob(ctx, s.Jenkins, env.Land.Job, params, s.Console)
	out.Build = build
	return err
}

// describe is the merge request's description of the rollback.
func describe(job Job, p *plan, out *Outcome) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Rolls **%s** in **%s** back from `%s` to `%s` and holds it there.\n\n", job.App, job.Env.Name, out.From, p.img)
	fmt.Fprintf(&b, "Reason: %s\n\n", job.Reason)
	if p.reverts != "" {
		fmt.Fprintf(&b, "Undoes: %s\n\n", short(p.reverts))
	}
	for _, g := range out.Gates {
		fmt.Fprintf(&b, "- %s: %s\n", g.Gate, g.Found)
	}
	if m := out.Migrations; m != nil && m.Found {
		fmt.Fprintf(&b, "- migrations: %s; down-migration: %s\n", strings.Join(m.Why, "; "), m.Ran)
	}
	b.WriteString("\n_Opened by stepper._\n")
	return b.String()
}

func imageOf(i desiredstate.Image) release.Ref {
	return release.Ref{Repository: i.Repository, Tag: i.Tag, Digest: i.Digest}
}

func sameTag(a, b release.Ref) bool { return a.Repository == b.Repository && a.Tag == b.Tag }

func short(sha string) string { return sha[:min(12, len(sha))] }

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// findCommit finds the commit whose SHA starts with sha.
func findCommit(commits []gitrepo.Commit, sha string) (gitrepo.Commit, bool) {
	for _, c := range commits {
		if strings.HasPrefix(c.SHA, sha) {
			return c, true
		}
	}
	return gitrepo.Commit{}, false
}

// findRelease is the newest release of hist that to names (a digest, an
// image tag or a chart version) and that is not what runs now.
func findRelease(hist []release.Entry, to string, current desiredstate.Image) (release.Entry, bool) {
	for _, e := range hist {
		if e.Image.Digest == current.Digest && current.Digest != "" {
			continue
		}
		if e.Image.Digest == to || (strings.HasPrefix(to, "sha256:") && strings.HasPrefix(e.Image.Digest, to) && len(to) >= 19) ||
			e.Image.Tag == to || e.ChartVersion == to {
			return e, true
		}
	}
	return release.Entry{}, false
}

// olderRelease is the release commit of hist just before sha.
func olderRelease(hist []release.Entry, sha string) (release.Entry, bool) {
	for i, e := range hist {
		if e.Commit.SHA == sha && i+1 < len(hist) {
			return hist[i+1], true
		}
	}
	return release.Entry{}, false
}
