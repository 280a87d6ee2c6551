package promote_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/rs/zerolog"

	"github.com/stepper-cd/stepper/internal/config"
	"github.com/stepper-cd/stepper/internal/desiredstate"
	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/gate"
	"github.com/stepper-cd/stepper/internal/gitlab"
	"github.com/stepper-cd/stepper/internal/gitrepo"
	"github.com/stepper-cd/stepper/internal/jenkins"
	"github.com/stepper-cd/stepper/internal/land"
	"github.com/stepper-cd/stepper/internal/release"
	"github.com/stepper-cd/stepper/steps/promote"
)

// Promotion staging → prod of a vendor's apps. staging runs api at A,
// web at C (which prod runs too), batch at D and worker at E (which prod
// does not have); prod runs api at B and batch at F.

func digest(c byte) string { return "sha256:" + strings.Repeat(string(c), 64) }

const (
	repoAPI   = "registry.example/vendor/api"
	stateRepo = "https://gitlab.example/vendor-x/desired-state.git"
	pipeline  = "https://gitlab.example/vendor-x/api/-/pipelines/42"
	buildURL  = "https://jenkins.example/job/promote-prod/7/"
)

var (
	digestA, digestB, digestC = digest('a'), digest('b'), digest('c')
	digestD, digestE, digestF = digest('d'), digest('e'), digest('f')
	digestG                   = digest('9')
	// started is when the promotion run started.
	started = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
)

func app(name, tag, dig, chartVersion string) string {
	return fmt.Sprintf(`  %s:
    namespace: vendor
    enabled: true
    chart: ehealth/service
    version: "%s"
    set:
      image.repository: registry.example/vendor/%s
      image.tag: "%s"
      image.digest: "%s"
      replicaCount: 2
`, name, chartVersion, name, tag, dig)
}

const header = "namespaces:\n  vendor: {}\nhelmRepos:\n  ehealth: https://charts.example\napps:\n"

var (
	stagingDSF = header + app("api", "stag-abc", digestA, "1.2.0") + app("web", "stag-w1", digestC, "1.0.0") +
		app("batch", "stag-b2", digestD, "1.0.0") + app("worker", "stag-k1", digestE, "1.0.0")
	prodDSF = header + app("api", "master-old", digestB, "1.1.0") + app("web", "master-w1", digestC, "1.0.0") +
		app("batch", "master-b1", digestF, "1.0.0")
)

func openDoc(t *testing.T, env, src string, keys desiredstate.Keys) desiredstate.Document {
	t.Helper()
	doc, err := desiredstate.Open(desiredstate.HelmsmanYAML, map[string][]byte{env + ".yaml": []byte(src)}, desiredstate.WithKeys(keys))
	if err != nil {
		t.Fatalf("open the desired state of %s: %v", env, err)
	}
	return doc
}

// fakeStates reads each environment's desired state from docs and gives
// history's checkout as every desired-state checkout.
type fakeStates struct {
	t       *testing.T
	docs    map[string]string
	history func() (*gitrepo.Repo, error)
	reads   []string
	opens   []string
}

func (f *fakeStates) Read(_ context.Context, s land.Spec, local string) (*land.State, error) {
	f.reads = append(f.reads, s.Env)
	src, ok := f.docs[s.Env]
	if !ok {
		return nil, fmt.Errorf("no desired state for %s", s.Env)
	}
	return &land.State{Doc: openDoc(f.t, s.Env, src, s.Keys)}, nil
}

func (f *fakeStates) Open(_ context.Context, url, branch string) (*gitrepo.Repo, func(), error) {
	f.opens = append(f.opens, url+"#"+branch)
	r, err := f.history()
	return r, func() {}, err
}

// Snapshot is the environment's inline document with the local history
// repository's commits that change its path.
func (f *fakeStates) Snapshot(ctx context.Context, s land.Spec, depth int) (*land.Snapshot, error) {
	if s.Repo == "" {
		return nil, exit.Usagef("environment %s has no desiredState.repo: set it", s.Env)
	}
	f.opens = append(f.opens, s.Repo+"#"+s.Branch)
	f.reads = append(f.reads, s.Env)
	src, ok := f.docs[s.Env]
	if !ok {
		return nil, fmt.Errorf("no desired state for %s", s.Env)
	}
	r, err := f.history()
	if err != nil {
		return nil, err
	}
	commits, err := r.Log(ctx, s.Path, depth)
	if err != nil {
		return nil, err
	}
	return &land.Snapshot{Doc: openDoc(f.t, s.Env, src, s.Keys), Commits: commits, Head: r.Head()}, nil
}

// history is a local git repository of desired-state commits; fatal
// reports a git failure.
type history struct {
	dir   string
	n     int
	fatal func(error)
}

