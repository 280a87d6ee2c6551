package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/stepper-cd/stepper/internal/config"
	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/gate"
	"github.com/stepper-cd/stepper/internal/gitrepo"
	"github.com/stepper-cd/stepper/internal/land"
	"github.com/stepper-cd/stepper/internal/release"
	"github.com/stepper-cd/stepper/internal/signing"
	"github.com/stepper-cd/stepper/steps/status"
)

// The board's golden files come from a fixed world: a dev → qa → prod
// chain read at a fixed time, desired states and their history in memory,
// and a registry that answers from a table. The tests through the binary
// (status_browser_test.go) run the same step against the real registry,
// git server and cluster.

var boardNow = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

const boardRegistry = "registry.example/vendor-x"

func boardDigest(c byte) string { return "sha256:" + strings.Repeat(string(c), 64) }

var (
	// patient-api: A runs in dev, B in qa, C in prod (rolled back to).
	digestA, digestB, digestC = boardDigest('a'), boardDigest('b'), boardDigest('c')
	// billing-api: D is what dev's tag names, E what prod runs (gone).
	digestD, digestE = boardDigest('d'), boardDigest('e')
	// web: F runs in dev and qa.
	digestF = boardDigest('f')
)

const boardConfig = `
registry: {host: registry.example, project: vendor-x}
chain: main
chains: {main: [dev, qa, prod]}
environments:
  - name: dev
    desiredState: {repo: "https://deploy:` + canary + `@gitlab.example/vendor-x/desired-state.git", branch: master, path: dev/dsf.yaml, format: helmsman}
    land: {via: commit}
  - name: qa
    desiredState: {repo: "https://gitlab.example/vendor-x/desired-state.git", branch: master, path: qa/dsf.yaml, format: helmsman}
    land: {via: commit}
  - name: prod
    desiredState: {repo: "https://gitlab.example/vendor-x/desired-state.git", branch: prod, path: prod/dsf.yaml, format: helmsman}
    land: {via: merge-request, sourceBranch: master, targetBranch: prod}
    gates: {soak: 24h, maxAge: 168h}
`

func boardApp(name, tag, digest, chart string) string {
	s := fmt.Sprintf("  %s:\n    namespace: vendor\n    enabled: true\n    chart: charts/service\n    version: %q\n    set:\n", name, chart)
	if tag != "" || digest != "" {
		s += "      image.repository: " + boardRegistry + "/" + name + "\n"
	}
	if tag != "" {
		s += fmt.Sprintf("      image.tag: %q\n", tag)
	}
	if digest != "" {
		s += fmt.Sprintf("      image.digest: %q\n", digest)
	}
	return s + "      replicaCount: 2\n"
}

const boardHeader = "namespaces:\n  vendor: {}\nhelmRepos:\n  charts: https://charts.example\napps:\n"

var boardStates = map[string]string{
	"dev/dsf.yaml": boardHeader + boardApp("patient-api", "2.8.0", digestA, "1.5.0") + boardApp("billing-api", "1.0.3", "", "1.0.0") +
		boardApp("web", "3.1.0", digestF, "2.0.0"),
	"qa/dsf.yaml": boardHeader + boardApp("patient-api", "2.7.0", digestB, "1.5.0") + boardApp("web", "3.1.0", digestF, "2.0.0"),
	"prod/dsf.yaml": boardHeader + boardApp("patient-api", "2.6.0", digestC, "1.4.0") + boardApp("billing-api", "1.0.0", digestE, "1.0.0") +
		boardApp("worker", "", "", "0.9.0"),
}

func boardRef(app, tag, digest string) release.Ref {
	return release.Ref{Repository: boardRegistry + "/" + app, Tag: tag, Digest: digest}
}

// boardCommit is a desired-state commit with t's trailers, landed ago
// before boardNow.
func boardCommit(sha byte, ago time.Duration, t release.Trailers) gitrepo.Commit {
	c := gitrepo.Commit{SHA: strings.Repeat(string(sha), 40), Subject: string(t.Action) + " " + t.App, Time: boardNow.Add(-ago), Trailers: map[string]string{}}
	for _, tr := range t.List() {
		c.TrailerList = append(c.TrailerList, tr)
		c.Trailers[tr.Key] = tr.Value
	}
	return c
}

