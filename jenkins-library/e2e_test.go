package jenkinslibrary

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/stepper-cd/stepper/internal/testenv"
)

// The promotion job end to end: a release passed staging (built, signed,
// deployed by commit, smoke-tested with signed evidence); stepper promote
// into prod triggers the platform's Jenkins job, as a vendor's pipeline
// would. The job's build is promotionJob in the Groovy harness, with every
// sh really run: the real stepper, verified against the library's pin,
// promotes (checking privilege from the build's causes through the Jenkins
// API, and the group through GitLab's), commits to the environment
// repository on the local git server, applies prod's desired state to the
// kwok cluster and smoke-tests it. A build started by someone outside the
// group is refused by stepper although an SRE approved its input.
func TestPromotionJobEndToEnd(t *testing.T) {
	testenv.RequireTool(t, "groovy")
	helm := testenv.RequireTool(t, "helm")
	testenv.RequireTool(t, "git")
	if runtime.GOOS != "linux" {
		t.Skip("the pinned binary is built for linux here")
	}
	p := testenv.StartForTest(t, testenv.Options{SkipReferrersRegistry: true})
	w := newE2EWorld(t, p, helm)

	// mallory starts the job; alice, of sre, approves its input. stepper
	// asks Jenkins who started the build and refuses: nothing lands.
	before := w.head(t)
	w.jenkins.StartAs("mallory")
	r := w.stepper(t, w.outerEnv(), "promote", "--app", "patient-api", "--from", "staging", "--digest", w.v2, "--log-format", "json")
	if r.code != 1 || !strings.Contains(r.out, "ended UNSTABLE") {
		t.Fatalf("promote, the job started by mallory: exit %d, want 1 with the build UNSTABLE\n%s", r.code, r.out)
	}
	refused := w.lastRun(t)
	if refused.Result != "UNSTABLE" || !strings.Contains(refused.Description, "Refused: ") || !strings.Contains(refused.Description, "mallory") {
		t.Errorf("the refused build: %s\n%s", refused.Result, refused.Description)
	}
	if got := w.commands(refused); !slices.Equal(got, []string{"config", "promote"}) {
		t.Errorf("the refused build ran %v, want config and promote only", got)
	}
	if w.head(t) != before {
		t.Fatal("a promotion stepper refused committed to the environment repository")
	}
	if n := w.deployments(t); n != 0 {
		t.Fatalf("a refused promotion deployed %d workloads into prod", n)
	}

	// alice starts it and approves it: committed, applied, smoke-tested.
	w.jenkins.StartAs("alice")
	r = w.stepper(t, w.outerEnv(), "promote", "--app", "patient-api", "--from", "staging", "--digest", w.v2, "--log-format", "json")
	if r.code != 0 {
		t.Fatalf("promote into prod through the job: exit %d\n%s", r.code, r.out)
	}
	run := w.lastRun(t)
	if run.Result != "SUCCESS" {
		t.Fatalf("the promotion job ended %s: %s\n%s", run.Result, run.Error, strings.Join(run.Log, "\n"))
	}
	if got := w.commands(run); !slices.Equal(got, []string{"config", "promote", "deploy", "smoke-test"}) {
		t.Errorf("the job ran %v", got)
	}
	head := w.head(t)
	if head == before {
		t.Fatal("nothing was committed to the environment repository")
	}
	msg := gitOut(t, w.repo.Dir, "log", "-1", "--format=%B", head)
	for _, want := range []string{"Stepper-Action: promote", "Stepper-Env: prod", "Stepper-From: staging", "Stepper-Actor: alice", "Stepper-Digest: " + w.v2} {
		if !strings.Contains(msg, want) {
			t.Errorf("the promotion commit lacks %q:\n%s", want, msg)
		}
	}
	dsf, err := w.repo.ReadFile(head, "prod/dsf.yaml")
	if err != nil || !strings.Contains(dsf, strings.TrimPrefix(w.v2, "sha256:")) {
		t.Errorf("prod/dsf.yaml does not name %s (%v):\n%s", w.v2, err, dsf)
	}
	if img := w.prodImage(t); !strings.Contains(img, w.v2) {
		t.Errorf("prod's workload runs %q, want the promoted digest %s", img, w.v2)
	}
	for _, want := range []string{"Promotion staging → prod: patient-api", "Promoted by alice (Jenkins build causes); approved by alice",
		"Gates: signed passed", "smoke-tested passed", "Landed by commit", "Deploy --apply: succeeded", "Smoke test patient-api: succeeded", "Result: SUCCESS"} {
		if !strings.Contains(run.Description, want) {
			t.Errorf("the build description lacks %q:\n%s", want, run.Description)
		}
	}
	t.Logf("the promotion job ran:\n%s\n\nits description:\n%s", strings.Join(run.Commands, "\n"), run.Description)
	builds := w.jenkins.Builds(e2eJob)
	if d := builds[len(builds)-1].Description; !strings.Contains(d, "alice") {
		t.Errorf("stepper set no audit record on the build through Jenkins' API: %q", d)
	}
	w.noSecrets(t, r.out, strings.Join(run.Log, "\n"), builds[len(builds)-1].Log)
	// Every STEPPER_* variable the library sets is a key stepper takes, but
	// for STEPPER_TRIGGERED_BY: internal/ci reads it (the approver, for the
	// records), while the configuration layer warns that it is no key.
	for _, line := range run.Log {
		if strings.Contains(line, "not a configuration key") && !strings.Contains(line, "STEPPER_TRIGGERED_BY ") {
			t.Errorf("stepper ignored a variable the library set: %s", line)
		}
	}
}