func (h *history) git(at time.Time, stdin string, args ...string) {
	cmd := exec.Command("git", args...)
	cmd.Dir = h.dir
	// Nothing of the caller's git (GIT_DIR in a hook, its config) reaches
	// these commands.
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "GIT_") })
	cmd.Env = append(env, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull, "HOME="+h.dir,
		"GIT_AUTHOR_NAME=stepper", "GIT_AUTHOR_EMAIL=stepper@localhost", "GIT_COMMITTER_NAME=stepper", "GIT_COMMITTER_EMAIL=stepper@localhost")
	if !at.IsZero() {
		date := fmt.Sprintf("@%d +0000", at.Unix())
		cmd.Env = append(cmd.Env, "GIT_AUTHOR_DATE="+date, "GIT_COMMITTER_DATE="+date)
	}
	cmd.Stdin = strings.NewReader(stdin)
	if out, err := cmd.CombinedOutput(); err != nil {
		h.fatal(fmt.Errorf("git %v: %w\n%s", args, err, out))
	}
}

// commit changes path at time at, with the trailers of releases (none for
// a change by hand).
func (h *history) commit(at time.Time, path, subject string, releases ...release.Trailers) {
	h.n++
	full := filepath.Join(h.dir, filepath.FromSlash(path))
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		h.fatal(err)
	}
	if err := os.WriteFile(full, fmt.Appendf(nil, "revision %d\n", h.n), 0o644); err != nil {
		h.fatal(err)
	}
	msg := subject + "\n"
	if list := release.ListAll(releases); len(list) > 0 {
		msg += "\n"
		for _, tr := range list {
			msg += tr.Key + ": " + tr.Value + "\n"
		}
	}
	h.git(time.Time{}, "", "add", "--", path)
	h.git(at, msg, "commit", "--quiet", "--file", "-")
}

// recordingLander records each change and, as land does, asks its guard
// about history, applies its edit to the target's desired state and checks
// what it wrote.
type recordingLander struct {
	t       *testing.T
	states  *fakeStates
	history []release.Entry
	landed  land.Landed
	err     error
	calls   []landCall
	// edited is the target's desired state after the last edit.
	edited desiredstate.Document
}

type landCall struct {
	spec   land.Spec
	route  land.Route
	change land.Change
}

func (l *recordingLander) Land(_ context.Context, s land.Spec, r land.Route, ch land.Change) (*land.Landed, error) {
	l.calls = append(l.calls, landCall{s, r, ch})
	if ch.Guard != nil {
		if err := ch.Guard(l.history); err != nil {
			return nil, err
		}
	}
	doc := openDoc(l.t, s.Env, l.states.docs[s.Env], s.Keys)
	if _, err := ch.Edit(doc); err != nil {
		return nil, err
	}
	if ch.Check != nil {
		if err := ch.Check(doc); err != nil {
			return nil, err
		}
	}
	l.edited = doc
	out := l.landed
	out.Via = r.Via
	return &out, l.err
}

// fakeGates passes every gate that is on, but those fail names per app,
// and records what it was asked.
type fakeGates struct {
	wants []gate.Want
	fail  map[string]config.Gate
	err   error
}

func (f *fakeGates) Check(_ context.Context, w gate.Want) ([]gate.Result, error) {
	f.wants = append(f.wants, w)
	if f.err != nil {
		return nil, f.err
	}
	var out []gate.Result
	for _, g := range []config.Gate{config.GateSigned, config.GateValidated, config.GateSmokeTested, config.GateRollback} {
		if !w.Gates.On(g) {
			out = append(out, gate.Result{Gate: g, App: w.App, Off: true, Wanted: "nothing: switched off in " + w.Env})
			continue
		}
		r := gate.Result{Gate: g, App: w.App, Passed: true, Wanted: string(g) + " evidence", Found: string(g) + " ok"}
		if g != config.GateRollback {
			r.Evidence = string(g) + "-" + w.App
		}
		if f.fail[w.App] == g {
			r.Passed, r.Found, r.Evidence = false, "no attestation", ""
		}
		out = append(out, r)
	}
	return out, nil
}

// fakeRegistry resolves tags from a table (another tag is unknown, class
// Failed, as the registry client classifies it) and records tags pushed.
type fakeRegistry struct {
	resolve    map[string]string // ref → digest
	resolveErr error
	tags       []string // "repo@digest tag retag=bool"
	tagErr     error
}