const boardPipeline = "https://gitlab.example/vendor-x/patient-api/-/pipelines/"

// boardHistory is each desired state's history, newest first.
var boardHistory = map[string][]gitrepo.Commit{
	"dev/dsf.yaml": {
		boardCommit('1', 2*time.Hour, release.Trailers{Action: release.ActionDeploy, App: "patient-api", Env: "dev",
			Image: boardRef("patient-api", "2.8.0", digestA), ChartVersion: "1.5.0", Actor: "alice", Pipeline: boardPipeline + "41"}),
		boardCommit('2', 50*time.Hour, release.Trailers{Action: release.ActionDeploy, App: "web", Env: "dev",
			Image: boardRef("web", "3.1.0", digestF), ChartVersion: "2.0.0", Actor: "alice", Pipeline: boardPipeline + "30"}),
	},
	"qa/dsf.yaml": {
		boardCommit('3', 3*time.Hour, release.Trailers{Action: release.ActionPromote, App: "patient-api", Env: "qa", From: "dev",
			Image: boardRef("patient-api", "2.7.0", digestB), ChartVersion: "1.5.0", Actor: "maria", Pipeline: boardPipeline + "40",
			Evidence: boardRegistry + "/patient-api:sha256-" + strings.Repeat("b", 64) + ".att"}),
		boardCommit('4', 48*time.Hour, release.Trailers{Action: release.ActionPromote, App: "web", Env: "qa", From: "dev",
			Image: boardRef("web", "3.1.0", digestF), ChartVersion: "2.0.0", Actor: "maria", Pipeline: boardPipeline + "31"}),
	},
	"prod/dsf.yaml": {
		boardCommit('5', 5*time.Hour, release.Trailers{Action: release.ActionRollback, App: "patient-api", Env: "prod",
			Image: boardRef("patient-api", "2.6.0", digestC), ChartVersion: "1.4.0", Actor: "bob", Hold: true,
			Reason: "500s on /login", Reverts: strings.Repeat("6", 40)}),
		boardCommit('6', 20*time.Hour, release.Trailers{Action: release.ActionPromote, App: "patient-api", Env: "prod", From: "qa",
			Image: boardRef("patient-api", "2.7.0", digestB), ChartVersion: "1.5.0", Actor: "maria", Pipeline: boardPipeline + "39"}),
	},
}

// boardStatesFake hands out snapshots of boardStates and boardHistory,
// counting the reads.
type boardStatesFake struct {
	root  string
	mu    sync.Mutex
	reads []string
}

