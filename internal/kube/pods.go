package kube

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
)

// maxPodsInDiagnosis keeps a diagnosis readable when a whole ReplicaSet
// fails the same way.
const maxPodsInDiagnosis = 3

// failingWaitReasons are container waiting reasons that do not heal by
// waiting: the kubelet backs off, and the rollout can only time out.
var failingWaitReasons = map[string]bool{
	"CrashLoopBackOff":           true,
	"ImagePullBackOff":           true,
	"ErrImagePull":               true,
	"InvalidImageName":           true,
	"CreateContainerConfigError": true,
}

// Reasons a PodDiagnosis gives besides a container's waiting reason.
const (
	ReasonFailed        = "Failed"
	ReasonUnschedulable = "Unschedulable"
	ReasonProbeFailure  = "ProbeFailure"
	ReasonNotReady      = "NotReady"
)

// failFast looks at the pods of the workload's newest revision and returns a
// RolloutError when one of them is failing.
func (w *Waiter) failFast(ctx context.Context, t *target, live *unstructured.Unstructured, now time.Time, seen *sightings) (*RolloutError, error) {
	pods, err := w.podsOf(ctx, live)
	if err != nil {
		return nil, fmt.Errorf("%s: pods: %w", t.id, err)
	}
	isJob := live.GetKind() == "Job"
	var failing []PodDiagnosis
	for _, pod := range pods {
		d := failure(pod, isJob)
		if d == nil {
			d = w.stuck(ctx, pod, now, seen)
		}
		if d == nil {
			continue
		}
		if len(failing) < maxPodsInDiagnosis {
			d.Events = w.events(ctx, pod)
			failing = append(failing, *d)
		}
	}
	if len(failing) == 0 {
		return nil, nil
	}
	first := failing[0]
	reason := fmt.Sprintf("pod %s is %s", first.Pod, first.Reason)
	if first.Container != "" {
		reason += fmt.Sprintf(" (container %s)", first.Container)
	}
	if first.Message != "" {
		reason += ": " + first.Message
	}
	return &RolloutError{Object: t.id, Pods: failing, Reason: reason}, nil
}

// failure diagnoses a pod that has failed for good, judged by the pod
// alone. Job pods may fail and be retried; the Job's own Failed condition
// decides for them.
func failure(pod *corev1.Pod, isJob bool) *PodDiagnosis {
	d := &PodDiagnosis{Pod: pod.Name, Node: pod.Spec.NodeName}
	statuses := slices.Concat(pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses)
	for _, cs := range statuses {
		if cs.State.Waiting != nil && failingWaitReasons[cs.State.Waiting.Reason] {
			d.Container, d.Reason, d.Message = cs.Name, cs.State.Waiting.Reason, cs.State.Waiting.Message
			d.Restarts = int(cs.RestartCount)
			return d
		}
	}
	if pod.Status.Phase != corev1.PodFailed || isJob {
		return nil
	}
	d.Reason, d.Message = ReasonFailed, pod.Status.Message
	if pod.Status.Reason != "" {
		d.Message = join(pod.Status.Reason, d.Message)
	}
	for _, cs := range statuses {
		if term := cs.State.Terminated; term != nil && term.ExitCode != 0 {
			d.Container, d.Restarts = cs.Name, int(cs.RestartCount)
			d.Message = join(d.Message, fmt.Sprintf("exit code %d", term.ExitCode))
			if term.Reason != "" {
				d.Message = join(d.Message, term.Reason)
			}
			if term.Message != "" {
				d.Message = join(d.Message, term.Message)
			}
			break
		}
	}
	return d
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + ": " + b
}

// stuck diagnoses a pod that has been unschedulable, or running and unready
// with failing probes, for longer than its grace.
func (w *Waiter) stuck(ctx context.Context, pod *corev1.Pod, now time.Time, seen *sightings) *PodDiagnosis {
	if c := condition(pod, corev1.PodScheduled); c != nil && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
		if now.Sub(seen.since(pod.UID, "unschedulable", now)) < w.opts.UnschedulableGrace {
			return nil
		}
		return &PodDiagnosis{Pod: pod.Name, Reason: ReasonUnschedulable, Message: c.Message}
	}
	if pod.Status.Phase != corev1.PodRunning || podReady(pod) {
		return nil
	}
	if now.Sub(seen.since(pod.UID, "unready", now)) < w.opts.ProbeGrace {
		return nil
	}
	// Unready for long: it counts as failing only when probes say so, not
	// when, say, a readiness gate is still open.
	unhealthy, err := w.client.CoreV1().Events(pod.Namespace).List(ctx, eventsOf(pod, "Unhealthy"))
	if err != nil || len(unhealthy.Items) == 0 {
		return nil
	}
	last := slices.MaxFunc(unhealthy.Items, func(a, b corev1.Event) int { return eventTime(a).Compare(eventTime(b)) })
	return &PodDiagnosis{Pod: pod.Name, Node: pod.Spec.NodeName, Reason: ReasonProbeFailure, Message: last.Message, Restarts: restarts(pod)}
}