func (f *fakeRegistry) Resolve(_ context.Context, ref string) (name.Digest, error) {
	if f.resolveErr != nil {
		return name.Digest{}, f.resolveErr
	}
	d, ok := f.resolve[ref]
	if !ok {
		return name.Digest{}, exit.Failedf("resolve %s: MANIFEST_UNKNOWN: manifest unknown", ref)
	}
	r, _, _ := strings.Cut(ref, ":")
	return name.NewDigest(r + "@" + d)
}

func (f *fakeRegistry) Tag(_ context.Context, ref name.Digest, tags []string, allowRetag bool) error {
	f.tags = append(f.tags, fmt.Sprintf("%s %s retag=%v", ref, strings.Join(tags, ","), allowRetag))
	return f.tagErr
}

// fakeJenkins queues, starts and finishes the promotion job with result.
type fakeJenkins struct {
	result       string
	followErr    error
	triggers     []map[string]string
	jobs         []string
	descriptions []string
}

func (f *fakeJenkins) Trigger(_ context.Context, job string, params map[string]string) (string, error) {
	f.jobs = append(f.jobs, job)
	f.triggers = append(f.triggers, params)
	return "https://jenkins.example/queue/item/3/", nil
}

func (f *fakeJenkins) WaitStart(_ context.Context, queueURL string) (*jenkins.Build, error) {
	return &jenkins.Build{Number: 7, URL: buildURL, Building: true}, nil
}

func (f *fakeJenkins) Follow(_ context.Context, url string, w io.Writer) (*jenkins.Build, error) {
	fmt.Fprintln(w, "stepper promote --from staging --to prod")
	return &jenkins.Build{Number: 7, URL: url, Result: f.result}, f.followErr
}

func (f *fakeJenkins) SetDescription(_ context.Context, url, text string) error {
	f.descriptions = append(f.descriptions, url+"\n"+text)
	return nil
}

// fakeIdentity is who runs the job and the members of groups.
type fakeIdentity struct {
	user, source string
	err          error
	groups       map[string][]string
	groupErr     error
	asked        []string
}

func (f *fakeIdentity) Who(context.Context) (string, string, error) {
	return f.user, f.source, f.err
}

func (f *fakeIdentity) InGroup(_ context.Context, group, user string) (bool, error) {
	f.asked = append(f.asked, group+"/"+user)
	if f.groupErr != nil {
		return false, f.groupErr
	}
	for _, m := range f.groups[group] {
		if m == user {
			return true, nil
		}
	}
	return false, nil
}

// fakeMRs answers WaitMergeRequest with state.
type fakeMRs struct {
	state string
	asked []string
}

func (f *fakeMRs) WaitMergeRequest(ctx context.Context, project string, iid int, _ time.Duration) (*gitlab.MR, error) {
	f.asked = append(f.asked, fmt.Sprintf("%s!%d", project, iid))
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return &gitlab.MR{IID: iid, State: f.state, WebURL: fmt.Sprintf("https://gitlab.example/%s/-/merge_requests/%d", project, iid)}, nil
}

type fixture struct {
	t        *testing.T
	states   *fakeStates
	lander   *recordingLander
	gates    *fakeGates
	registry *fakeRegistry
	jenkins  *fakeJenkins
	identity *fakeIdentity
	mrs      *fakeMRs
	console  bytes.Buffer
	logs     bytes.Buffer
	job      promote.Job
}

// seedHistory is a checkout of staging's and prod's history, made once
// and only read (promote only logs it): api landed in staging 100h before
// the run started, batch 50h before, a change by hand 30h before; api
// landed in prod 20h before.
var seedHistory = sync.OnceValues(func() (*gitrepo.Repo, error) {
	dir, err := os.MkdirTemp("", "stepper-promote-history-")
	if err != nil {
		return nil, err
	}
	seedDir = dir
	var failed error
	h := &history{dir: filepath.Join(dir, "origin"), fatal: func(err error) {
		if failed == nil {
			failed = err
		}
	}}
	if err := os.Mkdir(h.dir, 0o700); err != nil {
		return nil, err
	}
	h.seed()
	if failed != nil {
		return nil, failed
	}
	return h.open(context.Background(), filepath.Join(dir, "checkout"))
})

var seedDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if seedDir != "" {
		os.RemoveAll(seedDir)
	}
	os.Exit(code)
}

// open checks h out into dir, as land.Checkouts would.
func (h *history) open(ctx context.Context, dir string) (*gitrepo.Repo, error) {
	return gitrepo.Open(ctx, h.dir, "master", dir, gitrepo.Options{})
}

