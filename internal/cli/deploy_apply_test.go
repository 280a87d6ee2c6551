package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/stepper-cd/stepper/internal/helm"
	"github.com/stepper-cd/stepper/internal/report"
	"github.com/stepper-cd/stepper/internal/testenv"
)

// kubePlatform is the local Kubernetes that deploy --apply deploys to; the
// build-sign-push tests' platform has none. TestMain stops it.
var kubePlatform = testenv.NewShared(testenv.Options{SkipGit: true, SkipRegistry: true, SkipReferrersRegistry: true})

// applyEnv is the stepper environment every apply test deploys to.
const applyEnv = "devtest"

// chaosValues make kwok fail every pod of the release before it is Ready:
// a crash-looping version.
var chaosValues = fmt.Sprintf("podLabels:\n  %s: \"true\"\n", testenv.ChaosFailBeforeReady)

// unschedulableValues ask for more CPU than any node has: the pods stay
// Pending, which the waiter reports only after its grace period.
const unschedulableValues = "resources:\n  requests: {cpu: \"100000\"}\n"

// applyFixture is a cluster, a chart repository serving patient-api 1.4.0
// and 1.5.0, a stepper.yaml with one environment, and a directory for the
// desired state.
type applyFixture struct {
	kubeconfig string
	client     kubernetes.Interface
	cluster    helm.Cluster
	helm       *helm.Client
	repoURL    string
	config     string
	state      string // the desired state's directory
	prefix     string // of this fixture's namespaces
	// environ is the apply job's: the platform's registry credentials, no
	// CI project (it applies every app).
	environ []string
	// imageRepo and imageDigest are an image built, signed with the
	// approved key and pushed: the apply job installs only such images.
	imageRepo, imageDigest string
	host                   string // the registry
}

var applyFixtures atomic.Int64

func newApplyFixture(t testing.TB) *applyFixture {
	t.Helper()
	k := kubePlatform.Get(t).Kube
	client, err := kubernetes.NewForConfig(k.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	url, _ := chartRepo(t, map[string]string{"1.4.0": "", "1.5.0": ""}, false)
	f := &applyFixture{
		kubeconfig: k.Kubeconfig, client: client, cluster: helm.Cluster{Kubeconfig: k.Kubeconfig},
		helm: helm.New(helm.Options{CacheDir: t.TempDir()}), repoURL: url, state: t.TempDir(),
		prefix: fmt.Sprintf("ap%d-%d", time.Now().Unix()%100000, applyFixtures.Add(1)),
	}
	bsp := newBSPFixture(t, "environments:\n  - name: "+applyEnv+"\n")
	args := bsp.args(t, "--tag", "2.7.0", "--allow-retag")
	if r := runCLI(t, bsp.environ, args...); r.code != 0 {
		t.Fatalf("build-sign-push: exit %d\n%s", r.code, r.stderr)
	}
	res := resultOf(t, args)
	f.imageRepo, f.imageDigest, f.config, f.host = res.Image, res.Digest, bsp.config, bsp.host
	for _, kv := range bsp.environ {
		if !strings.HasPrefix(kv, "CI_PROJECT_NAME=") {
			f.environ = append(f.environ, kv)
		}
	}
	return f
}

// ns is a namespace of this fixture.
func (f *applyFixture) ns(name string) string { return f.prefix + "-" + name }

// dsfApp is one app of a Helmsman desired-state file.
type dsfApp struct {
	name, ns, version string
	priority          int
	replicas          int // 2 when 0
	protected         bool
	valuesFiles       []string // relative to the state directory
}

// writeDSF writes a Helmsman desired-state file of apps, every one
// patient-api, and returns its path.
func (f *applyFixture) writeDSF(t testing.TB, apps ...dsfApp) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("namespaces:\n")
	var seen []string
	for _, a := range apps {
		if !slices.Contains(seen, a.ns) {
			seen = append(seen, a.ns)
			fmt.Fprintf(&b, "  %s:\n", a.ns)
		}
	}
	fmt.Fprintf(&b, "helmRepos:\n  local: %q\napps:\n", f.repoURL)
	for _, a := range apps {
		fmt.Fprintf(&b, "  %s:\n    namespace: %s\n    enabled: true\n    chart: local/patient-api\n    version: %s\n    priority: %d\n",
			a.name, a.ns, a.version, a.priority)
		if a.protected {
			b.WriteString("    protected: true\n")
		}
		if len(a.valuesFiles) > 0 {
			fmt.Fprintf(&b, "    valuesFiles: [%s]\n", strings.Join(a.valuesFiles, ", "))
		}
		replicas := a.replicas
		if replicas == 0 {
			replicas = 2
		}
		fmt.Fprintf(&b, "    set:\n      image.repository: %s\n      image.tag: \"2.7.0\"\n      image.digest: %q\n"+
			"      autoscaling.enabled: false\n      replicaCount: %d\n", f.imageRepo, f.imageDigest, replicas)
	}
	path := filepath.Join(f.state, "dsf.yaml")
	f.writeState(t, "dsf.yaml", b.String())
	return path
}