const e2eJob = "platform/promote-prod"

// e2eWorld is the platform the promotion runs on.
type e2eWorld struct {
	bin, groovy, dir, home string
	config                 string // stepper.yaml, in the job's workspace too
	workspace              string
	resources              string // the library's resources, pinned to bin
	host                   string // the registry
	repo                   *testenv.Repo
	kube                   *testenv.Kube
	jenkins                *testenv.FakeJenkins
	gitlab                 *testenv.FakeGitLab
	key                    testenv.CosignKey
	smokeURL               string
	v1, v2                 string // digests: what prod runs, what passed staging
	runs                   []e2eRun
}

// e2eRun is what the Groovy side wrote after a build.
type e2eRun struct {
	Result, Description, Error string
	Commands, Log              []string
}

func newE2EWorld(t *testing.T, p *testenv.Platform, helm string) *e2eWorld {
	t.Helper()
	w := &e2eWorld{bin: stepperBinary(t), groovy: testenv.RequireTool(t, "groovy"), dir: t.TempDir(), home: t.TempDir(),
		workspace: t.TempDir(), host: p.Registry.Host, kube: p.Kube}
	var err error
	if w.key, err = testenv.NewCosignKey(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	w.gitlab = testenv.StartFakeGitLab(t)
	w.gitlab.AddGroup("sre", "alice")
	w.gitlab.SetTokenUser("alice")
	w.jenkins = testenv.StartFakeJenkins(t)
	w.jenkins.AddJob(e2eJob, testenv.FakeJob{Run: w.runJob(t)})
	w.smokeURL = smokeServer(t)
	charts := chartRepository(t, helm)
	base, err := testenv.PushBaseImage(t.Context(), w.host, "e2e/base")
	if err != nil {
		t.Fatal(err)
	}

	// Both environments run v1; v2 is the release that moves.
	w.writeConfig(t, charts, p.Git.URL)
	w.v1 = w.build(t, base.String(), "1.0.0")
	w.v2 = w.build(t, base.String(), "1.1.0")
	dsf := func(env string) string {
		return fmt.Sprintf("namespaces:\n  %s:\nhelmRepos:\n  local: %q\napps:\n  patient-api:\n    namespace: %s\n    enabled: true\n"+
			"    chart: local/patient-api\n    version: 1.4.0\n    set:\n      image.repository: %s/e2e/patient-api\n      image.tag: \"1.0.0\"\n"+
			"      image.digest: %q\n      autoscaling.enabled: false\n      replicaCount: 2\n", env, charts, env, w.host, w.v1)
	}
	if w.repo, err = p.Git.NewRepo("e2e/desired-state", map[string]string{"staging/dsf.yaml": dsf("staging"), "prod/dsf.yaml": dsf("prod")}); err != nil {
		t.Fatal(err)
	}
	// v2 passes staging: deployed by commit, smoke-tested with signed evidence.
	if r := w.stepper(t, w.outerEnv(), "deploy", "--env", "staging", "--app", "patient-api", "--from-result", w.result("1.1.0"), "--log-format", "json"); r.code != 0 {
		t.Fatalf("deploy v2 into staging: exit %d\n%s", r.code, r.out)
	}
	if r := w.stepper(t, w.outerEnv(), "smoke-test", "--env", "staging", "--app", "patient-api", "--url", w.smokeURL, "--no-wait", "--soak", "0",
		"--from-result", w.result("1.1.0"), "--log-format", "json"); r.code != 0 {
		t.Fatalf("smoke-test v2 in staging: exit %d\n%s", r.code, r.out)
	}
	w.pinLibrary(t)
	return w
}

// writeConfig writes stepper.yaml: staging lands by commit, prod through
// the promotion job, only for group sre. The validated gate is off: this
// test is about the job, and the image is a test image that validate's
// container rules would reject.
func (w *e2eWorld) writeConfig(t *testing.T, charts, git string) {
	t.Helper()
	cfg := fmt.Sprintf(`chain: release
chains:
  release: [staging, prod]
registry:
  host: %[1]s
  project: e2e
baseImages:
  - %[1]s/e2e/base
signing:
  key: env://COSIGN_PRIVATE_KEY
  password: env://COSIGN_PASSWORD
  publicKeys:
    - {id: e2e, path: cosign.pub}
charts:
  repositories: [%[2]q]
gitlab: {url: %[3]q, token: env://GITLAB_TOKEN}
jenkins: {url: %[4]q, user: env://JENKINS_USER, token: env://JENKINS_TOKEN}
environments:
  - name: staging
    desiredState: {repo: %[5]q, branch: master, path: staging/dsf.yaml, format: helmsman}
    land: {via: commit}
  - name: prod
    desiredState: {repo: %[5]q, branch: master, path: prod/dsf.yaml, format: helmsman}
    land: {via: jenkins, job: %[6]s}
    promoters: [group:sre]
    gates: {off: [validated]}
`, w.host, charts, w.gitlab.URL, w.jenkins.URL, git+"/e2e/desired-state.git", e2eJob)
	for _, dir := range []string{w.dir, w.workspace} {
		if err := os.WriteFile(filepath.Join(dir, "stepper.yaml"), []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		copyFile(t, w.key.Public, filepath.Join(dir, "cosign.pub"))
	}
	w.config = filepath.Join(w.dir, "stepper.yaml")
}

// outerEnv is the environment of the stepper runs outside the job: the
// vendor's pipeline, with the bot's Jenkins token and the signing key.
func (w *e2eWorld) outerEnv() []string {
	key, _ := os.ReadFile(w.key.Private)
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + w.home, "STEPPER_CONFIG=" + w.config,
		"COSIGN_PRIVATE_KEY=" + string(key), "COSIGN_PASSWORD=" + testenv.TestOnlyKeyPassword,
		"GITLAB_TOKEN=" + w.gitlab.Token, "JENKINS_USER=" + w.jenkins.User, "JENKINS_TOKEN=" + w.jenkins.Token}
}

// build builds, pushes and signs patient-api:tag on base (the layers
// builder) and returns its digest.
func (w *e2eWorld) build(t *testing.T, base, tag string) string {
	t.Helper()
	app := filepath.Join(w.dir, "app-"+tag)
	if err := os.MkdirAll(app, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(app, "server"), []byte("#!/bin/false\npatient-api "+tag+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := w.stepper(t, w.outerEnv(), "build-sign-push", "--app", "patient-api", "--tag", tag, "--builder", "layers", "--base", base,
		"--layer", app+":/app", "--entrypoint", "/app/server", "--user", "65532:65532", "--result", w.result(tag), "--log-format", "json")
	if r.code != 0 {
		t.Fatalf("build-sign-push %s: exit %d\n%s", tag, r.code, r.out)
	}
	var res struct{ Digest string }
	b, err := os.ReadFile(w.result(tag))
	if err != nil || json.Unmarshal(b, &res) != nil || !strings.HasPrefix(res.Digest, "sha256:") {
		t.Fatalf("build-sign-push %s: no digest in its result (%v)", tag, err)
	}
	return res.Digest
}

func (w *e2eWorld) result(tag string) string { return filepath.Join(w.dir, "build-"+tag+".json") }

// pinLibrary writes resources whose pin is this build of stepper, to be
// fetched from a file:// URL and verified like a release.
func (w *e2eWorld) pinLibrary(t *testing.T) {
	t.Helper()
	b, err := os.ReadFile(w.bin)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	pin, _ := json.Marshal(map[string]any{
		"version": "e2e", "url": "file://" + w.bin,
		"sha256": map[string]string{runtime.GOOS + "-" + runtime.GOARCH: hex.EncodeToString(sum[:])},
	})
	w.resources = t.TempDir()
	dir := filepath.Join(w.resources, "dev", "stepper", "jenkins")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "stepper.json"), pin, 0o644); err != nil {
		t.Fatal(err)
	}
}

// runJob is the promotion job's build: promotionJob in the harness, with
// the build's parameters, URL and the job's credentials.
func (w *e2eWorld) runJob(t *testing.T) func(ctx context.Context, b *testenv.FakeBuild, log io.Writer) string {
	return func(ctx context.Context, b *testenv.FakeBuild, log io.Writer) string {
		key, _ := os.ReadFile(w.key.Private)
		kubeconfig, _ := os.ReadFile(w.kube.Kubeconfig)
		out := filepath.Join(w.dir, fmt.Sprintf("run-%d.json", b.Number))
		params := map[string]any{}
		for k, v := range b.Params {
			params[k] = v
		}
		for _, k := range []string{"ALL", "HOTFIX"} {
			params[k] = b.Params[k] == "true"
		}
		spec := map[string]any{
			"library": mustAbs(t, "."), "workspace": w.workspace, "resources": w.resources, "out": out,
			"env": map[string]string{"JOB_NAME": b.Job, "BUILD_URL": b.URL, "BUILD_NUMBER": fmt.Sprint(b.Number), "JENKINS_URL": w.jenkins.URL + "/",
				"HOME": w.home, "PATH": os.Getenv("PATH"), "STEPPER_LOG_FORMAT": "json"},
			"credentials": map[string]any{
				"platform-kubeconfig": map[string]string{"type": "file", "fileName": "kubeconfig", "content": string(kubeconfig)},
				"evidence-key":        map[string]string{"type": "file", "fileName": "evidence.key", "content": string(key)},
				"evidence-password":   map[string]string{"type": "string", "secret": testenv.TestOnlyKeyPassword},
				"platform-gitlab":     map[string]string{"type": "string", "secret": w.gitlab.Token},
				"platform-jenkins":    map[string]string{"type": "usernamePassword", "username": w.jenkins.User, "password": w.jenkins.Token},
			},
			"users":   map[string][]string{"alice": {"sre"}, "mallory": {}},
			"answers": []map[string]string{{"user": "alice", "action": "proceed"}},
			"params":  params,
			"args": map[string]any{
				"config": "stepper.yaml", "checkout": false,
				"smokeTestPerEnv": map[string]any{"prod": map[string]any{"url": w.smokeURL, "soak": "0", "timeout": "3m"}},
				"deploy":          map[string]any{"rollbackOnFailure": true, "timeout": "3m"},
				"credentials": map[string]string{"kubeconfig": "platform-kubeconfig", "evidenceKey": "evidence-key",
					"evidencePassword": "evidence-password", "gitlab": "platform-gitlab", "jenkins": "platform-jenkins"},
			},
		}
		specFile := filepath.Join(w.dir, fmt.Sprintf("spec-%d.json", b.Number))
		sb, _ := json.Marshal(spec)
		if err := os.WriteFile(specFile, sb, 0o600); err != nil {
			fmt.Fprintln(log, err)
			return "FAILURE"
		}
		cmd := exec.CommandContext(ctx, w.groovy, filepath.Join("test", "e2e", "promotionJob.groovy"))
		cmd.Env = append(os.Environ(), "JAVA_HOME="+javaHome(), "E2E_SPEC="+specFile, "HARNESS_VERBOSE=1")
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(log, "groovy: %v\n", err)
			return "FAILURE"
		}
		var run e2eRun
		rb, err := os.ReadFile(out)
		if err != nil || json.Unmarshal(rb, &run) != nil {
			fmt.Fprintf(log, "no outcome from the harness: %v\n", err)
			return "FAILURE"
		}
		w.runs = append(w.runs, run)
		return run.Result
	}
}