func newBoardStates(t *testing.T) *boardStatesFake {
	root := t.TempDir()
	for path, text := range boardStates {
		if err := os.MkdirAll(filepath.Join(root, filepath.Dir(path)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, path), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return &boardStatesFake{root: root}
}

func (f *boardStatesFake) Snapshot(_ context.Context, s land.Spec, depth int) (*land.Snapshot, error) {
	f.mu.Lock()
	f.reads = append(f.reads, s.Branch+":"+s.Path)
	f.mu.Unlock()
	doc, err := s.Load(f.root)
	if err != nil {
		return nil, err
	}
	commits := boardHistory[s.Path]
	head := strings.Repeat("0", 40)
	if len(commits) > 0 {
		head = commits[0].SHA
	}
	return &land.Snapshot{Doc: doc, Commits: commits[:min(depth, len(commits))], Head: head, Landed: map[string]time.Time{}}, nil
}

// boardRegistryFake answers the gates from tables, and counts what it was
// asked.
type boardRegistryFake struct {
	mu    sync.Mutex
	asked map[string]int
	// signed maps a digest to the key that signed it; present lists the
	// digests in the registry; tags what each tag names.
	signed  map[string]string
	present map[string]bool
	tags    map[string]string
	// statements are the attestations of each digest by predicate type.
	statements map[string][]signing.VerifiedStatement
}

func (f *boardRegistryFake) count(what string) {
	f.mu.Lock()
	f.asked[what]++
	f.mu.Unlock()
}

func (f *boardRegistryFake) Verify(_ context.Context, img name.Digest) (*signing.Verified, error) {
	f.count("verify " + img.DigestStr())
	if key, ok := f.signed[img.DigestStr()]; ok {
		return &signing.Verified{KeyID: key, Format: signing.FormatSigTag, Ref: img.Context().String() + ":sha256-" + strings.TrimPrefix(img.DigestStr(), "sha256:") + ".sig"}, nil
	}
	return nil, exit.Mark(exit.Failed, fmt.Errorf("%s: %w: no signature in sig-tag", img, signing.ErrUnsigned))
}

func (f *boardRegistryFake) Attestations(_ context.Context, img name.Digest, predicateType string) ([]signing.VerifiedStatement, error) {
	f.count("attestations " + img.DigestStr() + " " + predicateType)
	var out []signing.VerifiedStatement
	for _, s := range f.statements[img.DigestStr()] {
		if s.Statement.PredicateType == predicateType {
			out = append(out, s)
		}
	}
	return out, nil
}

func (f *boardRegistryFake) Exists(_ context.Context, img name.Digest) error {
	f.count("exists " + img.DigestStr())
	if f.present[img.DigestStr()] {
		return nil
	}
	return exit.Failedf("%s: MANIFEST_UNKNOWN", img)
}

func (f *boardRegistryFake) Available(_ context.Context, repo, chart, version string) error {
	f.count("chart " + chart + " " + version)
	return nil
}

func (f *boardRegistryFake) Resolve(_ context.Context, ref string) (name.Digest, error) {
	f.count("resolve " + ref)
	d, ok := f.tags[ref]
	if !ok {
		return name.Digest{}, exit.Failedf("%s: MANIFEST_UNKNOWN", ref)
	}
	return name.NewDigest(strings.Split(ref, ":")[0] + "@" + d)
}

// attest records a signed statement about app's digest.
func (f *boardRegistryFake) attest(t *testing.T, app, digest, predicateType string, predicate any) {
	t.Helper()
	b, err := json.Marshal(predicate)
	if err != nil {
		t.Fatal(err)
	}
	ref := boardRegistry + "/" + app + ":sha256-" + strings.TrimPrefix(digest, "sha256:") + ".att"
	f.statements[digest] = append(f.statements[digest], signing.VerifiedStatement{
		Verified:  signing.Verified{KeyID: "vendor-2026", Format: signing.FormatSigTag, Ref: ref},
		Statement: signing.Statement{Type: signing.StatementType, PredicateType: predicateType, Predicate: b},
	})
}

func (f *boardRegistryFake) validated(t *testing.T, app, digest string, at time.Time) {
	f.attest(t, app, digest, release.ValidatePredicateType, release.ValidationEvidence{App: app, Digest: digest, Passed: true, Rules: 41, ValidatedAt: at})
}

func (f *boardRegistryFake) smokeTested(t *testing.T, app, digest, env, chart string, at time.Time) {
	f.attest(t, app, digest, release.SmokePredicateType, release.SmokeEvidence{Environment: env, App: app, Digest: digest, ChartVersion: chart,
		TestedAt: at, Checks: []release.CheckRecord{{Name: "GET /health/ready", Kind: release.CheckHealth, Passed: true}}})
}

func newBoardRegistry(t *testing.T) *boardRegistryFake {
	f := &boardRegistryFake{asked: map[string]int{},
		signed:     map[string]string{digestA: "vendor-2026", digestB: "vendor-2026", digestC: "vendor-2026", digestD: "vendor-2026", digestF: "vendor-2026"},
		present:    map[string]bool{digestA: true, digestB: true, digestC: true, digestD: true, digestF: true},
		tags:       map[string]string{boardRegistry + "/billing-api:1.0.3": digestD},
		statements: map[string][]signing.VerifiedStatement{},
	}
	for _, d := range []string{digestA, digestB, digestC, digestF} {
		f.validated(t, "patient-api", d, boardNow.Add(-72*time.Hour))
	}
	f.statements[digestF] = nil
	f.validated(t, "web", digestF, boardNow.Add(-72*time.Hour))
	f.smokeTested(t, "patient-api", digestA, "dev", "1.5.0", boardNow.Add(-time.Hour))  // after its deploy 2h ago
	f.smokeTested(t, "patient-api", digestB, "qa", "1.5.0", boardNow.Add(-2*time.Hour)) // promoted 3h ago: soak unfinished
	f.smokeTested(t, "patient-api", digestC, "prod", "1.4.0", boardNow.Add(-400*time.Hour))
	f.smokeTested(t, "web", digestF, "dev", "2.0.0", boardNow.Add(-49*time.Hour))
	f.smokeTested(t, "web", digestF, "qa", "2.0.0", boardNow.Add(-47*time.Hour))
	return f
}

// boardStep is the status step on the fixed world.
func boardStep(t *testing.T) (*status.Step, *boardStatesFake, *boardRegistryFake, *config.Config) {
	t.Helper()
	cfg, err := config.Load(t.Context(), config.Options{Path: writeConfig(t, boardConfig), PathExplicit: true})
	if err != nil {
		t.Fatal(err)
	}
	states, reg := newBoardStates(t), newBoardRegistry(t)
	step := &status.Step{States: states, Registry: reg, Now: func() time.Time { return boardNow },
		Evidence: &gate.Checker{Signatures: reg, Attestations: reg, Registry: reg, Charts: reg}}
	return step, states, reg, cfg
}

func TestStatusBoardGolden(t *testing.T) {
	step, states, reg, cfg := boardStep(t)
	board, err := step.Run(t.Context(), status.Job{Options: status.Options{Depth: 50, Concurrency: 4, ReadyWait: time.Second}, Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	var text, page bytes.Buffer
	if err := status.WriteText(&text, board); err != nil {
		t.Fatal(err)
	}
	golden(t, filepath.Join("testdata", "status", "board.txt"), text.String())
	j, err := json.MarshalIndent(board, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, filepath.Join("testdata", "status", "board.json"), string(j)+"\n")
	if err := status.WriteHTML(&page, board); err != nil {
		t.Fatal(err)
	}
	golden(t, filepath.Join("testdata", "status", "board.html"), page.String())

	// Each desired state is read once; each lookup is made once for the
	// whole board, however many environments and gates ask it.
	if len(states.reads) != 3 {
		t.Errorf("desired states read %d times (%v), want once each of dev, qa and prod", len(states.reads), states.reads)
	}
	for what, n := range reg.asked {
		if n != 1 {
			t.Errorf("the registry was asked %q %d times, want once", what, n)
		}
	}
	for _, out := range []string{text.String(), string(j), page.String()} {
		if strings.Contains(out, canary) {
			t.Errorf("the board shows the desired-state repository's credentials")
		}
	}
}

// --env and --app narrow the board; the next environment is still read,
// for what stops a promotion into it.
func TestStatusBoardNarrowed(t *testing.T) {
	step, states, _, cfg := boardStep(t)
	board, err := step.Run(t.Context(), status.Job{Options: status.Options{Env: "qa", App: "patient-api", Depth: 50, Concurrency: 1, ReadyWait: time.Second}, Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if len(board.Environments) != 1 || len(board.Apps) != 1 || board.Cell("qa", "patient-api") == nil {
		t.Fatalf("board of qa/patient-api: %d environments, apps %v", len(board.Environments), board.Apps)
	}
	p := board.Cell("qa", "patient-api").Promotion
	if p == nil || p.Verdict != status.Stopped || strings.Join(p.StoppedBy, ",") != "smoke-tested" {
		t.Errorf("qa → prod: %+v, want stopped by smoke-tested (the soak)", p)
	}
	if strings.Join(states.reads, " ") != "master:qa/dsf.yaml prod:prod/dsf.yaml" {
		t.Errorf("reads %v, want qa and prod once each", states.reads)
	}
	if _, err := step.Run(t.Context(), status.Job{Options: status.Options{App: "nope", Depth: 50, Concurrency: 1, ReadyWait: time.Second}, Config: cfg}); exit.ClassOf(err) != exit.Usage {
		t.Errorf("an app in no desired state: %v, want a usage error", err)
	}
}

func TestStatusUsageErrors(t *testing.T) {
	cfg := writeConfig(t, boardConfig)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--depth", "0"}, "--depth 0"},
		{[]string{"--concurrency", "0"}, "--concurrency 0"},
		{[]string{"--kube-context", "kind"}, "--kube-context goes with --kubeconfig"},
		{[]string{"--env", "stagin"}, "unknown environment"},
		{[]string{}, "signing.publicKeys"}, // evidence is verified with the approved keys or not shown
	} {
		r := runCLI(t, nil, append([]string{"status", "-c", cfg, "--log-format", "json"}, tc.args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("status %v: exit %d, want 2 and %q\n%s", tc.args, r.code, tc.want, r.stderr)
		}
	}
}