// writeState writes a file of the desired state's directory.
func (f *applyFixture) writeState(t testing.TB, name, body string) {
	t.Helper()
	path := filepath.Join(f.state, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// args are the command line of an apply of state.
func (f *applyFixture) args(state string, extra ...string) []string {
	return append([]string{"--config", f.config, "--log-format", "json", "deploy", "--env", applyEnv,
		"--apply", "--state", state, "--kubeconfig", f.kubeconfig, "--timeout", "2m"}, extra...)
}

// apply runs stepper deploy --apply and fails the test unless it exits 0.
func (f *applyFixture) apply(t testing.TB, state string, extra ...string) run {
	t.Helper()
	r := runCLI(t, f.environ, f.args(state, extra...)...)
	if r.code != 0 {
		t.Fatalf("apply: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	return r
}

// history is the release's revisions as "1:superseded 2:deployed".
func (f *applyFixture) history(t testing.TB, name, ns string) string {
	t.Helper()
	hist, err := f.helm.History(t.Context(), f.cluster, name, ns)
	if err != nil {
		t.Fatal(err)
	}
	var parts []string
	for _, r := range hist {
		parts = append(parts, fmt.Sprintf("%d:%s", r.Revision, r.Status))
	}
	return strings.Join(parts, " ")
}

// ready fails the test unless the Deployment has rolled out completely.
func (f *applyFixture) ready(t testing.TB, name, ns string) {
	t.Helper()
	d, err := f.client.AppsV1().Deployments(ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("deployment %s/%s: %v", ns, name, err)
	}
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	s := d.Status
	if s.ObservedGeneration < d.Generation || s.UpdatedReplicas != want || s.ReadyReplicas != want || s.Replicas != want {
		t.Errorf("deployment %s/%s is not rolled out: want %d replicas, status %+v", ns, name, want, s)
	}
}

// podLabel is a label of the Deployment's pod template, "" if missing.
func (f *applyFixture) podLabel(t testing.TB, name, ns, key string) string {
	t.Helper()
	d, err := f.client.AppsV1().Deployments(ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("deployment %s/%s: %v", ns, name, err)
	}
	return d.Spec.Template.Labels[key]
}

// helmCLI runs helmCmd and fails the test unless it succeeds.
func (f *applyFixture) helmCLI(t testing.TB, tool string, args ...string) string {
	t.Helper()
	out, err := f.helmCmd(t, tool, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", tool, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// helmCmd is a command of a helm CLI (helm, helm3 or helmfile) against the
// fixture's cluster, with caches of its own.
func (f *applyFixture) helmCmd(t testing.TB, tool string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), testenv.RequireTool(t, tool), args...)
	cmd.Env = append(helmEnv(t.TempDir()), "KUBECONFIG="+f.kubeconfig)
	return cmd
}

// helmEnv is the environment of a helm or helmfile process whose caches,
// configuration and data live under dir.
func helmEnv(dir string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HELM_") && !strings.HasPrefix(kv, "KUBECONFIG=") {
			env = append(env, kv)
		}
	}
	return append(env, "HELM_CACHE_HOME="+filepath.Join(dir, "cache"), "HELM_CONFIG_HOME="+filepath.Join(dir, "config"),
		"HELM_DATA_HOME="+filepath.Join(dir, "data"))
}

// A Helmsman desired state of four apps in two namespaces and two
// priorities, plus a protected one: apply installs the four and skips the
// protected one, applying again upgrades, and a dry run plans without
// changing anything.
func TestApplyHelmsmanMultiApp(t *testing.T) {
	t.Parallel()
	f := newApplyFixture(t)
	backend, frontend := f.ns("backend"), f.ns("frontend")
	apps := []dsfApp{
		{name: "records", ns: backend, version: "1.4.0", priority: -10},
		{name: "search", ns: backend, version: "1.4.0", priority: -10},
		{name: "portal", ns: frontend, version: "1.4.0"},
		{name: "booking", ns: frontend, version: "1.4.0"},
		{name: "billing", ns: backend, version: "1.4.0", protected: true},
	}
	dsf := f.writeDSF(t, apps...)

	r := f.apply(t, dsf)
	// Each revision names the job (stable across its retries) and this
	// run's URL, so a retry recognises its own stale lock.
	secrets, err := f.client.CoreV1().Secrets(backend).List(t.Context(), metav1.ListOptions{LabelSelector: "owner=helm,name=records"})
	if err != nil || len(secrets.Items) != 1 {
		t.Fatalf("release secrets of records: %v, %v", secrets, err)
	}
	if l := secrets.Items[0].Labels; l[helm.LabelOwnerURL] == "" || !strings.Contains(l[helm.LabelOwner], "vendor-x") && l[helm.LabelOwner] == "" {
		t.Errorf("release labels %v lack the owner and its job URL", l)
	}
	for _, a := range apps[:4] {
		f.ready(t, a.name, a.ns)
		if h := f.history(t, a.name, a.ns); h != "1:deployed" {
			t.Errorf("%s: history %q, want 1:deployed", a.name, h)
		}
	}
	if h := f.history(t, "billing", backend); h != "" {
		t.Errorf("protected app billing was applied: history %q", h)
	}
	if !strings.Contains(r.stderr, "protected release skipped") {
		t.Errorf("no log line says the protected app was skipped:\n%s", r.stderr)
	}

	f.apply(t, dsf)
	for _, a := range apps[:4] {
		f.ready(t, a.name, a.ns)
		if h := f.history(t, a.name, a.ns); h != "1:superseded 2:deployed" {
			t.Errorf("%s after the second apply: history %q, want 1:superseded 2:deployed", a.name, h)
		}
	}

	// A dry run of: records scaled to 3, a new app, the rest as it is.
	apps[0].replicas = 3
	apps = append(apps, dsfApp{name: "audit", ns: frontend, version: "1.4.0"})
	dsf = f.writeDSF(t, apps...)
	r = f.apply(t, dsf, "--dry-run")
	for _, want := range []string{
		"upgrade    " + backend + "/records", "unchanged  " + backend + "/search", "unchanged  " + frontend + "/portal",
		"unchanged  " + frontend + "/booking", "install    " + frontend + "/audit", "-  replicas: 2\n+  replicas: 3",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the plan lacks %q:\n%s", want, r.stdout)
		}
	}
	for _, a := range apps[:4] {
		if h := f.history(t, a.name, a.ns); h != "1:superseded 2:deployed" {
			t.Errorf("%s after the dry run: history %q, want it unchanged", a.name, h)
		}
	}
	if h := f.history(t, "audit", frontend); h != "" {
		t.Errorf("the dry run installed audit: history %q", h)
	}
}

// A version whose pods fail before they are ever Ready: the apply fails
// fast, names the pod and why, and rolls the release back.
func TestApplyCrashLoopRollsBack(t *testing.T) {
	t.Parallel()
	f := newApplyFixture(t)
	ns := f.ns("app")
	f.apply(t, f.writeDSF(t, dsfApp{name: "records", ns: ns, version: "1.4.0"}))

	f.writeState(t, "chaos.yaml", chaosValues)
	result := filepath.Join(t.TempDir(), "result.json")
	args := append([]string{"--result", result}, f.args(f.writeDSF(t, dsfApp{name: "records", ns: ns, version: "1.5.0", valuesFiles: []string{"chaos.yaml"}}),
		"--rollback-on-failure")...)
	start := time.Now()
	r := runCLI(t, f.environ, args...)
	t.Logf("the failing apply took %s, rollback included", time.Since(start).Round(time.Millisecond))
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"pod records-", "is Failed", "Deployment/" + ns + "/records", "rolled back to revision 1"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	res, err := report.ReadJSON(result)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Checks) != 1 || res.Checks[0].Status != report.Failed || !strings.Contains(res.Checks[0].Message, "rolled back to revision 1") {
		t.Errorf("result checks %+v, want %s/records failed and rolled back to revision 1", res.Checks, ns)
	}

	if h := f.history(t, "records", ns); h != "1:superseded 2:failed 3:deployed" {
		t.Errorf("history %q, want 1:superseded 2:failed 3:deployed", h)
	}
	st, err := f.helm.Status(t.Context(), f.cluster, "records", ns)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != "deployed" || st.RolledBackTo != 1 || st.Chart != "patient-api-1.4.0" {
		t.Errorf("status %s, rolled back to %d, chart %s; want deployed, 1, patient-api-1.4.0", st.Status, st.RolledBackTo, st.Chart)
	}
	if l := f.podLabel(t, "records", ns, testenv.ChaosFailBeforeReady); l != "" {
		t.Errorf("the rolled back Deployment still has the crashing version's pods (%s=%s)", testenv.ChaosFailBeforeReady, l)
	}
	f.ready(t, "records", ns)
}

