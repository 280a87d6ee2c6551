package helm_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	rcommon "helm.sh/helm/v4/pkg/release/common"
	release "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage/driver"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/helm"
	"github.com/stepper-cd/stepper/internal/logging"
	"github.com/stepper-cd/stepper/internal/testenv"
)

// kubePlatform is the local Kubernetes the release tests deploy to.
var kubePlatform = testenv.NewShared(testenv.Options{SkipGit: true, SkipRegistry: true, SkipReferrersRegistry: true})

// kubeEnv is one test's view of the cluster: its own namespace.
type kubeEnv struct {
	kube    *testenv.Kube
	cluster helm.Cluster
	client  kubernetes.Interface
	ns      string
	helm    *helm.Client
	app     *helm.LoadedChart
}

var nsCounter atomic.Int64

func newKubeEnv(t *testing.T) *kubeEnv {
	t.Helper()
	k := kubePlatform.Get(t).Kube
	client, err := kubernetes.NewForConfig(k.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	ns := fmt.Sprintf("rel-%d-%d", time.Now().Unix()%100000, nsCounter.Add(1))
	if _, err := client.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c := newClient(t)
	app, err := c.Load(t.Context(), helm.ChartRef{Path: "testdata/charts/app"})
	if err != nil {
		t.Fatal(err)
	}
	return &kubeEnv{kube: k, cluster: helm.Cluster{Kubeconfig: k.Kubeconfig}, client: client, ns: ns, helm: c, app: app}
}

// opts are upgrade options for the app chart with Helm's waiter.
func (e *kubeEnv) opts(name string, vals map[string]any) helm.UpgradeOptions {
	return helm.UpgradeOptions{Release: name, Namespace: e.ns, Chart: e.app, Values: vals, Wait: true,
		Timeout: 30 * time.Second, Owner: "https://gitlab.example/group/app/-/jobs/1"}
}

func (e *kubeEnv) configMap(t *testing.T, name string) map[string]string {
	t.Helper()
	cm, err := e.client.CoreV1().ConfigMaps(e.ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cm.Data
}

// history is the release's revisions as "1:superseded 2:deployed".
func (e *kubeEnv) history(t *testing.T, name string) string {
	t.Helper()
	hist, err := e.helm.History(t.Context(), e.cluster, name, e.ns)
	if err != nil {
		t.Fatal(err)
	}
	var parts []string
	for _, r := range hist {
		parts = append(parts, fmt.Sprintf("%d:%s", r.Revision, r.Status))
	}
	return strings.Join(parts, " ")
}

func chaos() map[string]any {
	return map[string]any{"tag": "v2-broken", "podLabels": map[string]any{testenv.ChaosFailBeforeReady: "true"}}
}

func wantClass(t *testing.T, err error, want exit.Class) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want a %s error", want)
	}
	if got := exit.ClassOf(err); got != want {
		t.Fatalf("class %s, want %s: %v", got, want, err)
	}
}

