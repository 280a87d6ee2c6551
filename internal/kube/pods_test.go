package kube

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestFailure(t *testing.T) {
	waiting := func(reason string) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: "app", RestartCount: 2, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: "m"}}}
	}
	tests := []struct {
		name          string
		status        corev1.PodStatus
		isJob         bool
		wantReason    string
		wantContainer string
	}{
		{name: "running", status: corev1.PodStatus{Phase: corev1.PodRunning}},
		{name: "starting", status: corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{waiting("ContainerCreating")}}},
		{name: "crash loop", status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{waiting("CrashLoopBackOff")}}, wantReason: "CrashLoopBackOff", wantContainer: "app"},
		{name: "pull error", status: corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{waiting("ErrImagePull")}}, wantReason: "ErrImagePull", wantContainer: "app"},
		{name: "config error", status: corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{waiting("CreateContainerConfigError")}}, wantReason: "CreateContainerConfigError", wantContainer: "app"},
		{name: "init container backoff", status: corev1.PodStatus{Phase: corev1.PodPending, InitContainerStatuses: []corev1.ContainerStatus{waiting("ImagePullBackOff")}}, wantReason: "ImagePullBackOff", wantContainer: "app"},
		{name: "evicted", status: corev1.PodStatus{Phase: corev1.PodFailed, Reason: "Evicted", Message: "low on memory"}, wantReason: ReasonFailed},
		{name: "job pod failed, job retries", status: corev1.PodStatus{Phase: corev1.PodFailed}, isJob: true},
		{name: "job pod crash loop", status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{waiting("CrashLoopBackOff")}}, isJob: true, wantReason: "CrashLoopBackOff", wantContainer: "app"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Status: tt.status}
			d := failure(pod, tt.isJob)
			if tt.wantReason == "" {
				if d != nil {
					t.Fatalf("got %+v, want no failure", d)
				}
				return
			}
			if d == nil || d.Reason != tt.wantReason || d.Container != tt.wantContainer {
				t.Fatalf("got %+v, want reason %s container %q", d, tt.wantReason, tt.wantContainer)
			}
		})
	}
}

func TestDiagnosis(t *testing.T) {
	e := &RolloutError{
		Object: "Deployment/shop/api",
		Reason: "pod api-1 is CrashLoopBackOff (container app)",
		Pods: []PodDiagnosis{{
			Pod: "api-1", Node: "node-a", Container: "app", Reason: "CrashLoopBackOff", Message: "back-off 40s", Restarts: 4,
			Events: []string{"Warning BackOff: Back-off restarting failed container app (x3)"},
		}},
	}
	want := `Deployment/shop/api: rollout failed: pod api-1 is CrashLoopBackOff (container app)
  pod api-1 on node node-a: CrashLoopBackOff (container app), 4 restarts
    back-off 40s
    events:
      Warning BackOff: Back-off restarting failed container app (x3)
  the wait stopped early; ` + "`kubectl describe pod` and `kubectl logs --previous`" + ` tell more
`
	if got := e.Diagnosis(); got != want {
		t.Errorf("Diagnosis() =\n%s\nwant\n%s", got, want)
	}
	e.TimedOut = true
	if got, want := e.Error(), "Deployment/shop/api: rollout timed out: pod api-1 is CrashLoopBackOff (container app)"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