// unready diagnoses a pod that is not Ready, for a timed-out wait.
func unready(pod *corev1.Pod) *PodDiagnosis {
	if d := failure(pod, false); d != nil {
		return d
	}
	if podReady(pod) || pod.Status.Phase == corev1.PodSucceeded {
		return nil
	}
	d := &PodDiagnosis{Pod: pod.Name, Node: pod.Spec.NodeName, Reason: ReasonNotReady, Restarts: restarts(pod)}
	if c := condition(pod, corev1.PodScheduled); c != nil && c.Status == corev1.ConditionFalse {
		d.Reason, d.Message = cmp.Or(c.Reason, ReasonNotReady), c.Message
	} else if c := condition(pod, corev1.PodReady); c != nil {
		d.Message = join(c.Reason, c.Message)
	}
	return d
}

func condition(pod *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == t {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}

func podReady(pod *corev1.Pod) bool {
	c := condition(pod, corev1.PodReady)
	return c != nil && c.Status == corev1.ConditionTrue
}

func restarts(pod *corev1.Pod) int {
	n := 0
	for _, cs := range pod.Status.ContainerStatuses {
		n = max(n, int(cs.RestartCount))
	}
	return n
}

// events returns the last events of a pod, oldest first, as
// "Warning BackOff: Back-off restarting failed container". Events help a
// diagnosis but are not needed for one, so an error leaves them out.
func (w *Waiter) events(ctx context.Context, pod *corev1.Pod) []string {
	if w.opts.Events < 0 {
		return nil
	}
	list, err := w.client.CoreV1().Events(pod.Namespace).List(ctx, eventsOf(pod, ""))
	if err != nil {
		return nil
	}
	items := list.Items
	slices.SortStableFunc(items, func(a, b corev1.Event) int { return eventTime(a).Compare(eventTime(b)) })
	items = items[max(0, len(items)-w.opts.Events):]
	out := make([]string, 0, len(items))
	for _, e := range items {
		line := fmt.Sprintf("%s %s: %s", e.Type, e.Reason, e.Message)
		if e.Count > 1 {
			line += fmt.Sprintf(" (x%d)", e.Count)
		}
		out = append(out, line)
	}
	return out
}

func eventsOf(pod *corev1.Pod, reason string) metav1.ListOptions {
	sel := fields.Set{"involvedObject.uid": string(pod.UID)}
	if reason != "" {
		sel["reason"] = reason
	}
	return metav1.ListOptions{FieldSelector: sel.AsSelector().String()}
}

func eventTime(e corev1.Event) time.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}

// podsOf returns the pods of a workload's newest revision, so that pods of
// the previous revision, failing or not, do not count. Kinds without pods
// of their own have none.
func (w *Waiter) podsOf(ctx context.Context, live *unstructured.Unstructured) ([]*corev1.Pod, error) {
	switch live.GroupVersionKind().GroupKind().String() {
	case "Pod":
		var pod corev1.Pod
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(live.Object, &pod); err != nil {
			return nil, err
		}
		return []*corev1.Pod{&pod}, nil
	case "Deployment.apps":
		var d appsv1.Deployment
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(live.Object, &d); err != nil {
			return nil, err
		}
		return w.deploymentPods(ctx, &d)
	case "StatefulSet.apps":
		var s appsv1.StatefulSet
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(live.Object, &s); err != nil {
			return nil, err
		}
		if s.Status.ObservedGeneration < s.Generation {
			return nil, nil
		}
		return w.ownedPods(ctx, s.Namespace, s.Spec.Selector, s.UID, s.Status.UpdateRevision)
	case "DaemonSet.apps":
		var d appsv1.DaemonSet
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(live.Object, &d); err != nil {
			return nil, err
		}
		return w.daemonSetPods(ctx, &d)
	case "ReplicaSet.apps":
		var rs appsv1.ReplicaSet
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(live.Object, &rs); err != nil {
			return nil, err
		}
		return w.ownedPods(ctx, rs.Namespace, rs.Spec.Selector, rs.UID, "")
	case "Job.batch":
		var j batchv1.Job
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(live.Object, &j); err != nil {
			return nil, err
		}
		return w.ownedPods(ctx, j.Namespace, j.Spec.Selector, j.UID, "")
	}
	return nil, nil
}