func (w *e2eWorld) lastRun(t *testing.T) e2eRun {
	t.Helper()
	if len(w.runs) == 0 {
		t.Fatal("the promotion job never ran")
	}
	return w.runs[len(w.runs)-1]
}

// commands are the verbs a run's stepper command lines ran.
func (w *e2eWorld) commands(r e2eRun) []string {
	var out []string
	for _, c := range r.Commands {
		out = append(out, strings.Fields(c)[1])
	}
	return out
}

type e2eResult struct {
	code int
	out  string
}

// stepper runs the binary in a fresh directory with env only.
func (w *e2eWorld) stepper(t *testing.T, env []string, args ...string) e2eResult {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), w.bin, args...)
	cmd.Env, cmd.Dir = env, t.TempDir()
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return e2eResult{code, string(out)}
}

func (w *e2eWorld) head(t *testing.T) string {
	t.Helper()
	h, err := w.repo.Rev("master")
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func (w *e2eWorld) client(t *testing.T) kubernetes.Interface {
	t.Helper()
	c, err := kubernetes.NewForConfig(w.kube.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (w *e2eWorld) deployments(t *testing.T) int {
	t.Helper()
	l, err := w.client(t).AppsV1().Deployments("prod").List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return len(l.Items)
}

// prodImage is the image prod's patient-api workload runs.
func (w *e2eWorld) prodImage(t *testing.T) string {
	t.Helper()
	l, err := w.client(t).AppsV1().Deployments("prod").List(t.Context(), metav1.ListOptions{})
	if err != nil || len(l.Items) != 1 {
		t.Fatalf("prod's deployments: %v (%d)", err, len(l.Items))
	}
	return l.Items[0].Spec.Template.Spec.Containers[0].Image
}

// noSecrets: no credential the job bound is in the outer run's output, the
// harness's log or the build's console.
func (w *e2eWorld) noSecrets(t *testing.T, outputs ...string) {
	t.Helper()
	key, _ := os.ReadFile(w.key.Private)
	secrets := map[string]string{
		"the GitLab token": w.gitlab.Token, "the Jenkins token": w.jenkins.Token, "the key's password": testenv.TestOnlyKeyPassword,
	}
	for i, line := range strings.Split(string(key), "\n") {
		if len(line) > 40 {
			secrets[fmt.Sprintf("line %d of the signing key", i+1)] = line
		}
	}
	kc, _ := os.ReadFile(w.kube.Kubeconfig)
	for _, line := range strings.Split(string(kc), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ": "); ok && (k == "token" || strings.HasSuffix(k, "-data")) && len(v) > 16 {
			secrets["the kubeconfig's "+k] = strings.Trim(v, `"`)
		}
	}
	for what, s := range secrets {
		for i, out := range outputs {
			if strings.Contains(out, s) {
				t.Errorf("%s is in output %d", what, i)
			}
		}
	}
}

// smokeServer answers every path with 200, as the deployed app would.
func smokeServer(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"status":"ok"}`)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// chartRepository serves testdata/validate/charts/patient-api (1.4.0)
// packaged and indexed by the helm CLI.
func chartRepository(t *testing.T, helm string) string {
	t.Helper()
	dir := t.TempDir()
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(srv.Close)
	if out, err := exec.Command(helm, "package", mustAbs(t, filepath.Join("..", "testdata", "validate", "charts", "patient-api")), "-d", dir).CombinedOutput(); err != nil {
		t.Fatalf("helm package: %v\n%s", err, out)
	}
	if out, err := exec.Command(helm, "repo", "index", dir, "--url", srv.URL).CombinedOutput(); err != nil {
		t.Fatalf("helm repo index: %v\n%s", err, out)
	}
	return srv.URL
}

func gitOut(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
