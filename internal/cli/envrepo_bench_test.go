package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stepper-cd/stepper/internal/registry"
	"github.com/stepper-cd/stepper/internal/release"
	"github.com/stepper-cd/stepper/internal/report"
	"github.com/stepper-cd/stepper/internal/signing"
	"github.com/stepper-cd/stepper/internal/testenv"
)

// The environment repository the promote and rollback benchmarks run on:
// qa/dsf.yaml and prod/dsf.yaml, Helmsman, envRepoApps apps each, and
// envRepoCommits commits of deploys into qa and promotions into prod.
const (
	envRepoCommits = 5000
	envRepoApps    = 200
	// envRepoAppIndex is the app the benchmarks move, among app-000 …
	// app-199.
	envRepoAppIndex = 42
)

var envRepoApp = benchAppName(envRepoAppIndex)

// envRepoBench is the promote and rollback benchmarks' platform: a
// registry behind a counting proxy holding two signed builds of the app
// with their evidence, the environment repository on a git server, a chart
// repository and GitLab.
type envRepoBench struct {
	registry *requestCounter
	repo     *testenv.Repo
	config   string
	environ  []string
	// builds are the two releases of the app that take turns.
	builds [2]release.Ref
	// state is what the repository's desired states name, app by app.
	state *benchEnvState
	// started is when the benchmark started; the history and the
	// evidence are dated from it.
	started time.Time
}

func newEnvRepoBench(b *testing.B) *envRepoBench {
	b.Helper()
	ctx := b.Context()
	f, host := startEnvRepoBench(b, platform.Get(b).Registry.Host)
	now := f.started
	gitlab := testenv.StartFakeGitLab(b)
	gitlab.AddGroup("release-managers", "maria")
	gitlab.AddJobToken("test-only-job-token-maria", "maria")
	chartURL, _ := chartRepo(b, map[string]string{"1.4.0": ""}, false)

	base, err := testenv.PushBaseImage(ctx, host, "base/static")
	if err != nil {
		b.Fatal(err)
	}
	keys := b.TempDir()
	key, err := testenv.NewCosignKey(keys)
	if err != nil {
		b.Fatal(err)
	}
	password := filepath.Join(keys, "test-only-password")
	os.WriteFile(password, []byte(testenv.TestOnlyKeyPassword), 0o600)
	token := filepath.Join(keys, "test-only-gitlab-token")
	os.WriteFile(token, []byte(gitlab.Token), 0o600)
	f.config = writeConfig(b, fmt.Sprintf(`
registry: {host: %[1]q, project: vendor-x}
baseImages: ["%[1]s/base/static"]
signing:
  key: "file://%[2]s"
  password: "file://%[3]s"
  publicKeys: [{id: test-only-vendor, path: %[4]q}]
build: {builder: layers}
gitlab: {url: %[5]q, token: "file://%[7]s"}
chain: main
chains: {main: [qa, prod]}
environments:
  - name: qa
    desiredState: {repo: %[6]q, branch: master, path: qa/dsf.yaml, format: helmsman}
    land: {via: commit}
  - name: prod
    desiredState: {repo: %[6]q, branch: master, path: prod/dsf.yaml, format: helmsman}
    land: {via: commit}
    promoters: [group:release-managers]
    gates: {maxAge: 168h, soak: 24h}
`, host, key.Private, password, key.Public, gitlab.URL, f.repo.HTTPURL, token))
	f.environ = []string{
		"GITLAB_CI=true", "CI_JOB_TOKEN=test-only-job-token-maria",
		"CI_PROJECT_NAME=" + envRepoApp, "CI_COMMIT_SHA=0123456789abcdef0123456789abcdef01234567",
		"CI_COMMIT_BRANCH=master", "CI_COMMIT_REF_NAME=master", "CI_COMMIT_TIMESTAMP=2026-11-20T10:00:00Z",
		"CI_PROJECT_URL=https://gitlab.example.test/vendor-x/" + envRepoApp,
		"CI_PIPELINE_URL=https://gitlab.example.test/vendor-x/" + envRepoApp + "/-/pipelines/7",
		"CI_JOB_URL=https://gitlab.example.test/vendor-x/" + envRepoApp + "/-/jobs/9",
		"HOME=" + b.TempDir(),
	}

	// Two signed builds, each validated and smoke-tested in qa after the
	// deploys the benchmark makes.
	app := b.TempDir()
	for i := range f.builds {
		os.WriteFile(filepath.Join(app, "server"), []byte(fmt.Sprint("#!/bin/false\nrelease ", i, "\n")), 0o755)
		result := filepath.Join(b.TempDir(), "result.json")
		r := runCLI(b, f.environ, "build-sign-push", "-c", f.config, "--log-format", "json", "--result", result,
			"--base", base.String(), "--layer", app+":/app", "--entrypoint", "/app/server", "--user", "65532:65532",
			"--tag", fmt.Sprint("1.1.", i), "--allow-retag")
		if r.code != 0 {
			b.Fatalf("build-sign-push: exit %d\n%s", r.code, r.stderr)
		}
		built, err := report.ReadJSON(result)
		if err != nil {
			b.Fatal(err)
		}
		f.builds[i] = release.Ref{Repository: host + "/vendor-x/" + envRepoApp, Tag: fmt.Sprint("1.1.", i), Digest: built.Digest}
		attachEvidence(b, key, f.builds[i], now.Add(-24*time.Hour))
	}

	f.state = newBenchEnvState(host, chartURL)
	f.state.writeHistory(b, f.repo, f.builds[1], now.Add(-26*time.Hour))
	return f
}