func TestUpgradeInstallsUpgradesAndPlans(t *testing.T) {
	t.Parallel()
	e := newKubeEnv(t)
	ctx := t.Context()

	plan, err := e.helm.Plan(ctx, e.cluster, e.opts("web", nil))
	if err != nil {
		t.Fatal(err)
	}
	if plan.Action != helm.ActionInstall || !strings.Contains(plan.Diff, "+kind: Deployment") {
		t.Fatalf("plan before install: %s\n%s", plan.Action, plan.Diff)
	}

	res, err := e.helm.Upgrade(ctx, e.cluster, e.opts("web", nil))
	if err != nil {
		t.Fatal(err)
	}
	if res.Action != helm.ActionInstall || res.Revision != 1 || res.Status != "deployed" || res.ApplyMethod != helm.ApplyServerSide {
		t.Fatalf("install: %+v", res)
	}
	cm, err := e.client.CoreV1().ConfigMaps(e.ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var managers []string
	for _, f := range cm.ManagedFields {
		managers = append(managers, f.Manager+"/"+string(f.Operation))
	}
	if strings.Join(managers, ",") != "stepper/Apply" {
		t.Errorf("field managers %v, want only stepper/Apply", managers)
	}

	plan, err = e.helm.Plan(ctx, e.cluster, e.opts("web", nil))
	if err != nil {
		t.Fatal(err)
	}
	if plan.Action != helm.ActionUnchanged || plan.Diff != "" {
		t.Fatalf("plan of the same: %s\n%s", plan.Action, plan.Diff)
	}
	plan, err = e.helm.Plan(ctx, e.cluster, e.opts("web", map[string]any{"tag": "v2"}))
	if err != nil {
		t.Fatal(err)
	}
	if plan.Action != helm.ActionUpgrade || plan.Revision != 2 ||
		!strings.Contains(plan.Diff, "-  TAG: \"v1\"") || !strings.Contains(plan.Diff, "+  TAG: \"v2\"") {
		t.Fatalf("plan of v2: %s %d\n%s", plan.Action, plan.Revision, plan.Diff)
	}
	if got := e.history(t, "web"); got != "1:deployed" {
		t.Fatalf("a plan changed the history: %s", got)
	}

	res, err = e.helm.Upgrade(ctx, e.cluster, e.opts("web", map[string]any{"tag": "v2"}))
	if err != nil {
		t.Fatal(err)
	}
	if res.Action != helm.ActionUpgrade || res.Revision != 2 || res.Owner != "https___gitlab.example_group_app_-_jobs_1" {
		t.Fatalf("upgrade: %+v", res)
	}
	if got := e.configMap(t, "web")["TAG"]; got != "v2" {
		t.Fatalf("TAG %q after the upgrade", got)
	}
	st, err := e.helm.Status(ctx, e.cluster, "web", e.ns)
	if err != nil || st.Revision != 2 || st.Status != "deployed" || st.Chart != "app-0.1.0" {
		t.Fatalf("status: %+v, %v", st, err)
	}

	res, err = e.helm.Rollback(ctx, e.cluster, "web", e.ns, 0, helm.RollbackOptions{Wait: true, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.Action != helm.ActionRolledBack || res.RolledBackTo != 1 || res.Revision != 3 {
		t.Fatalf("rollback: %+v", res)
	}
	if got := e.configMap(t, "web")["TAG"]; got != "v1" {
		t.Fatalf("TAG %q after the rollback", got)
	}
	if got := e.history(t, "web"); got != "1:superseded 2:superseded 3:deployed" {
		t.Fatalf("history %s", got)
	}
	_, err = e.helm.Rollback(ctx, e.cluster, "web", e.ns, 9, helm.RollbackOptions{})
	wantClass(t, err, exit.Usage)
}

// A release the Helm 3 CLI installed applies client-side, has no apply
// method recorded, and must upgrade and roll back through stepper.
func TestHelm3ReleaseUpgradesAndRollsBack(t *testing.T) {
	t.Parallel()
	e := newKubeEnv(t)
	ctx := t.Context()
	helm3 := testenv.RequireTool(t, "helm3")
	home := t.TempDir()
	cmd := exec.CommandContext(ctx, helm3, "install", "legacy", "testdata/charts/app", "--namespace", e.ns, "--wait", "--timeout", "60s")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+e.kube.Kubeconfig,
		"HELM_CACHE_HOME="+home+"/cache", "HELM_CONFIG_HOME="+home+"/config", "HELM_DATA_HOME="+home+"/data")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("helm3 install: %v\n%s", err, out)
	}

	res, err := e.helm.Upgrade(ctx, e.cluster, e.opts("legacy", map[string]any{"tag": "v2"}))
	if err != nil {
		t.Fatal(err)
	}
	if res.Revision != 2 || res.Action != helm.ActionUpgrade || res.ApplyMethod != helm.ApplyClientSide {
		t.Fatalf("upgrade of a Helm 3 release: %+v", res)
	}
	if got := e.configMap(t, "legacy")["TAG"]; got != "v2" {
		t.Fatalf("TAG %q after the upgrade", got)
	}
	res, err = e.helm.Rollback(ctx, e.cluster, "legacy", e.ns, 1, helm.RollbackOptions{Wait: true, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.Revision != 3 || res.RolledBackTo != 1 || res.ApplyMethod != helm.ApplyClientSide {
		t.Fatalf("rollback: %+v", res)
	}
	if got := e.configMap(t, "legacy")["TAG"]; got != "v1" {
		t.Fatalf("TAG %q after the rollback", got)
	}
	if got := e.history(t, "legacy"); got != "1:superseded 2:superseded 3:deployed" {
		t.Fatalf("history %s", got)
	}
	dep, err := e.client.AppsV1().Deployments(e.ns).Get(ctx, "legacy", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if img := dep.Spec.Template.Spec.Containers[0].Image; img != "registry.example/app:v1" {
		t.Fatalf("image %s after the rollback", img)
	}
	// And the Helm 3 CLI still reads the history stepper wrote.
	cmd = exec.CommandContext(ctx, helm3, "history", "legacy", "--namespace", e.ns)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+e.kube.Kubeconfig)
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "Rollback to 1") {
		t.Fatalf("helm3 history: %v\n%s", err, out)
	}
}

// Fields another manager took over are a conflict that fails the upgrade;
// stepper never forces them unless asked.
func TestApplyConflictIsReported(t *testing.T) {
	t.Parallel()
	e := newKubeEnv(t)
	ctx := t.Context()
	if _, err := e.helm.Upgrade(ctx, e.cluster, e.opts("conf", nil)); err != nil {
		t.Fatal(err)
	}
	force := true
	patch := []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"conf"},"data":{"LOG_LEVEL":"debug"}}`)
	if _, err := e.client.CoreV1().ConfigMaps(e.ns).Patch(ctx, "conf", "application/apply-patch+yaml", patch,
		metav1.PatchOptions{FieldManager: "kubectl", Force: &force}); err != nil {
		t.Fatal(err)
	}

	_, err := e.helm.Upgrade(ctx, e.cluster, e.opts("conf", map[string]any{"tag": "v2"}))
	wantClass(t, err, exit.Failed)
	if !strings.Contains(err.Error(), "conflict") || !strings.Contains(err.Error(), "kubectl") {
		t.Fatalf("error does not report the conflict: %v", err)
	}
	if got := e.configMap(t, "conf")["LOG_LEVEL"]; got != "debug" {
		t.Fatalf("the other manager's value was overwritten: %q", got)
	}
	if got := e.history(t, "conf"); got != "1:deployed 2:failed" {
		t.Fatalf("history %s", got)
	}

	o := e.opts("conf", map[string]any{"tag": "v2"})
	o.ForceConflicts = true
	if _, err := e.helm.Upgrade(ctx, e.cluster, o); err != nil {
		t.Fatal(err)
	}
	if got := e.configMap(t, "conf")["LOG_LEVEL"]; got != "info" {
		t.Fatalf("LOG_LEVEL %q after forcing", got)
	}
}

// craftPending turns the newest revision of a release into a pending one
// started at started, the state a killed run leaves behind.
func (e *kubeEnv) craftPending(t *testing.T, name string, status rcommon.Status, labels map[string]string, started time.Time) {
	t.Helper()
	d := driver.NewSecrets(e.client.CoreV1().Secrets(e.ns))
	list, err := d.Query(map[string]string{"name": name, "owner": "helm"})
	if err != nil {
		t.Fatal(err)
	}
	var last *release.Release
	for _, r := range list {
		if r := r.(*release.Release); last == nil || r.Version > last.Version {
			last = r
		}
	}
	next := *last
	info := *last.Info
	next.Info = &info
	next.Version = last.Version + 1
	next.Info.Status = status
	next.Info.LastDeployed = started
	next.Info.Description = "Preparing upgrade"
	next.Labels = labels
	if err := d.Create(fmt.Sprintf("sh.helm.release.v1.%s.v%d", name, next.Version), &next); err != nil {
		t.Fatal(err)
	}
}

// pastDeadline is labels with a deadline that has passed.
func pastDeadline(labels map[string]string) map[string]string {
	labels[helm.LabelDeadline] = fmt.Sprint(time.Now().Add(-time.Second).Unix())
	return labels
}

func TestPendingReleaseRecovery(t *testing.T) {
	t.Parallel()
	e := newKubeEnv(t)
	ours := e.opts("", nil).Owner
	other := "https://gitlab.example/group/other/-/jobs/7"
	ownerLabels := func(owner string) map[string]string {
		// What stepper records: see the labels on a real revision.
		res, err := e.helm.Upgrade(t.Context(), e.cluster, helm.UpgradeOptions{Release: "probe", Namespace: e.ns, Chart: e.app, Owner: owner})
		if err != nil {
			t.Fatal(err)
		}
		_ = res
		d := driver.NewSecrets(e.client.CoreV1().Secrets(e.ns))
		r, err := d.Get(fmt.Sprintf("sh.helm.release.v1.probe.v%d", res.Revision))
		if err != nil {
			t.Fatal(err)
		}
		return r.(*release.Release).Labels
	}
	for _, tc := range []struct {
		name    string
		status  rcommon.Status
		labels  map[string]string
		age     time.Duration
		refused string // part of the refusal; "" when recovered
	}{
		{"ours", rcommon.StatusPendingUpgrade, ownerLabels(ours), time.Second, ""},
		{"ours-install", rcommon.StatusPendingInstall, ownerLabels(ours), time.Second, ""},
		{"other-live", rcommon.StatusPendingUpgrade, ownerLabels(other), 5 * time.Second, "https___gitlab.example_group_other_-_jobs_7"},
		{"helm-cli-live", rcommon.StatusPendingRollback, nil, 5 * time.Second, "another tool"},
		{"other-stale", rcommon.StatusPendingUpgrade, pastDeadline(ownerLabels(other)), 2 * time.Minute, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			name := "pend-" + tc.name
			if _, err := e.helm.Upgrade(ctx, e.cluster, e.opts(name, nil)); err != nil {
				t.Fatal(err)
			}
			e.craftPending(t, name, tc.status, tc.labels, time.Now().Add(-tc.age))

			res, err := e.helm.Upgrade(ctx, e.cluster, e.opts(name, map[string]any{"tag": "v2"}))
			if tc.refused != "" {
				wantClass(t, err, exit.Infra)
				t.Logf("refused: %v", err)
				if !strings.Contains(err.Error(), tc.refused) || !strings.Contains(err.Error(), "may still be running") {
					t.Fatalf("refusal does not name the owner: %v", err)
				}
				if got := e.history(t, name); got != "1:deployed 2:"+string(tc.status) {
					t.Fatalf("a refusal changed the history: %s", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("not recovered: %v", err)
			}
			if res.Recovered == "" || res.Revision != 3 {
				t.Fatalf("result %+v", res)
			}
			if got := e.history(t, name); got != "1:superseded 2:failed 3:deployed" {
				t.Fatalf("history %s", got)
			}
		})
	}
}

// Cancelling an upgrade in the middle of its wait ends the release failed,
// not pending, within seconds; the next deploy of a good version works.
func TestCancelDuringWait(t *testing.T) {
	t.Parallel()
	e := newKubeEnv(t)
	if _, err := e.helm.Upgrade(t.Context(), e.cluster, e.opts("cancel", nil)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	o := e.opts("cancel", chaos())
	o.Timeout = 5 * time.Minute
	done := make(chan error, 1)
	var cancelled time.Time
	go func() {
		_, err := e.helm.Upgrade(ctx, e.cluster, o)
		done <- err
	}()
	// Cancel once revision 2 is pending, i.e. applied and waiting.
	deadline := time.Now().Add(30 * time.Second)
	for e.history(t, "cancel") != "1:deployed 2:pending-upgrade" {
		if time.Now().After(deadline) {
			t.Fatalf("revision 2 never became pending: %s", e.history(t, "cancel"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second)
	cancelled = time.Now()
	cancel()
	var err error
	select {
	case err = <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("Upgrade did not return within 15s of cancellation")
	}
	t.Logf("Upgrade returned %s after cancellation", time.Since(cancelled).Round(time.Millisecond))
	if !errors.Is(err, context.Canceled) || exit.ClassOf(err) != exit.Interrupted {
		t.Fatalf("error %v (class %s), want an interruption", err, exit.ClassOf(err))
	}
	if got := e.history(t, "cancel"); got != "1:deployed 2:failed" {
		t.Fatalf("history after cancel: %s", got)
	}

	res, err := e.helm.Upgrade(t.Context(), e.cluster, e.opts("cancel", map[string]any{"tag": "v3"}))
	if err != nil {
		t.Fatal(err)
	}
	if res.Revision != 3 || res.Status != "deployed" || res.Recovered != "" {
		t.Fatalf("redeploy: %+v", res)
	}
}

// A failed wait rolls back to the last deployed revision; with one
// replica and maxUnavailable 1 the wait still waits for the new pod.
func TestRollbackOnFailure(t *testing.T) {
	t.Parallel()
	e := newKubeEnv(t)
	ctx := t.Context()
	if _, err := e.helm.Upgrade(ctx, e.cluster, e.opts("rof", nil)); err != nil {
		t.Fatal(err)
	}
	o := e.opts("rof", chaos())
	o.Timeout = 8 * time.Second
	o.RollbackOnFailure = true
	res, err := e.helm.Upgrade(ctx, e.cluster, o)
	wantClass(t, err, exit.Failed)
	if !strings.Contains(err.Error(), "not healthy") || !strings.Contains(err.Error(), "rolled back to revision 1") {
		t.Fatalf("error %v", err)
	}
	if res == nil || res.Action != helm.ActionRolledBack || res.RolledBackTo != 1 || res.Revision != 3 || res.Status != "deployed" {
		t.Fatalf("result %+v", res)
	}
	if got := e.history(t, "rof"); got != "1:superseded 2:failed 3:deployed" {
		t.Fatalf("history %s", got)
	}
	if got := e.configMap(t, "rof")["TAG"]; got != "v1" {
		t.Fatalf("TAG %q after the rollback", got)
	}
}

// failingWaiter is an injected Waiter that always fails, so both the
// upgrade and its rollback fail.
type failingWaiter struct{ calls atomic.Int64 }

func (w *failingWaiter) Wait(ctx context.Context, objs []*unstructured.Unstructured, _ time.Duration) error {
	w.calls.Add(1)
	if len(objs) == 0 {
		return errors.New("no objects to wait for")
	}
	return fmt.Errorf("deployment %s: pods crash-looping", objs[0].GetName())
}

func TestRollbackOnFailureWhenTheRollbackFails(t *testing.T) {
	t.Parallel()
	e := newKubeEnv(t)
	ctx := t.Context()
	if _, err := e.helm.Upgrade(ctx, e.cluster, e.opts("rbf", nil)); err != nil {
		t.Fatal(err)
	}
	w := &failingWaiter{}
	o := e.opts("rbf", map[string]any{"tag": "v2"})
	o.Waiter = w
	o.RollbackOnFailure = true
	res, err := e.helm.Upgrade(ctx, e.cluster, o)
	wantClass(t, err, exit.Failed)
	t.Logf("both failed: %v", err)
	if !strings.Contains(err.Error(), "the rollback to revision 1 failed too") || strings.Count(err.Error(), "crash-looping") < 2 {
		t.Fatalf("error does not hold both failures: %v", err)
	}
	if w.calls.Load() != 2 {
		t.Fatalf("waiter called %d times, want 2 (upgrade, rollback)", w.calls.Load())
	}
	if res == nil || res.Revision != 3 || res.Status != "failed" {
		t.Fatalf("result %+v", res)
	}
	if got := e.history(t, "rbf"); got != "1:deployed 2:failed 3:failed" {
		t.Fatalf("history %s", got)
	}
}

// Charts of only custom resources are waited for by their status, and
// kstatus's Reconciling condition keeps the wait going.
func TestWaitOnCustomResources(t *testing.T) {
	t.Parallel()
	e := newKubeEnv(t)
	ctx := t.Context()
	crs, err := e.helm.Load(ctx, helm.ChartRef{Path: "testdata/charts/crs"})
	if err != nil {
		t.Fatal(err)
	}
	o := helm.UpgradeOptions{Release: "gizmo", Namespace: e.ns, Chart: crs, Wait: true, Timeout: 6 * time.Second,
		Values: map[string]any{"conditions": []any{map[string]any{"type": "Reconciling", "status": "True", "reason": "Working"}}}}
	start := time.Now()
	_, err = e.helm.Upgrade(ctx, e.cluster, o)
	for try := 0; try < 3 && err != nil && time.Since(start) < 5*time.Second && discoveryLag(err); try++ {
		// The chart's CRD was created a moment ago; under load the API
		// server may not serve its kind yet. That is not the wait under
		// test: try again once it does.
		t.Logf("the Gizmo kind was not served yet (%v); again", err)
		time.Sleep(time.Second)
		start = time.Now()
		_, err = e.helm.Upgrade(ctx, e.cluster, o)
	}
	wantClass(t, err, exit.Failed)
	if time.Since(start) < 5*time.Second {
		t.Fatalf("the wait returned after %s with %v; it did not wait for the Gizmo", time.Since(start), err)
	}
	o.Values = nil
	if _, err := e.helm.Upgrade(ctx, e.cluster, o); err != nil {
		t.Fatalf("a Gizmo with no conditions left is ready: %v", err)
	}
}

// Values given to stepper never appear in errors, logs or plans.
func TestValuesNeverLeak(t *testing.T) {
	t.Parallel()
	e := newKubeEnv(t)
	const canary = "canary-Zq8vXr2-secret value!" // invalid as a label value, so the API server quotes it
	var logs bytes.Buffer
	ctx := logging.WithContext(t.Context(), zerolog.New(&logs).Level(zerolog.DebugLevel))
	check := func(what string, texts ...string) {
		t.Helper()
		for _, s := range texts {
			if strings.Contains(s, canary) || strings.Contains(s, "Zq8vXr2") {
				t.Errorf("%s leaks the canary: %s", what, s)
			}
		}
	}

	// The API server rejects the label and quotes its value.
	o := e.opts("leak", map[string]any{"password": canary, "podLabels": map[string]any{"token": canary}})
	_, err := e.helm.Upgrade(ctx, e.cluster, o)
	wantClass(t, err, exit.Failed)
	if !strings.Contains(err.Error(), "[redacted]") {
		t.Errorf("error %v: want the value redacted", err)
	}
	t.Logf("rejected object: %v", err)
	check("rejected object", err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err))

	// A --set that does not parse.
	o = e.opts("leak", nil)
	o.Set = []string{"password=" + canary + ",{"}
	_, err = e.helm.Upgrade(ctx, e.cluster, o)
	wantClass(t, err, exit.Usage)
	check("bad --set", err.Error())

	// A plan shows that the Secret changes, not its content.
	if _, err := e.helm.Upgrade(ctx, e.cluster, e.opts("leak", map[string]any{"password": "first-password"})); err != nil {
		t.Fatal(err)
	}
	plan, err := e.helm.Plan(ctx, e.cluster, e.opts("leak", map[string]any{"password": canary}))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(plan.Diff, "+  password: (secret sha256:") {
		t.Errorf("the plan does not show the Secret change:\n%s", plan.Diff)
	}
	check("plan", plan.Diff, logs.String())
	if strings.Contains(plan.Diff, "first-password") {
		t.Errorf("the plan shows the old password:\n%s", plan.Diff)
	}
}

func TestUnreachableClusterIsInfra(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	app, err := c.Load(t.Context(), helm.ChartRef{Path: "testdata/charts/app"})
	if err != nil {
		t.Fatal(err)
	}
	cl := helm.Cluster{RESTConfig: &rest.Config{Host: "https://127.0.0.1:1", Timeout: 5 * time.Second}}
	_, err = c.Upgrade(t.Context(), cl, helm.UpgradeOptions{Release: "x", Chart: app})
	wantClass(t, err, exit.Infra)
	_, err = c.Plan(t.Context(), cl, helm.UpgradeOptions{Release: "x", Chart: app})
	wantClass(t, err, exit.Infra)
	_, err = c.Rollback(t.Context(), cl, "x", "", 0, helm.RollbackOptions{})
	wantClass(t, err, exit.Infra)
	_, err = c.Status(t.Context(), cl, "x", "")
	wantClass(t, err, exit.Infra)
	if !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("error %v", err)
	}
}

// Installs skip the client-side OpenAPI check because the API server
// refuses, in a server-side apply, a field its schema does not declare: a
// typo in a chart still fails the release.
func TestServerSideApplyRefusesUnknownFields(t *testing.T) {
	e := newKubeEnv(t)
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "templates"), 0o755)
	os.WriteFile(filepath.Join(dir, "Chart.yaml"), []byte("apiVersion: v2\nname: typo\nversion: 0.1.0\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "templates", "cm.yaml"), []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: typo\ndata:\n  a: b\ndatta:\n  c: d\n"), 0o644)
	ch, err := e.helm.Load(t.Context(), helm.ChartRef{Path: dir})
	if err != nil {
		t.Fatal(err)
	}
	o := e.opts("typo", nil)
	o.Chart = ch
	_, err = e.helm.Upgrade(t.Context(), e.cluster, o)
	if err == nil || !strings.Contains(err.Error(), "datta") {
		t.Fatalf("an unknown field was accepted: %v", err)
	}
}

// discoveryLag reports an error of a kind the API server does not serve
// yet: a CRD created a moment before.
func discoveryLag(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "no matches for kind") || strings.Contains(msg, "ensure CRDs are installed") ||
		strings.Contains(msg, "could not find the requested resource")
}
