package testenv_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/stepper-cd/stepper/internal/testenv"
)

// kubeWait bounds waits for the simulated cluster; kwok acts within seconds.
const kubeWait = 2 * time.Minute

func TestDeploymentRollsOut(t *testing.T) {
	p := platform.Get(t)
	client := kubeClient(t, p)
	ns := namespace(t, client)
	replicas := int32(2)
	labels := map[string]string{"app": "api"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "api"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					Containers: []corev1.Container{{Name: "api", Image: "registry.invalid/api:v1"}},
					TopologySpreadConstraints: []corev1.TopologySpreadConstraint{{
						MaxSkew:           1,
						TopologyKey:       "topology.kubernetes.io/zone",
						WhenUnsatisfiable: corev1.DoNotSchedule,
						LabelSelector:     &metav1.LabelSelector{MatchLabels: labels},
					}},
				},
			},
		},
	}
	if _, err := client.AppsV1().Deployments(ns).Create(t.Context(), dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	var last appsv1.DeploymentStatus
	err := wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, kubeWait, true, func(ctx context.Context) (bool, error) {
		d, err := client.AppsV1().Deployments(ns).Get(ctx, "api", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		last = d.Status
		return d.Status.ObservedGeneration >= d.Generation &&
			d.Status.UpdatedReplicas == replicas &&
			d.Status.ReadyReplicas == replicas &&
			d.Status.AvailableReplicas == replicas, nil
	})
	if err != nil {
		t.Fatalf("deployment did not roll out: %v; last status %+v", err, last)
	}

	pods, err := client.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: "app=api"})
	if err != nil {
		t.Fatal(err)
	}
	zones := map[string]bool{}
	for _, pod := range pods.Items {
		i := slices.IndexFunc(p.Kube.Nodes, func(n testenv.Node) bool { return n.Name == pod.Spec.NodeName })
		if i < 0 {
			t.Errorf("pod %s runs on %q, not on a kwok node", pod.Name, pod.Spec.NodeName)
			continue
		}
		zones[p.Kube.Nodes[i].Zone] = true
	}
	if len(zones) != 2 {
		t.Errorf("pods spread over zones %v, want two zones", zones)
	}
}

func TestChaosPodFails(t *testing.T) {
	p := platform.Get(t)
	client := kubeClient(t, p)
	ns := namespace(t, client)
	for _, tc := range []struct {
		label     string
		everReady bool
	}{
		{testenv.ChaosFailBeforeReady, false},
		{testenv.ChaosFailAfterReady, true},
	} {
		t.Run(tc.label, func(t *testing.T) {
			t.Parallel()
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{
					GenerateName: "chaos-",
					Labels:       map[string]string{tc.label: "true"},
				},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.invalid/app:v1"}}},
			}
			created, err := client.CoreV1().Pods(ns).Create(t.Context(), pod, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			// Watch from creation on, so no status the pod passes through is missed.
			ctx, cancel := context.WithTimeout(t.Context(), kubeWait)
			defer cancel()
			w, err := client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{
				FieldSelector:   fields.OneTermEqualSelector("metadata.name", created.Name).String(),
				ResourceVersion: created.ResourceVersion,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Stop()
			wasReady := false
			for ev := range w.ResultChan() {
				got, ok := ev.Object.(*corev1.Pod)
				if !ok {
					continue
				}
				wasReady = wasReady || podReady(got)
				if got.Status.Phase == corev1.PodFailed {
					if wasReady != tc.everReady {
						t.Fatalf("pod was Ready before failing: %v, want %v", wasReady, tc.everReady)
					}
					return
				}
			}
			t.Fatalf("pod did not fail: %v", ctx.Err())
		})
	}
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func kubeClient(t *testing.T, p *testenv.Platform) kubernetes.Interface {
	t.Helper()
	client, err := kubernetes.NewForConfig(p.Kube.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	return client
}

// namespace creates a namespace for one test.
func namespace(t *testing.T, client kubernetes.Interface) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "test-"}}
	created, err := client.CoreV1().Namespaces().Create(t.Context(), ns, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(fmt.Errorf("create namespace: %w", err))
	}
	return created.Name
}