// startEnvRepoBench starts what every environment-repository benchmark
// stands on: registryHost behind a proxy that counts the requests, and an
// empty repository platform/environments on a git server. host is the
// proxy's, the registry the benchmark's images name.
func startEnvRepoBench(b *testing.B, registryHost string) (f *envRepoBench, host string) {
	b.Helper()
	f = &envRepoBench{registry: &requestCounter{kinds: map[string]int{}}, started: time.Now().UTC().Truncate(time.Second)}
	proxy, err := testenv.StartFaultProxy(registryHost, testenv.FaultOptions{Only: f.registry.count})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(proxy.Stop)
	git, err := testenv.StartGitServer(b.Context(), b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(git.Stop)
	if f.repo, err = git.NewRepo("platform/environments", nil); err != nil {
		b.Fatal(err)
	}
	return f, proxy.Host
}

// measure runs the benchmark's ops: op 0 first, the runner's earlier job,
// which clones and deepens its git cache; then, for every iteration, op i
// after prepare i, which is not timed. It reports ms/op and
// registry-requests/op, logs the round trips per op by kind (what names an
// op there), and returns how many ops were timed.
func (f *envRepoBench) measure(b *testing.B, what string, prepare, op func(b *testing.B, i int)) int {
	b.Helper()
	prepare(b, 0)
	op(b, 0)
	f.registry.reset()
	i := 1
	for b.Loop() {
		b.StopTimer()
		prepare(b, i)
		b.StartTimer()
		op(b, i)
		i++
	}
	ops := i - 1
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(ops), "ms/op")
	b.ReportMetric(float64(f.registry.total())/float64(ops), "registry-requests/op")
	b.Logf("registry round trips per %s, by kind: %s", what, f.registry.perOp(ops))
	return ops
}

// prodDigest is the app's digest in prod's desired state.
func (f *envRepoBench) prodDigest(b *testing.B) string {
	dsf, err := f.repo.ReadFile("master", "prod/dsf.yaml")
	if err != nil {
		b.Fatal(err)
	}
	_, entry, _ := strings.Cut(dsf, "  "+envRepoApp+":\n")
	_, digest, _ := strings.Cut(entry, "image.digest: ")
	digest, _, _ = strings.Cut(digest, "\n")
	return strings.Trim(digest, `"`)
}

// attachEvidence signs and attaches what validate --attest and smoke-test
// in qa attach to img, dated at.
func attachEvidence(b *testing.B, key testenv.CosignKey, img release.Ref, at time.Time) {
	b.Helper()
	if err := newEvidenceSigner(b, key).attach(b.Context(), envRepoApp, img, at, "qa"); err != nil {
		b.Fatal(err)
	}
}

// evidenceSigner signs in process with a benchmark's key, as stepper's
// steps sign: the sig-tag format, straight to the registry.
type evidenceSigner struct {
	key  *signing.Key
	opts signing.Options
}

func newEvidenceSigner(b *testing.B, key testenv.CosignKey) *evidenceSigner {
	b.Helper()
	ctx := b.Context()
	sk, err := signing.LoadKey(ctx, signing.KeySource{PEM: mustRead(b, key.Private), Password: []byte(testenv.TestOnlyKeyPassword)})
	if err != nil {
		b.Fatal(err)
	}
	return &evidenceSigner{key: sk, opts: signing.Options{Format: signing.FormatSigTag, RemoteOptions: registry.New(registry.Options{}).RemoteOptions(ctx)}}
}