func (h *history) seed() {
	h.git(time.Time{}, "", "init", "--quiet", "--initial-branch=master")
	h.commit(started.Add(-100*time.Hour), "staging/dsf.yaml", "deploy api to staging",
		release.Trailers{Action: release.ActionDeploy, App: "api", Env: "staging", Image: release.Ref{Repository: repoAPI, Tag: "stag-abc", Digest: digestA}, Started: started.Add(-100 * time.Hour)})
	h.commit(started.Add(-50*time.Hour), "staging/dsf.yaml", "deploy batch to staging",
		release.Trailers{Action: release.ActionDeploy, App: "batch", Env: "staging", Image: release.Ref{Repository: "registry.example/vendor/batch", Tag: "stag-b2", Digest: digestD}, Started: started.Add(-50 * time.Hour)})
	h.commit(started.Add(-30*time.Hour), "staging/dsf.yaml", "raise replicas by hand")
	h.commit(started.Add(-20*time.Hour), "prod/dsf.yaml", "deploy api to prod",
		release.Trailers{Action: release.ActionDeploy, App: "api", Env: "prod", Image: release.Ref{Repository: repoAPI, Tag: "master-old", Digest: digestB}, Started: started.Add(-20 * time.Hour)})
}

// ownHistory gives f a history of its own, seeded as seedHistory, for a
// test that adds commits; each Open checks it out afresh.
func (f *fixture) ownHistory() *history {
	f.t.Helper()
	h := &history{dir: f.t.TempDir(), fatal: func(err error) { f.t.Helper(); f.t.Fatal(err) }}
	h.seed()
	f.states.history = func() (*gitrepo.Repo, error) { return h.open(f.t.Context(), filepath.Join(f.t.TempDir(), "checkout")) }
	return h
}

// newFixture promotes api from staging to prod by commit, as maria, who
// may, over seedHistory.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	states := &fakeStates{t: t, docs: map[string]string{"staging": stagingDSF, "prod": prodDSF}, history: seedHistory}
	f := &fixture{
		t: t, states: states,
		lander:   &recordingLander{t: t, states: states, landed: land.Landed{Landing: release.Landing{Branch: "master", Commit: strings.Repeat("c", 40)}, Diff: "-old\n+new"}},
		gates:    &fakeGates{},
		registry: &fakeRegistry{resolve: map[string]string{}},
		jenkins:  &fakeJenkins{result: "SUCCESS"},
		identity: &fakeIdentity{user: "maria", source: "GitLab job token", groups: map[string][]string{"sre": {"maria"}}},
		mrs:      &fakeMRs{state: "merged"},
	}
	staging := &config.Environment{
		Name:         "staging",
		DesiredState: config.DesiredState{Repo: stateRepo, Branch: "master", Path: "staging/dsf.yaml"},
		TagPrefix:    "stag-",
	}
	prod := &config.Environment{
		Name:         "prod",
		DesiredState: config.DesiredState{Repo: stateRepo, Branch: "master", Path: "prod/dsf.yaml"},
		Promoters:    []string{"user:maria"},
		Gates:        config.Gates{MaxAge: "168h", Soak: "24h"},
	}
	f.job = promote.Job{
		Options: promote.Options{App: "api", From: "staging", To: "prod", Depth: 200, WaitTimeout: time.Hour},
		Config:  &config.Config{}, From: staging, To: prod, Chain: "vendor",
		Started: started, PipelineURL: pipeline,
	}
	return f
}

func (f *fixture) step() *promote.Step {
	return &promote.Step{
		States: f.states, Lander: f.lander, Gates: f.gates, Registry: f.registry, Jenkins: f.jenkins,
		Identity: f.identity, MRs: f.mrs, Console: &f.console, WaitInterval: time.Millisecond,
	}
}

func (f *fixture) run() (*promote.Outcome, error) {
	f.t.Helper()
	ctx := zerolog.New(&f.logs).WithContext(f.t.Context())
	return f.step().Run(ctx, f.job)
}

// landed is the one change landed.
func (f *fixture) landed() landCall {
	f.t.Helper()
	if len(f.lander.calls) != 1 {
		f.t.Fatalf("%d changes landed, want 1", len(f.lander.calls))
	}
	return f.lander.calls[0]
}

// nothingMoved asserts that no route wrote anything anywhere.
func (f *fixture) nothingMoved() {
	f.t.Helper()
	if n := len(f.lander.calls); n != 0 {
		f.t.Errorf("%d changes landed", n)
	}
	if n := len(f.registry.tags); n != 0 {
		f.t.Errorf("tags pushed: %v", f.registry.tags)
	}
	if n := len(f.jenkins.triggers); n != 0 {
		f.t.Errorf("jenkins triggered: %v", f.jenkins.triggers)
	}
}

// appIn is app as the document holds it.
func appIn(t *testing.T, doc desiredstate.Document, name string) desiredstate.App {
	t.Helper()
	a, err := doc.App(name)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