// An apply killed in the middle of its wait leaves no pending revision
// behind, and the next apply of a good version succeeds.
func TestApplyInterruptedThenRedeployed(t *testing.T) {
	t.Parallel()
	f := newApplyFixture(t)
	ns := f.ns("app")
	f.apply(t, f.writeDSF(t, dsfApp{name: "records", ns: ns, version: "1.4.0"}))

	f.writeState(t, "unschedulable.yaml", unschedulableValues)
	args := f.args(f.writeDSF(t, dsfApp{name: "records", ns: ns, version: "1.5.0", valuesFiles: []string{"unschedulable.yaml"}}))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan run, 1)
	go func() {
		var out, errb bytes.Buffer
		code := Main(ctx, IO{Args: args, Environ: f.environ, Stdout: &out, Stderr: &errb})
		done <- run{code, out.String(), errb.String()}
	}()
	// Kill the run once the upgrade is waiting for its pods.
	deadline := time.Now().Add(time.Minute)
	for !strings.HasSuffix(f.history(t, "records", ns), "2:pending-upgrade") {
		if time.Now().After(deadline) {
			t.Fatalf("the upgrade never started waiting: history %q", f.history(t, "records", ns))
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	killed := time.Now()
	cancel()
	var r run
	select {
	case r = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the cancelled apply did not return within 30s")
	}
	t.Logf("the cancelled apply returned %s after the cancel, exit %d", time.Since(killed).Round(time.Millisecond), r.code)
	if r.code == 0 {
		t.Fatalf("the cancelled apply exited 0\nstderr:\n%s", r.stderr)
	}
	if h := f.history(t, "records", ns); h != "1:deployed 2:failed" {
		t.Errorf("after the cancel: history %q, want 1:deployed 2:failed\nstderr:\n%s", h, r.stderr)
	}

	f.apply(t, f.writeDSF(t, dsfApp{name: "records", ns: ns, version: "1.5.0"}))
	if h := f.history(t, "records", ns); h != "1:superseded 2:failed 3:deployed" {
		t.Errorf("after the redeploy: history %q, want 1:superseded 2:failed 3:deployed", h)
	}
	f.ready(t, "records", ns)
	// The official CLI sees no pending operation either.
	if out := f.helmCLI(t, "helm", "history", "records", "-n", ns); strings.Contains(out, "pending") {
		t.Errorf("helm history shows a pending revision:\n%s", out)
	}
}

// A release installed with the Helm 3 CLI is upgraded by apply and rolled
// back, and Helm 3 still reads it.
func TestApplyUpgradesHelm3Release(t *testing.T) {
	t.Parallel()
	f := newApplyFixture(t)
	ns := f.ns("app")
	f.helmCLI(t, "helm3", "install", "records", "patient-api", "--repo", f.repoURL, "--version", "1.4.0",
		"-n", ns, "--create-namespace", "--wait", "--timeout", "2m",
		"--set", "image.repository=registry.example/vendor/patient-api,image.tag=2.6.1,autoscaling.enabled=false,replicaCount=2")

	f.apply(t, f.writeDSF(t, dsfApp{name: "records", ns: ns, version: "1.5.0"}))
	st, err := f.helm.Status(t.Context(), f.cluster, "records", ns)
	if err != nil {
		t.Fatal(err)
	}
	if st.Revision != 2 || st.Status != "deployed" || st.Chart != "patient-api-1.5.0" || st.ApplyMethod != helm.ApplyClientSide {
		t.Errorf("after apply: revision %d %s chart %s applied %s; want 2 deployed patient-api-1.5.0 client-side",
			st.Revision, st.Status, st.Chart, st.ApplyMethod)
	}
	f.ready(t, "records", ns)

	rb, err := f.helm.Rollback(t.Context(), f.cluster, "records", ns, 0, helm.RollbackOptions{Wait: true, Timeout: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if rb.Revision != 3 || rb.RolledBackTo != 1 || rb.Status != "deployed" || rb.Chart != "patient-api-1.4.0" {
		t.Errorf("rollback: revision %d to %d %s chart %s; want 3 to 1 deployed patient-api-1.4.0", rb.Revision, rb.RolledBackTo, rb.Status, rb.Chart)
	}
	f.ready(t, "records", ns)
	out := f.helmCLI(t, "helm3", "status", "records", "-n", ns)
	if !strings.Contains(out, "REVISION: 3") || !strings.Contains(out, "STATUS: deployed") {
		t.Errorf("helm3 status after the rollback:\n%s", out)
	}
}

// A helmfile layout: per-environment values and a versions file.
func TestApplyHelmfile(t *testing.T) {
	t.Parallel()
	f := newApplyFixture(t)
	ns := f.ns("hocs")
	// helmfile's repositories: are not read for --apply yet, so the chart
	// comes from the local repository into the layout.
	f.helmCLI(t, "helm", "pull", "patient-api", "--repo", f.repoURL, "--version", "1.4.0", "--untar", "-d", filepath.Join(f.state, "charts"))
	f.writeState(t, "helmfile.yaml.gotmpl", fmt.Sprintf(`environments:
  %[1]s:
    values:
      - environments/%[1]s/versions.yaml
---
releases:
  - name: casework
    namespace: %[2]s
    chart: ./charts/patient-api
    values:
      - environments/{{ .Environment.Name }}/casework.yaml
      - image:
          repository: %[3]s
          tag: {{ .Values.versions.casework | quote }}
          digest: %[4]q
`, applyEnv, ns, f.imageRepo, f.imageDigest))
	f.writeState(t, "environments/"+applyEnv+"/versions.yaml", "versions:\n  casework: \"3.2.0\"\n")
	f.writeState(t, "environments/"+applyEnv+"/casework.yaml", "autoscaling:\n  enabled: false\nreplicaCount: 3\n")

	f.apply(t, f.state)
	f.ready(t, "casework", ns)
	d, err := f.client.AppsV1().Deployments(ns).Get(t.Context(), "casework", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if img := d.Spec.Template.Spec.Containers[0].Image; !strings.HasPrefix(img, f.imageRepo+":3.2.0") || *d.Spec.Replicas != 3 {
		t.Errorf("deployed image %s with %d replicas, want %s:3.2.0 from the versions file with 3", img, *d.Spec.Replicas, f.imageRepo)
	}
	if h := f.history(t, "casework", ns); h != "1:deployed" {
		t.Errorf("history %q, want 1:deployed", h)
	}
	// Addressed by its versions file, as the government's stepper.yaml
	// does, the layout's values files are still the helmfile's relative
	// paths.
	f.writeState(t, "environments/"+applyEnv+"/casework.yaml", "autoscaling:\n  enabled: false\nreplicaCount: 4\n")
	f.apply(t, f.state, "--config-set", "environments."+applyEnv+".desiredState.format=helmfile",
		"--config-set", "environments."+applyEnv+".desiredState.path=environments/"+applyEnv+"/versions.yaml")
	f.ready(t, "casework", ns)
	if d, err := f.client.AppsV1().Deployments(ns).Get(t.Context(), "casework", metav1.GetOptions{}); err != nil || *d.Spec.Replicas != 4 {
		t.Errorf("after the apply by the versions file: %v, want 4 replicas from environments/%s/casework.yaml", err, applyEnv)
	}
}