// attach signs and attaches to app's img what validate --attest (in the
// first of envs) and smoke-test in each of envs attach, dated at.
func (s *evidenceSigner) attach(ctx context.Context, app string, img release.Ref, at time.Time, envs ...string) error {
	d, err := img.NameDigest()
	if err != nil {
		return err
	}
	type statement struct {
		predicateType string
		predicate     any
	}
	evidence := []statement{{release.ValidatePredicateType, release.ValidationEvidence{App: app, Environment: envs[0], Image: img.String(),
		Digest: img.Digest, ChartVersion: "1.4.0", Passed: true, Warnings: 2, Rules: 41, ValidatedAt: at.Add(-time.Hour)}}}
	for _, env := range envs {
		evidence = append(evidence, statement{release.SmokePredicateType, release.SmokeEvidence{Environment: env, App: app, Namespace: env,
			Image: img.String(), Digest: img.Digest, ChartVersion: "1.4.0", TestedAt: at, Checks: []release.CheckRecord{
				{Name: "rollout", Kind: release.CheckRollout, Passed: true, Duration: 31},
				{Name: "GET /health/ready", Kind: release.CheckHealth, Passed: true, Duration: 0.02},
				{Name: "GET /api/ping json=status=ok", Kind: release.CheckHTTP, Passed: true, Duration: 0.03},
			}}})
	}
	for _, ev := range evidence {
		predicate, err := json.Marshal(ev.predicate)
		if err != nil {
			return err
		}
		algorithm, hex, _ := strings.Cut(img.Digest, ":")
		st := signing.Statement{Type: signing.StatementType, PredicateType: ev.predicateType, Predicate: predicate,
			Subject: []signing.Subject{{Name: d.Context().Name(), Digest: map[string]string{algorithm: hex}}}}
		if _, err := signing.Attest(ctx, s.key, d, st, s.opts); err != nil {
			return err
		}
	}
	return nil
}

// benchEnvState is the desired state of qa and prod, app by app.
type benchEnvState struct {
	chartURL string
	qa, prod []release.Ref
}

func newBenchEnvState(host, chartURL string) *benchEnvState {
	s := &benchEnvState{chartURL: chartURL}
	for i := range envRepoApps {
		ref := release.Ref{Repository: host + "/vendor-x/" + benchAppName(i), Tag: "1.0.0", Digest: fakeDigest("app", i)}
		s.qa, s.prod = append(s.qa, ref), append(s.prod, ref)
	}
	return s
}

func benchAppName(i int) string { return fmt.Sprintf("app-%03d", i) }

// dsf is env's Helmsman desired state.
func (s *benchEnvState) dsf(env string) string {
	refs := s.qa
	if env == "prod" {
		refs = s.prod
	}
	var b strings.Builder
	fmt.Fprintf(&b, "helmRepos:\n  charts: %q\nnamespaces:\n  %s: {}\napps:\n", s.chartURL, env)
	for i, ref := range refs {
		fmt.Fprintf(&b, "  %s:\n    namespace: %s\n    enabled: true\n    chart: charts/patient-api\n    version: \"1.4.0\"\n"+
			"    set:\n      image.repository: %s\n      image.tag: %q\n      image.digest: %q\n      replicaCount: %d\n"+
			"      ingress.hosts[0].host: %[1]s.%[2]s.example\n\n", benchAppName(i), env, ref.Repository, ref.Tag, ref.Digest, 2+i%3)
	}
	return b.String()
}

// writeHistory imports envRepoCommits commits ending at end: about
// 60% deploys into qa, 35% promotions into prod, the rest edits by hand
// outside the desired states; the last two deploy current into qa and
// promote it, so prod runs it.
func (s *benchEnvState) writeHistory(b *testing.B, repo *testenv.Repo, current release.Ref, end time.Time) {
	b.Helper()
	var st importStream
	rng := rand.New(rand.NewPCG(1, 2))
	at := func(c int) time.Time { return end.Add(-time.Duration(envRepoCommits-c) * 15 * time.Minute) }
	st.commit(at(1), "import the environments\n", map[string]string{"qa/dsf.yaml": s.dsf("qa"), "prod/dsf.yaml": s.dsf("prod"), "README.md": "environments\n"})
	for c := 2; c <= envRepoCommits-2; c++ {
		app := rng.IntN(envRepoApps)
		switch r := rng.IntN(100); {
		case r < 60:
			st.deploy(s, app, release.Ref{Repository: s.qa[app].Repository, Tag: fmt.Sprint("1.0.", c), Digest: fakeDigest("build", c)}, at(c))
		case r < 95:
			st.promote(s, app, at(c), "")
		default:
			st.commit(at(c), fmt.Sprintf("README: note %d\n", c), map[string]string{"README.md": fmt.Sprintf("environments\nnote %d\n", c)})
		}
	}
	st.deploy(s, envRepoAppIndex, current, at(envRepoCommits-1))
	st.promote(s, envRepoAppIndex, at(envRepoCommits), "")
	st.run(b, repo.Dir)
}

func fakeDigest(kind string, n int) string {
	return fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(fmt.Sprint(kind, n))))
}

