package kube_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/yaml"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/kube"
	"github.com/stepper-cd/stepper/internal/testenv"
)

var platform = testenv.NewShared(testenv.Options{SkipGit: true, SkipRegistry: true, SkipReferrersRegistry: true})

func TestMain(m *testing.M) {
	code := m.Run()
	platform.Stop()
	os.Exit(code)
}

func TestWaitGoodDeploymentAcrossZones(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	d := deployment("api", 2)
	d.Spec.Template.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{
		MaxSkew:           1,
		TopologyKey:       "topology.kubernetes.io/zone",
		WhenUnsatisfiable: corev1.DoNotSchedule,
		LabelSelector:     d.Spec.Selector,
	}}
	objs := c.apply(d)

	if err := c.waiter(kube.WaiterOptions{}).Wait(t.Context(), objs, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	pods := c.readyPods("app=api")
	zones := map[string]bool{}
	for _, p := range pods {
		zones[p.Spec.NodeName] = true
	}
	if len(pods) != 2 || len(zones) != 2 {
		t.Errorf("after the wait %d pods are Ready on nodes %v, want 2 on two nodes", len(pods), zones)
	}
}

// TestWaitAllKinds applies one object of each common kind; all must become
// Current by kstatus's rules.
func TestWaitAllKinds(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	objs := c.applyYAML(`
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {a: b}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  replicas: 2
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: db, image: registry.invalid/db:v1}]}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec: {containers: [{name: agent, image: registry.invalid/agent:v1}]}
---
apiVersion: batch/v1
kind: Job
metadata: {name: migrate}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: migrate, image: registry.invalid/migrate:v1}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web}
spec:
  minAvailable: 1
  selector: {matchLabels: {app: web}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: StatefulSet, name: db}
  minReplicas: 2
  maxReplicas: 3
`)
	objs = append(objs, c.apply(deployment("web", 1))...)

	if err := c.waiter(kube.WaiterOptions{}).Wait(t.Context(), objs, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	sts, err := c.client.AppsV1().StatefulSets(c.ns).Get(t.Context(), "db", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sts.Status.ReadyReplicas != 2 {
		t.Errorf("StatefulSet has %d ready replicas after the wait, want 2", sts.Status.ReadyReplicas)
	}
}

// TestWaitNotVacuous: with one replica and maxUnavailable 1 the old pod goes
// first and the Deployment asks for zero available pods during the
// rollout; the wait must still last until the new pod is Ready
// (helm/helm#10845). A scheduling gate holds the new pod back until the
// test lifts it.
func TestWaitNotVacuous(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	d := deployment("api", 1)
	one := intstr.FromInt32(1)
	zero := intstr.FromInt32(0)
	d.Spec.Strategy = appsv1.DeploymentStrategy{
		Type:          appsv1.RollingUpdateDeploymentStrategyType,
		RollingUpdate: &appsv1.RollingUpdateDeployment{MaxUnavailable: &one, MaxSurge: &zero},
	}
	objs := c.apply(d)
	w := c.waiter(kube.WaiterOptions{Poll: 100 * time.Millisecond})
	if err := w.Wait(t.Context(), objs, 2*time.Minute); err != nil {
		t.Fatal(err)
	}

	c.patchDeployment("api", `{"spec":{"template":{"spec":{
		"containers":[{"name":"api","image":"registry.invalid/api:v2"}],
		"schedulingGates":[{"name":"stepper.dev/hold"}]}}}}`)
	done := make(chan error, 1)
	go func() { done <- w.Wait(t.Context(), objs, 2*time.Minute) }()

	// The old pod is gone and the new one waits at its gate: nothing is
	// available, which the Deployment allows, and the wait must go on.
	var gated *corev1.Pod
	c.eventually("only the new, gated pod is left", func() bool {
		pods := c.pods("app=api")
		if len(pods) == 1 && len(pods[0].Spec.SchedulingGates) > 0 {
			gated = &pods[0]
		}
		return gated != nil
	})
	select {
	case err := <-done:
		t.Fatalf("wait returned %v while the new pod was not even scheduled", err)
	case <-time.After(2 * time.Second):
	}

	patch := []byte(`[{"op":"remove","path":"/spec/schedulingGates"}]`)
	if _, err := c.client.CoreV1().Pods(c.ns).Patch(t.Context(), gated.Name, types.JSONPatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if ready := c.readyPods("app=api"); len(ready) != 1 || ready[0].Name != gated.Name {
		t.Errorf("after the wait the Ready pods are %v, want only the new pod %s", names(ready), gated.Name)
	}
}

// TestWaitCustomResources: a chart of only custom resources waits for the
// operator, through observedGeneration and the Ready condition.
func TestWaitCustomResources(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	if err := c.platform.Kube.InstallCRDs(t.Context(), filepath.Join("testdata", "crds")); err != nil {
		t.Fatal(err)
	}
	objs := c.applyYAML(`
apiVersion: example.stepper.dev/v1
kind: Widget
metadata: {name: gizmo}
spec: {size: 1}
`)
	widgets := c.dynamic.Resource(widgetResource).Namespace(c.ns)
	// The operator has seen the widget and works on it.
	c.setWidgetStatus(1, "False")

	done := make(chan error, 1)
	go func() {
		done <- c.waiter(kube.WaiterOptions{Poll: 100 * time.Millisecond}).Wait(t.Context(), objs, 2*time.Minute)
	}()
	select {
	case err := <-done:
		t.Fatalf("wait returned %v while the widget was not Ready", err)
	case <-time.After(2 * time.Second):
	}
	// Ready, but for a spec the operator has not seen: still in progress.
	if _, err := widgets.Patch(t.Context(), "gizmo", types.MergePatchType, []byte(`{"spec":{"size":2}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	c.setWidgetStatus(1, "True")
	select {
	case err := <-done:
		t.Fatalf("wait returned %v while the widget's new generation was not observed", err)
	case <-time.After(2 * time.Second):
	}
	c.setWidgetStatus(2, "True")
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("wait did not return after the widget became Ready")
	}
}

var widgetResource = schemaGVR("example.stepper.dev", "v1", "widgets")

func (c *cluster) setWidgetStatus(observed int64, ready string) {
	c.t.Helper()
	w, err := c.dynamic.Resource(widgetResource).Namespace(c.ns).Get(c.t.Context(), "gizmo", metav1.GetOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	w.Object["status"] = map[string]any{
		"observedGeneration": observed,
		"conditions": []any{map[string]any{
			"type": "Ready", "status": ready, "reason": "Reconciling", "message": "test operator",
			"lastTransitionTime": time.Now().UTC().Format(time.RFC3339),
		}},
	}
	if _, err := c.dynamic.Resource(widgetResource).Namespace(c.ns).UpdateStatus(c.t.Context(), w, metav1.UpdateOptions{}); err != nil {
		c.t.Fatal(err)
	}
}

func TestWaitFailsFastOnChaos(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	d := deployment("api", 2)
	d.Spec.Template.Labels[testenv.ChaosFailBeforeReady] = "true"
	d.Spec.Template.Spec.InitContainers = []corev1.Container{{Name: "migrate", Image: "registry.invalid/migrate:v1"}}
	objs := c.apply(d)

	re := c.failsFast(t, objs, kube.WaiterOptions{})
	if re.TimedOut || re.Object != "Deployment/"+c.ns+"/api" || len(re.Pods) == 0 {
		t.Fatalf("got %+v, want a failure of Deployment/%s/api naming its pods", re, c.ns)
	}
	p := re.Pods[0]
	if p.Reason != kube.ReasonFailed || !strings.HasPrefix(p.Pod, "api-") || p.Node == "" || p.Container != "migrate" {
		t.Errorf("pod diagnosis %+v, want a Failed api pod on a node, its init container to blame", p)
	}
	if !strings.Contains(re.Diagnosis(), p.Pod) || !strings.Contains(re.Diagnosis(), "Failed") {
		t.Errorf("diagnosis does not name pod and reason:\n%s", re.Diagnosis())
	}
}

func TestWaitFailsFastWhenUnschedulable(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	d := deployment("api", 1)
	d.Spec.Template.Spec.NodeSelector = map[string]string{"topology.kubernetes.io/zone": "zone-nowhere"}
	objs := c.apply(d)

	re := c.failsFast(t, objs, kube.WaiterOptions{})
	if len(re.Pods) == 0 || re.Pods[0].Reason != kube.ReasonUnschedulable {
		t.Fatalf("got %+v, want an Unschedulable pod", re)
	}
	if !strings.Contains(re.Diagnosis(), "FailedScheduling") {
		t.Errorf("diagnosis lacks the scheduler's event:\n%s", re.Diagnosis())
	}
}

// TestWaitFailsFastOnPodStatus plays the kubelet for a pod bound to a node
// nobody simulates, to produce the states kwok cannot: crash loops, image
// pull errors and failing readiness probes, each with its event.
func TestWaitFailsFastOnPodStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		ready      string
		waiting    *corev1.ContainerStateWaiting
		event      corev1.Event
		wantReason string
	}{
		{
			name:       "crash loop",
			waiting:    &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 40s restarting failed container=app"},
			event:      corev1.Event{Type: "Warning", Reason: "BackOff", Message: "Back-off restarting failed container app"},
			wantReason: "CrashLoopBackOff",
		},
		{
			name:       "image pull",
			waiting:    &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: `Back-off pulling image "registry.invalid/app:v9"`},
			event:      corev1.Event{Type: "Warning", Reason: "Failed", Message: "Failed to pull image: not found"},
			wantReason: "ImagePullBackOff",
		},
		{
			name:       "readiness probe",
			event:      corev1.Event{Type: "Warning", Reason: "Unhealthy", Message: "Readiness probe failed: HTTP probe failed with statuscode: 503"},
			wantReason: kube.ReasonProbeFailure,
		},
	}
	c := newCluster(t)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			name := "app-" + string(rune('a'+i))
			pod := c.ghostPod(t, name, tt.waiting)
			tt.event.ObjectMeta = metav1.ObjectMeta{GenerateName: name + "-"}
			tt.event.InvolvedObject = corev1.ObjectReference{Kind: "Pod", Namespace: c.ns, Name: name, UID: pod.UID, APIVersion: "v1"}
			tt.event.Count = 3
			tt.event.LastTimestamp = metav1.Now()
			if _, err := c.client.CoreV1().Events(c.ns).Create(t.Context(), &tt.event, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			objs := []*unstructured.Unstructured{{Object: map[string]any{
				"apiVersion": "v1", "kind": "Pod", "metadata": map[string]any{"name": name, "namespace": c.ns},
			}}}

			re := c.failsFast(t, objs, kube.WaiterOptions{ProbeGrace: time.Second})
			if len(re.Pods) != 1 || re.Pods[0].Reason != tt.wantReason {
				t.Fatalf("got %+v, want reason %s", re, tt.wantReason)
			}
			want := tt.event.Type + " " + tt.event.Reason + ": " + tt.event.Message + " (x3)"
			if evs := re.Pods[0].Events; len(evs) != 1 || evs[0] != want {
				t.Errorf("events %q, want [%q]", evs, want)
			}
		})
	}
}

// ghostPod creates a pod bound to a node that no kwok simulates and gives it
// the status a kubelet would: running, not ready, a container maybe waiting.
func (c *cluster) ghostPod(t *testing.T, name string, waiting *corev1.ContainerStateWaiting) *corev1.Pod {
	t.Helper()
	pod, err := c.client.CoreV1().Pods(c.ns).Create(t.Context(), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			NodeName:   "ghost-node",
			Containers: []corev1.Container{{Name: "app", Image: "registry.invalid/app:v1"}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	now := metav1.Now()
	state := corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}
	if waiting != nil {
		state = corev1.ContainerState{Waiting: waiting}
	}
	pod.Status = corev1.PodStatus{
		Phase: corev1.PodRunning,
		Conditions: []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: "ContainersNotReady", LastTransitionTime: now},
		},
		ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Image: "registry.invalid/app:v1", State: state, RestartCount: 4}},
	}
	pod, err = c.client.CoreV1().Pods(c.ns).UpdateStatus(t.Context(), pod, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return pod
}

// TestWaitOldFailingPodsDoNotCount: a broken revision replaced by a good
// one rolls out, whatever the old ReplicaSet's pods did.
func TestWaitOldFailingPodsDoNotCount(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	d := deployment("api", 2)
	d.Spec.Template.Labels[testenv.ChaosFailBeforeReady] = "true"
	objs := c.apply(d)
	c.eventually("a pod of the broken revision has failed", func() bool {
		for _, p := range c.pods("app=api") {
			if p.Status.Phase == corev1.PodFailed {
				return true
			}
		}
		return false
	})
	c.patchDeployment("api", `{"spec":{"template":{"metadata":{"labels":{"`+testenv.ChaosFailBeforeReady+`":null}}}}}`)
	if err := c.waiter(kube.WaiterOptions{}).Wait(t.Context(), objs, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
}

func TestWaitTimesOut(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	objs := c.apply(heldDeployment("api"))

	start := time.Now()
	err := c.waiter(kube.WaiterOptions{}).Wait(t.Context(), objs, 3*time.Second)
	re := rolloutError(t, err)
	t.Logf("after %s:\n%s", time.Since(start).Round(time.Millisecond), re.Diagnosis())
	if !re.TimedOut || re.Object != "Deployment/"+c.ns+"/api" {
		t.Fatalf("got %+v, want a timeout of Deployment/%s/api", re, c.ns)
	}
	if len(re.Pods) != 1 || re.Pods[0].Reason != "SchedulingGated" {
		t.Errorf("pods %+v, want the one gated pod", re.Pods)
	}
}

func TestWaitCancelled(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	objs := c.apply(heldDeployment("api"))

	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(time.Second, cancel)
	start := time.Now()
	err := c.waiter(kube.WaiterOptions{}).Wait(ctx, objs, 5*time.Minute)
	elapsed := time.Since(start)
	if !errors.Is(err, context.Canceled) || exit.ClassOf(err) != exit.Interrupted {
		t.Fatalf("got %v (class %v), want a cancellation", err, exit.ClassOf(err))
	}
	// How fast is measured by BenchmarkFailFast, not asserted here.
	t.Logf("returned %s after the cancel", elapsed-time.Second)
}

func TestWaitAPIUnreachable(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	w, err := kube.NewWaiter(&rest.Config{Host: "https://" + addr}, kube.WaiterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	objs := []*unstructured.Unstructured{deploymentObject("api")}
	err = w.Wait(t.Context(), objs, time.Minute)
	if exit.ClassOf(err) != exit.Infra {
		t.Fatalf("got %v (class %v), want an infrastructure error", err, exit.ClassOf(err))
	}
	var re *kube.RolloutError
	if errors.As(err, &re) {
		t.Errorf("an unreachable API server is no rollout failure: %v", err)
	}
}

// failsFast waits for objs with a long timeout and returns the rollout
// error, long before the wait's timeout.
func (c *cluster) failsFast(t *testing.T, objs []*unstructured.Unstructured, o kube.WaiterOptions) *kube.RolloutError {
	t.Helper()
	start := time.Now()
	err := c.waiter(o).Wait(t.Context(), objs, 5*time.Minute)
	elapsed := time.Since(start)
	re := rolloutError(t, err)
	t.Logf("failed after %s:\n%s", elapsed.Round(time.Millisecond), re.Diagnosis())
	return re
}

func rolloutError(t *testing.T, err error) *kube.RolloutError {
	t.Helper()
	var re *kube.RolloutError
	if !errors.As(err, &re) {
		t.Fatalf("got %v, want a RolloutError", err)
	}
	if exit.ClassOf(err) != exit.Failed {
		t.Errorf("class %v, want %v", exit.ClassOf(err), exit.Failed)
	}
	return re
}

func deployment(name string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec: corev1.PodSpec{
					Containers: []corev1.Container{{Name: name, Image: "registry.invalid/" + name + ":v1"}},
				},
			},
		},
	}
}

// heldDeployment never becomes ready: its pod waits at a scheduling gate.
func heldDeployment(name string) *appsv1.Deployment {
	d := deployment(name, 1)
	d.Spec.Template.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "stepper.dev/hold"}}
	return d
}

func deploymentObject(name string) *unstructured.Unstructured {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(deployment(name, 1))
	if err != nil {
		panic(err)
	}
	return &unstructured.Unstructured{Object: m}
}

func names(pods []corev1.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Name)
	}
	return out
}

// cluster is one test's namespace on the shared control plane.
type cluster struct {
	t        *testing.T
	platform *testenv.Platform
	client   kubernetes.Interface
	dynamic  dynamic.Interface
	ns       string
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	p := platform.Get(t)
	cfg := p.Kube.RESTConfig()
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := client.CoreV1().Namespaces().Create(t.Context(),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "kube-test-"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return &cluster{t: t, platform: p, client: client, dynamic: dyn, ns: ns.Name}
}

func (c *cluster) waiter(o kube.WaiterOptions) *kube.Waiter {
	c.t.Helper()
	o.Namespace = c.ns
	w, err := kube.NewWaiter(c.platform.Kube.RESTConfig(), o)
	if err != nil {
		c.t.Fatal(err)
	}
	return w
}

// apply creates typed objects in the test's namespace and returns them as
// Helm hands them to a wait: unstructured, as rendered, without namespace.
func (c *cluster) apply(objs ...runtime.Object) []*unstructured.Unstructured {
	c.t.Helper()
	var out []*unstructured.Unstructured
	for _, obj := range objs {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
		if err != nil {
			c.t.Fatal(err)
		}
		out = append(out, c.create(&unstructured.Unstructured{Object: m}))
	}
	return out
}

func (c *cluster) applyYAML(docs string) []*unstructured.Unstructured {
	c.t.Helper()
	var out []*unstructured.Unstructured
	for doc := range strings.SplitSeq(docs, "\n---\n") {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			c.t.Fatal(err)
		}
		out = append(out, c.create(&unstructured.Unstructured{Object: m}))
	}
	return out
}

func (c *cluster) create(obj *unstructured.Unstructured) *unstructured.Unstructured {
	c.t.Helper()
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(c.client.Discovery()))
	gvk := obj.GroupVersionKind()
	mapping, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		c.t.Fatal(err)
	}
	var res dynamic.ResourceInterface = c.dynamic.Resource(mapping.Resource)
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		res = c.dynamic.Resource(mapping.Resource).Namespace(c.ns)
	}
	if _, err := res.Create(c.t.Context(), obj, metav1.CreateOptions{}); err != nil {
		c.t.Fatalf("create %s %s: %v", gvk.Kind, obj.GetName(), err)
	}
	return obj
}

// patchDeployment applies a strategic merge patch, which unlike an update
// does not race the Deployment controller's status writes.
func (c *cluster) patchDeployment(name, patch string) {
	c.t.Helper()
	_, err := c.client.AppsV1().Deployments(c.ns).Patch(c.t.Context(), name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
}

func (c *cluster) pods(selector string) []corev1.Pod {
	c.t.Helper()
	list, err := c.client.CoreV1().Pods(c.ns).List(c.t.Context(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		c.t.Fatal(err)
	}
	return list.Items
}

func (c *cluster) readyPods(selector string) []corev1.Pod {
	c.t.Helper()
	var ready []corev1.Pod
	for _, p := range c.pods(selector) {
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue && p.DeletionTimestamp == nil {
				ready = append(ready, p)
			}
		}
	}
	return ready
}

func (c *cluster) eventually(what string, cond func() bool) {
	c.t.Helper()
	err := wait.PollUntilContextTimeout(c.t.Context(), 100*time.Millisecond, time.Minute, true,
		func(context.Context) (bool, error) { return cond(), nil })
	if err != nil {
		c.t.Fatalf("%s: %v", what, err)
	}
}

func schemaGVR(group, version, resource string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: group, Version: version, Resource: resource}
}

func TestWaiterFromKubeconfig(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	objs := c.applyYAML(`
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
`)
	objs[0].SetNamespace(c.ns)
	w, err := kube.WaiterFromKubeconfig(c.platform.Kube.Kubeconfig, "", kube.WaiterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Wait(t.Context(), objs, time.Minute); err != nil {
		t.Fatal(err)
	}

	_, err = kube.WaiterFromKubeconfig(c.platform.Kube.Kubeconfig, "no-such-context", kube.WaiterOptions{})
	if exit.ClassOf(err) != exit.Usage {
		t.Errorf("unknown context: got %v (class %v), want a usage error", err, exit.ClassOf(err))
	}
}