// revisionAnnotation is the revision the Deployment controller writes on
// a Deployment and on each of its ReplicaSets.
const revisionAnnotation = "deployment.kubernetes.io/revision"

// deploymentPods returns the pods of the Deployment's new ReplicaSet. Until
// the controller has observed the latest spec there is no telling which
// ReplicaSet is new, so there are none.
func (w *Waiter) deploymentPods(ctx context.Context, d *appsv1.Deployment) ([]*corev1.Pod, error) {
	if d.Status.ObservedGeneration < d.Generation {
		return nil, nil
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, err
	}
	list, err := w.client.AppsV1().ReplicaSets(d.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, err
	}
	revision := d.Annotations[revisionAnnotation]
	for _, rs := range list.Items {
		if ownedBy(rs.OwnerReferences, d.UID) && rs.Annotations[revisionAnnotation] == revision {
			return w.ownedPods(ctx, rs.Namespace, rs.Spec.Selector, rs.UID, "")
		}
	}
	return nil, nil
}

// daemonSetPods returns the pods of the DaemonSet's newest
// ControllerRevision.
func (w *Waiter) daemonSetPods(ctx context.Context, d *appsv1.DaemonSet) ([]*corev1.Pod, error) {
	if d.Status.ObservedGeneration < d.Generation {
		return nil, nil
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, err
	}
	list, err := w.client.AppsV1().ControllerRevisions(d.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, err
	}
	var newest *appsv1.ControllerRevision
	for i, cr := range list.Items {
		if ownedBy(cr.OwnerReferences, d.UID) && (newest == nil || cr.Revision > newest.Revision) {
			newest = &list.Items[i]
		}
	}
	if newest == nil {
		return nil, nil
	}
	return w.ownedPods(ctx, d.Namespace, d.Spec.Selector, d.UID, newest.Labels[appsv1.ControllerRevisionHashLabelKey])
}

// ownedPods lists the pods of selector owned by owner and, when revision is
// set, labelled with that controller revision hash.
func (w *Waiter) ownedPods(ctx context.Context, namespace string, selector *metav1.LabelSelector, owner types.UID, revision string) ([]*corev1.Pod, error) {
	sel, err := metav1.LabelSelectorAsSelector(selector)
	if err != nil {
		return nil, err
	}
	list, err := w.client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, err
	}
	var pods []*corev1.Pod
	for i, pod := range list.Items {
		if !ownedBy(pod.OwnerReferences, owner) {
			continue
		}
		if revision != "" && pod.Labels[appsv1.ControllerRevisionHashLabelKey] != revision {
			continue
		}
		pods = append(pods, &list.Items[i])
	}
	return pods, nil
}

func ownedBy(refs []metav1.OwnerReference, owner types.UID) bool {
	return slices.ContainsFunc(refs, func(r metav1.OwnerReference) bool { return r.UID == owner })
}

// sightings remember since when this wait has seen a pod in a state, so
// that a grace period counts from the first sighting, on this machine's
// clock rather than the cluster's.
type sightings struct {
	first map[sightingKey]time.Time
	last  map[sightingKey]time.Time
}

type sightingKey struct {
	pod   types.UID
	state string
}

func newSightings() *sightings {
	return &sightings{first: map[sightingKey]time.Time{}, last: map[sightingKey]time.Time{}}
}

// since records that pod is in state now and returns when this began.
func (s *sightings) since(pod types.UID, state string, now time.Time) time.Time {
	k := sightingKey{pod, state}
	s.last[k] = now
	if t, ok := s.first[k]; ok {
		return t
	}
	s.first[k] = now
	return now
}

// forgetUnseen drops states not seen in the round at now: a pod that left a
// state and re-entered it starts its grace anew.
func (s *sightings) forgetUnseen(now time.Time) {
	for k, t := range s.last {
		if t.Before(now) {
			delete(s.last, k)
			delete(s.first, k)
		}
	}
}