// importStream is a `git fast-import` stream of commits on master. A
// stream that continues the history an earlier import made sets onMaster.
type importStream struct {
	bytes.Buffer
	onMaster bool
}

// deploy commits img as app i's release in qa, with the trailers stepper
// deploy writes.
func (st *importStream) deploy(s *benchEnvState, i int, img release.Ref, at time.Time) {
	s.qa[i] = img
	app := benchAppName(i)
	t := release.Trailers{Action: release.ActionDeploy, App: app, Env: "qa", Image: img, ChartVersion: "1.4.0", Started: at,
		Pipeline: "https://gitlab.example.test/vendor-x/" + app + "/-/pipelines/1"}
	st.commit(at, trailed(fmt.Sprintf("deploy %s to qa: %s", app, img.ShortDigest()), t), map[string]string{"qa/dsf.yaml": s.dsf("qa")})
}

// promote commits qa's release of app i into prod; releasesHold names the
// rollback whose hold it lifts, as stepper promote records it, if any.
func (st *importStream) promote(s *benchEnvState, i int, at time.Time, releasesHold string) {
	img := s.qa[i]
	s.prod[i] = img
	app := benchAppName(i)
	t := release.Trailers{Action: release.ActionPromote, App: app, Env: "prod", From: "qa", Image: img, ChartVersion: "1.4.0",
		Started: at, Pipeline: "https://gitlab.example.test/vendor-x/" + app + "/-/pipelines/2", Actor: "maria", ReleasesHold: releasesHold}
	st.commit(at, trailed(fmt.Sprintf("promote %s from qa to prod: %s", app, img.ShortDigest()), t), map[string]string{"prod/dsf.yaml": s.dsf("prod")})
}

// commit adds a commit of files.
func (st *importStream) commit(at time.Time, message string, files map[string]string) {
	data := func(text string) { fmt.Fprintf(st, "data %d\n%s\n", len(text), text) }
	first := st.Len() == 0
	fmt.Fprintf(st, "commit refs/heads/master\ncommitter stepper <stepper@localhost> %d +0000\n", at.Unix())
	data(message)
	if first && st.onMaster {
		// fast-import starts a branch it has not written afresh, unless
		// told its parent.
		st.WriteString("from refs/heads/master^0\n")
	}
	for _, path := range slices.Sorted(maps.Keys(files)) {
		fmt.Fprintf(st, "M 644 inline %s\n", path)
		data(files[path])
	}
}

// run imports the stream into the bare repository dir.
func (st *importStream) run(b *testing.B, dir string) {
	b.Helper()
	cmd := exec.Command("git", "fast-import", "--quiet", "--force")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull)
	cmd.Stdin = &st.Buffer
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("git fast-import: %v: %s", err, out)
	}
}

// trailed is a commit message with t as its trailers.
func trailed(subject string, t release.Trailers) string {
	var b strings.Builder
	b.WriteString(subject + "\n\n")
	for _, tr := range t.List() {
		fmt.Fprintf(&b, "%s: %s\n", tr.Key, tr.Value)
	}
	return b.String()
}

// requestCounter counts the requests a FaultProxy that never fails passes
// to the registry, by kind.
type requestCounter struct {
	mu    sync.Mutex
	kinds map[string]int
}

// count is the proxy's Only: it records r and accepts no fault for it.
func (c *requestCounter) count(r *http.Request) bool {
	kind := r.Method + " other"
	switch p := r.URL.Path; {
	case p == "/v2/" || p == "/v2":
		kind = r.Method + " /v2/ (ping)"
	case strings.Contains(p, "/manifests/sha256:"):
		kind = r.Method + " manifest by digest"
	case strings.Contains(p, "/manifests/"):
		kind = r.Method + " manifest by tag"
	case strings.Contains(p, "/blobs/"):
		kind = r.Method + " blob"
	case strings.Contains(p, "/referrers/"):
		kind = r.Method + " referrers"
	}
	c.mu.Lock()
	c.kinds[kind]++
	c.mu.Unlock()
	return false
}

func (c *requestCounter) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, k := range c.kinds {
		n += k
	}
	return n
}

func (c *requestCounter) reset() {
	c.mu.Lock()
	c.kinds = map[string]int{}
	c.mu.Unlock()
}

// perOp is the counts divided by ops, most frequent first.
func (c *requestCounter) perOp(ops int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	kinds := slices.Collect(maps.Keys(c.kinds))
	slices.SortFunc(kinds, func(a, b string) int { return c.kinds[b] - c.kinds[a] })
	var out []string
	for _, k := range kinds {
		out = append(out, fmt.Sprintf("%s %.1f", k, float64(c.kinds[k])/float64(ops)))
	}
	return strings.Join(out, ", ")
}
