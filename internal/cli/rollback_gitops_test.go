package cli

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/stepper-cd/stepper/internal/release"
	"github.com/stepper-cd/stepper/internal/report"
	"github.com/stepper-cd/stepper/internal/testenv"
)

// GitOps rollback through the stepper binary, in each desired-state format
// as the samples' users write it: a registry behind credentials, the
// desired-state repository on a git server, a chart repository, and a fake
// GitLab for the merge-request route and for who promotes.

// grWorld is one platform of one format for rollback tests.
type grWorld struct {
	*sample
	kind   string
	repo   *testenv.Repo
	branch string
	gitlab *testenv.FakeGitLab
	base   string
	// first and second are the chain's environments; a and b the two apps
	// of first that one commit can release together, a the one rolled
	// back.
	first, second string
	a, b          string
	// files are the desired-state files of first that name a's and b's
	// releases.
	files []string
	// gitlabProject is the repository's GitLab project; registryProject
	// the registry project the apps' images are in.
	gitlabProject, registryProject string
	// byMergeRequest says the first environment lands by merge request.
	byMergeRequest bool
	// defects are the known defects a test ran past (see knownDefect).
	defects []string
	// clockAhead dates hand commits that far in the future, as a clock
	// that runs ahead does.
	clockAhead time.Duration
}

// grBuild is one signed build of an app.
type grBuild struct {
	app, tag       string
	result, digest string
	// repo is the image repository, host included.
	repo string
}

func (b grBuild) hex() string   { return strings.TrimPrefix(b.digest, "sha256:") }
func (b grBuild) short() string { return b.hex()[:12] }

// grFormats are the three formats, each a sample's desired state.
var grFormats = []string{"helmsman", "helmfile", "flux"}

// newGitOpsWorld sets up kind's platform; secondVia is how the chain's
// second environment takes changes (commit when empty).
func newGitOpsWorld(t *testing.T, bin, kind, secondVia string) *grWorld {
	t.Helper()
	platform.Get(t)
	testenv.RequireTool(t, "git")
	if secondVia == "" {
		secondVia = "commit"
	}
	w := &grWorld{kind: kind, gitlab: testenv.StartFakeGitLab(t)}
	var envs string
	switch kind {
	case "helmsman":
		w.sample = newSample(t, bin, "patient-api", "robot$vendor-x+ci")
		charts := grChartIndex(t, map[string][]string{"ehealth-spring-boot": {"3.2.0", "3.3.0"}, "ehealth-nginx": {"1.8.0"}})
		w.gitlabProject, w.branch, w.registryProject = "vendor-x/desired-state", "master", "vendor-x"
		w.repo = w.sample.repo(t, w.gitlabProject, "ehealth/desired-state", sampleSwaps{
			{"https://registry.admin.ehealth.sundhed.dk/chartrepo/ehealth", charts}, {"registry.admin.ehealth.sundhed.dk", w.host}})
		w.first, w.second, w.a, w.b = "devenvcgi", "exttest", "patient-api", "booking-ui"
		w.files = []string{"devenvcgi/dsf.yaml"}
		envs = fmt.Sprintf(`
  - name: devenvcgi
    desiredState: {repo: %[1]q, branch: master, path: devenvcgi/dsf.yaml, format: helmsman}
    land: {via: commit}
  - name: exttest
    desiredState: {repo: %[1]q, branch: master, path: exttest/dsf.yaml, format: helmsman}
    land: {via: %[2]s}
    promoters: [group:ehealth-release]
`, w.repoURL(), secondVia)
	case "helmfile":
		w.sample = newSample(t, bin, "hocs-casework", "robot$hocs-ci")
		charts := grChartIndex(t, map[string][]string{"hocs-generic-service": {"7.0.0", "7.0.3", "7.1.0"}})
		w.gitlabProject, w.branch, w.registryProject, w.byMergeRequest = "hocs/deploy-notprod", "main", "hocs", true
		w.repo = w.sample.repo(t, w.gitlabProject, "gov/deploy-notprod", sampleSwaps{{"registry.gov.example", w.host}, {govChartsURL, charts}})
		gitOut(t, w.repo.Dir, "branch", "-m", "master", "main")
		gitOut(t, w.repo.Dir, "symbolic-ref", "HEAD", "refs/heads/main")
		w.first, w.second, w.a, w.b = "dev", "qa", "hocs-casework", "hocs-frontend"
		w.files = []string{"environments/dev/versions.yaml", "environments/dev/values/hocs-casework.yaml", "environments/dev/values/hocs-frontend.yaml"}
		envs = fmt.Sprintf(`
  - name: dev
    desiredState: {repo: %[1]q, branch: main, path: environments/dev/versions.yaml, format: helmfile}
    land: {via: merge-request, targetBranch: main}
  - name: qa
    desiredState: {repo: %[1]q, branch: main, path: environments/qa/versions.yaml, format: helmfile}
    land: {via: merge-request, targetBranch: main}
    promoters: [group:hocs-qa]
`, w.repoURL())
	case "flux":
		w.sample = newSample(t, bin, "blog-service", "hostedshop-ci")
		w.gitlabProject, w.branch, w.registryProject = "hostedshop/k8s/flux", "master", "hostedshop"
		w.repo = w.sample.repo(t, w.gitlabProject, "shop/flux", sampleSwaps{{"docker.io", w.host}})
		w.first, w.second, w.a, w.b = "staging", "production", "blog-service", "news-service"
		w.files = []string{"clusters/staging/apps/blog-service.yaml", "clusters/staging/apps/news-service.yaml"}
		envs = fmt.Sprintf(`
  - name: staging
    desiredState: {repo: %[1]q, branch: master, path: clusters/staging/apps, format: flux}
    land: {via: commit}
    tagPrefix: stag-
  - name: production
    desiredState: {repo: %[1]q, branch: master, path: clusters/production/apps, format: flux}
    land: {via: %[2]s}
    tagPrefix: master-
    promoters: [group:hostedshop-maintainers]
`, w.repoURL(), secondVia)
	default:
		t.Fatalf("no rollback world %q", kind)
	}
	w.gitlab.AddProject(w.gitlabProject)
	key := w.key(t, "keys/release-2026.pub")
	w.base = w.pushBase(t, w.registryProject+"/base")
	w.file = filepath.Join(w.dir, "stepper.yaml")
	config := fmt.Sprintf(`# %s platform for rollback tests
chain: release
chains:
  release: [%s, %s]
registry:
  host: %s
  project: %s
  credentials:
    username: %q
    password: env://REGISTRY_PASSWORD
baseImages: [%s/%s/base]
signing:
  key: file://%s
  password: env://COSIGN_PASSWORD
  publicKeys:
    - {id: release-2026, path: keys/release-2026.pub}
gitlab:
  url: %s
  token: env://GITLAB_TOKEN
values:
  perEnvironment: ["config.featureFlags.*"]
environments:%s`, kind, w.first, w.second, w.host, w.registryProject, w.user, w.host, w.registryProject, key.Private, w.gitlab.URL, envs)
	if err := os.WriteFile(w.file, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	// The job runs as alice: GitLab says so for its job token, which is
	// what the audit of a rollback names.
	w.gitlab.AddJobToken("test-only-job-token-alice", "alice")
	w.env = append(w.env, "REGISTRY_PASSWORD="+w.password, "COSIGN_PASSWORD="+testenv.TestOnlyKeyPassword, "GITLAB_TOKEN="+w.gitlab.Token,
		"CI_JOB_TOKEN=test-only-job-token-alice")
	return w
}

// knownDefect fails the test with a defect it found and can work past:
// the rest of the test still runs. (These were once known defects the test
// reported as skips; all are fixed, so a return is a failure.)
func (w *grWorld) knownDefect(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	w.defects = append(w.defects, msg)
	t.Errorf("defect: %s", msg)
}

func (w *grWorld) repoURL() string { return w.git.URL + "/" + w.gitlabProject + ".git" }

// grChartIndex serves a chart repository index listing versions of charts,
// shaped as helm repo index writes it: the rollback gate asks it whether
// the chart version returned to can still be installed.
func grChartIndex(t *testing.T, charts map[string][]string) string {
	t.Helper()
	dir := t.TempDir()
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(srv.Close)
	var b strings.Builder
	b.WriteString("apiVersion: v1\nentries:\n")
	for _, chart := range slices.Sorted(maps.Keys(charts)) {
		fmt.Fprintf(&b, "  %s:\n", chart)
		for _, v := range charts[chart] {
			fmt.Fprintf(&b, "  - apiVersion: v2\n    created: \"2026-01-12T09:00:00Z\"\n    digest: %064x\n    name: %s\n    type: application\n    urls:\n    - %s/%s-%s.tgz\n    version: %s\n",
				len(chart+v), chart, srv.URL, chart, v, v)
		}
	}
	b.WriteString("generated: \"2026-01-12T09:00:00Z\"\n")
	if err := os.WriteFile(filepath.Join(dir, "index.yaml"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return srv.URL
}

// build builds, signs and pushes app under tag (and more tags; in the Flux
// world also under staging's stag- tag, which image automation follows); a
// layer naming app and tag gives each build a digest of its own.
func (w *grWorld) build(t *testing.T, app, tag string, more ...string) grBuild {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "VERSION"), []byte(app+" "+tag+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	result := filepath.Join(t.TempDir(), "build.json")
	args := []string{"build-sign-push", "-c", w.file, "--log-format", "json", "--result", result, "--app", app,
		"--builder", "layers", "--base", w.base, "--layer", w.appDir + ":/app", "--layer", dir + ":/version",
		"--entrypoint", "/app/server", "--user", "65532:65532", "--tag", tag, "--allow-retag"}
	if w.kind == "flux" {
		// the tag image automation follows, for a release landed by hand
		more = append(more, "stag-"+tag)
	}
	for _, m := range more {
		args = append(args, "--tag", m)
	}
	if r := w.stepper(t, args...); r.code != 0 {
		t.Fatalf("build-sign-push %s:%s: exit %d\n%s", app, tag, r.code, r.stderr)
	}
	res := resultOf(t, []string{"--result", result})
	repo, _, _ := strings.Cut(res.Outputs["image-ref"], "@")
	repo = strings.TrimSuffix(repo, ":"+tag)
	return grBuild{app: app, tag: tag, result: result, digest: res.Digest, repo: repo}
}

// deployRun runs deploy of b into the chain's first environment.
func (w *grWorld) deployRun(t *testing.T, b grBuild, extra ...string) run {
	t.Helper()
	w.nextSecond(t)
	return w.stepper(t, append([]string{"deploy", "-c", w.file, "--log-format", "json", "--env", w.first, "--app", b.app, "--from-result", b.result}, extra...)...)
}

// deploy lands b in the first environment; a merge request it opens is
// merged, as a reviewer would.
func (w *grWorld) deploy(t *testing.T, b grBuild, extra ...string) {
	t.Helper()
	if r := w.deployRun(t, b, extra...); r.code != 0 {
		t.Fatalf("deploy %s:%s: exit %d\n%s", b.app, b.tag, r.code, r.stderr)
	}
	w.mergeOpen(t)
}

// mergeOpen merges every open merge request of the repository into its
// target with a merge commit, as GitLab does, and marks it merged.
func (w *grWorld) mergeOpen(t *testing.T) {
	t.Helper()
	for _, mr := range w.gitlab.MergeRequests(w.gitlabProject) {
		if mr.State != "opened" {
			continue
		}
		mergeAsGitLab(t, w.repo, mr.SourceBranch, mr.TargetBranch)
		w.gitlab.EditMergeRequest(w.gitlabProject, mr.IID, func(m *testenv.GitLabMergeRequest) { m.State = "merged" })
	}
}

// commitByHand edits files (path → edit) on the branch in one commit with
// message, and returns the commit.
func (w *grWorld) commitByHand(t *testing.T, message string, edits map[string]func(string) string) string {
	t.Helper()
	w.nextSecond(t)
	work := cloneWork(t, w.repo, w.branch)
	for path, edit := range edits {
		file := filepath.Join(work, path)
		before := string(mustRead(t, file))
		after := edit(before)
		if after == before {
			t.Fatalf("the hand edit of %s changes nothing", path)
		}
		if err := os.WriteFile(file, []byte(after), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	msgFile := filepath.Join(t.TempDir(), "message")
	if err := os.WriteFile(msgFile, []byte(message), 0o644); err != nil {
		t.Fatal(err)
	}
	commit := exec.Command("git", "-C", work, "commit", "--quiet", "--all", "--file", msgFile)
	if w.clockAhead != 0 {
		date := time.Now().Add(w.clockAhead).Format(time.RFC3339)
		commit.Env = append(os.Environ(), "GIT_AUTHOR_DATE="+date, "GIT_COMMITTER_DATE="+date)
	}
	if out, err := commit.CombinedOutput(); err != nil {
		t.Fatalf("git commit: %v\n%s", err, out)
	}
	gitOut(t, work, "push", "--quiet", "origin", w.branch)
	return w.head(t)
}

// nextSecond waits, on the merge-request route, until the clock is past
// the second of the branch's head. git log walks by committer date, which
// counts whole seconds, and lists a commit on the target branch before
// the merged commit that is its child when both fall in one second (see
// TestRollbackGitOpsHoldAcrossAMerge): every landing here starts in a new
// second, so that the other tests check what they are about.
func (w *grWorld) nextSecond(t *testing.T) {
	t.Helper()
	if !w.byMergeRequest {
		return
	}
	secs, err := strconv.ParseInt(strings.TrimSpace(gitOut(t, w.repo.Dir, "log", "-1", "--format=%ct", w.branch)), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	if head := time.Unix(secs, 0); head.Before(time.Now().Add(2 * time.Second)) {
		waitPastSecondOf(head) // not a head from a clock that runs ahead
	}
}

// grTrailed is a commit message with the trailers of releases, as stepper
// writes a commit that lands several releases at once.
func grTrailed(subject string, releases ...release.Trailers) string {
	var b strings.Builder
	b.WriteString(subject + "\n\n")
	for _, tr := range release.ListAll(releases) {
		fmt.Fprintf(&b, "%s: %s\n", tr.Key, tr.Value)
	}
	return b.String()
}

// bump is the hand edit that moves a release from one build to another in
// the text of a desired-state file: the tag as the file writes it, and the
// digest where the file has one.
func (w *grWorld) bump(from, to grBuild) func(string) string {
	return func(s string) string {
		s = strings.ReplaceAll(s, from.digest, to.digest)
		return strings.ReplaceAll(s, w.fileTag(from), w.fileTag(to))
	}
}

// fileTag is the tag of b as the first environment's file names it.
func (w *grWorld) fileTag(b grBuild) string {
	if w.kind == "flux" {
		return "stag-" + b.tag
	}
	return b.tag
}

// releaseBoth lands a2 and b2 over a1 and b1 in one commit with both
// releases' trailers, as a promotion of a whole environment writes it; a2
// comes with a newer chart version (grCharts). It returns the commit.
func (w *grWorld) releaseBoth(t *testing.T, a1, a2, b1, b2 grBuild) string {
	t.Helper()
	edits := w.handEdits(w.read(t, w.branch), [2]grBuild{a1, a2}, [2]grBuild{b1, b2})
	chart := grCharts[w.kind]
	for path, text := range w.read(t, w.branch) {
		if strings.Count(text, chart.oldText) != 1 {
			continue
		}
		edit := edits[path]
		edits[path] = func(s string) string {
			if edit != nil {
				s = edit(s)
			}
			return w.chartEdit(chart.oldText, chart.newText)(s)
		}
	}
	started := time.Now().UTC()
	tr := func(b grBuild, chart string) release.Trailers {
		return release.Trailers{Action: release.ActionDeploy, App: b.app, Env: w.first, Image: release.Ref{Repository: b.repo, Tag: w.fileTag(b), Digest: b.digest},
			ChartVersion: chart, Started: started, Pipeline: "https://gitlab.example.test/platform/releases/-/pipelines/88", Actor: "sara"}
	}
	return w.commitByHand(t, grTrailed(fmt.Sprintf("release %s %s and %s %s to %s", a2.app, a2.tag, b2.app, b2.tag, w.first), tr(a2, chart.new), tr(b2, "")), edits)
}

// chartEdit replaces the one chart version line from by to.
func (w *grWorld) chartEdit(from, to string) func(string) string {
	return func(s string) string { return strings.Replace(s, from, to, 1) }
}

// rollback runs stepper rollback with a result file.
func (w *grWorld) rollback(t *testing.T, args ...string) (run, *report.Result) {
	t.Helper()
	result := filepath.Join(t.TempDir(), "rollback.json")
	w.nextSecond(t)
	r := w.stepper(t, append([]string{"rollback", "-c", w.file, "--log-format", "json", "--result", result}, args...)...)
	res, err := report.ReadJSON(result)
	if err != nil && r.code != 2 {
		t.Fatalf("rollback %v: no result file (exit %d): %v\n%s", args, r.code, err, r.stderr)
	}
	return r, res
}

func (w *grWorld) head(t *testing.T) string {
	t.Helper()
	h, err := w.repo.Rev(w.branch)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// grState is every branch head of the repository, the merge requests and
// the image tags of both apps: what a refused rollback must leave alone.
type grState struct {
	heads map[string]string
	mrs   int
	tags  map[string][]string
}

func (w *grWorld) state(t *testing.T) grState {
	t.Helper()
	st := grState{heads: map[string]string{}, tags: map[string][]string{}, mrs: len(w.gitlab.MergeRequests(w.gitlabProject))}
	for _, line := range strings.Split(strings.TrimSpace(gitOut(t, w.repo.Dir, "for-each-ref", "--format=%(refname:short) %(objectname)", "refs/heads")), "\n") {
		b, h, _ := strings.Cut(line, " ")
		st.heads[b] = h
	}
	for _, app := range []string{w.a, w.b} {
		repo, err := name.NewRepository(w.imageRepo(app), name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		tags, _ := remote.List(repo, remote.WithContext(t.Context()), remote.WithAuth(w.auth()))
		slices.Sort(tags)
		st.tags[app] = tags
	}
	return st
}

func (w *grWorld) imageRepo(app string) string { return w.host + "/" + w.registryProject + "/" + app }

// unchanged fails if a branch, a merge request or an image tag changed.
func (w *grWorld) unchanged(t *testing.T, what string, before grState) {
	t.Helper()
	now := w.state(t)
	if !maps.Equal(now.heads, before.heads) {
		t.Errorf("%s moved branches: %v, were %v", what, now.heads, before.heads)
	}
	if now.mrs != before.mrs {
		t.Errorf("%s opened merge requests: %d, were %d", what, now.mrs, before.mrs)
	}
	if !maps.EqualFunc(now.tags, before.tags, slices.Equal) {
		t.Errorf("%s changed image tags: %v, were %v", what, now.tags, before.tags)
	}
}

// read reads the first environment's files at rev.
func (w *grWorld) read(t *testing.T, rev string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, p := range w.files {
		text, err := w.repo.ReadFile(rev, p)
		if err != nil {
			t.Fatalf("%s at %s: %v", p, rev, err)
		}
		out[p] = text
	}
	return out
}

// landed is the commit a rollback landed: on the branch for the commit
// route; for the merge-request route, the head of the merge request's
// branch, which is then merged. It checks that nothing else moved.
func (w *grWorld) landed(t *testing.T, before grState, res *report.Result) string {
	t.Helper()
	now := w.state(t)
	if !w.byMergeRequest {
		head := now.heads[w.branch]
		if head == before.heads[w.branch] {
			t.Fatalf("nothing landed on %s", w.branch)
		}
		if parent := strings.TrimSpace(gitOut(t, w.repo.Dir, "rev-parse", head+"^")); parent != before.heads[w.branch] {
			t.Errorf("%s moved by more than one commit", w.branch)
		}
		if res.Outputs["via"] != "commit" || res.Outputs["commit"] != head {
			t.Errorf("result: via %q commit %q, want commit %s", res.Outputs["via"], res.Outputs["commit"], head)
		}
		return head
	}
	if now.heads[w.branch] != before.heads[w.branch] {
		t.Errorf("the merge-request route moved %s", w.branch)
	}
	mrs := w.gitlab.MergeRequests(w.gitlabProject)
	if len(mrs) != before.mrs+1 {
		t.Fatalf("%d merge requests, want %d", len(mrs), before.mrs+1)
	}
	mr := mrs[len(mrs)-1]
	if !strings.HasPrefix(mr.SourceBranch, "stepper/"+w.first+"/rollback-"+w.a+"-") || mr.TargetBranch != w.branch || mr.State != "opened" {
		t.Errorf("merge request %s → %s (%s)", mr.SourceBranch, mr.TargetBranch, mr.State)
	}
	if !slices.Contains(mr.Labels, "rollback") {
		t.Errorf("merge request labels %v lack rollback", mr.Labels)
	}
	head := now.heads[mr.SourceBranch]
	if res.Outputs["via"] != "merge-request" || res.Outputs["merge-request"] == "" {
		t.Errorf("result: via %q merge request %q", res.Outputs["via"], res.Outputs["merge-request"])
	}
	assertContains(t, "the merge request's description", mr.Description, "Reason:", "Undoes:", "```diff")
	w.mergeOpen(t)
	return head
}

// assertRollbackCommit checks the trailers and subject of a rollback commit.
func (w *grWorld) assertRollbackCommit(t *testing.T, commit, app string, to grBuild, reverts, reason string) {
	t.Helper()
	msg := gitOut(t, w.repo.Dir, "log", "-1", "--format=%B", commit)
	assertContains(t, "the rollback commit", msg,
		fmt.Sprintf("rollback %s in %s to %s: %s", app, w.first, to.short(), reason),
		"Stepper-Action: rollback", "Stepper-App: "+app, "Stepper-Env: "+w.first, "Stepper-Digest: "+to.digest,
		"Stepper-Hold: true", "Stepper-Reverts: "+reverts, "Stepper-Reason: "+reason, "Stepper-Actor: alice",
		"Stepper-Pipeline: https://gitlab.example.test/vendor/"+w.app+"/-/pipelines/7")
	if n := strings.Count(msg, "Stepper-App:"); n != 1 {
		t.Errorf("the rollback commit names %d apps, want 1:\n%s", n, msg)
	}
}

// assertFiles compares the first environment's files at rev with want.
func (w *grWorld) assertFiles(t *testing.T, what, rev string, want map[string]string) {
	t.Helper()
	got := w.read(t, rev)
	for _, p := range w.files {
		if got[p] != want[p] {
			t.Errorf("%s: %s is not as expected:\n%s", what, p, grLineDiff(want[p], got[p]))
		}
	}
}

// grLineDiff lists the lines that differ between want and got.
func grLineDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := range max(len(wl), len(gl)) {
		var x, y string
		if i < len(wl) {
			x = wl[i]
		}
		if i < len(gl) {
			y = gl[i]
		}
		if x != y {
			fmt.Fprintf(&b, "line %d:\n  want %q\n  got  %q\n", i+1, x, y)
		}
	}
	return b.String()
}

// grHeld turns the live setter comments of app's image lines into the form a
// rollback holds them in.
func grHeld(app string) func(string) string {
	return func(s string) string {
		return strings.ReplaceAll(s, `{"$imagepolicy": "flux-system:`+app+`-`, `{"$imagepolicy-held-by-stepper": "flux-system:`+app+`-`)
	}
}

// grEach applies edit to every file of files.
func grEach(files map[string]string, edit func(string) string) map[string]string {
	out := map[string]string{}
	for p, s := range files {
		out[p] = edit(s)
	}
	return out
}

// grCandidates decodes the JSON printed by rollback --history -o json.
func grCandidates(t *testing.T, stdout string) []grCandidate {
	t.Helper()
	var res struct {
		Details []grCandidate `json:"details"`
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("rollback --history -o json: %v\n%s", err, stdout)
	}
	return res.Details
}

type grCandidate struct {
	Time         time.Time `json:"time"`
	Action       string    `json:"action"`
	Image        string    `json:"image"`
	Digest       string    `json:"digest"`
	ChartVersion string    `json:"chartVersion"`
	Actor        string    `json:"actor"`
	Reason       string    `json:"reason"`
	Hold         bool      `json:"hold"`
	Commit       string    `json:"commit"`
	Current      bool      `json:"current"`
}
