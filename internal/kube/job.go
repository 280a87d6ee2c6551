package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/stepper-cd/stepper/internal/exit"
)

var jobResource = schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "jobs"}

// RunJob creates job, a Job as a chart renders it, in namespace under a
// name of its own (the rendered name and a time suffix, so that an earlier
// run's Job does not stand in the way) and waits until it has completed,
// failing fast on a failing pod as Wait does. The Job is left for its
// logs; a ttlSecondsAfterFinished the chart set still applies.
func (w *Waiter) RunJob(ctx context.Context, namespace string, job map[string]any, timeout time.Duration) error {
	u, err := copyObject(job)
	if err != nil {
		return exit.Usagef("run Job: %v", err)
	}
	if u.GetKind() != "Job" {
		return exit.Usagef("run %s %s: not a Job", u.GetKind(), u.GetName())
	}
	name := u.GetName()
	suffix := "-" + strconv.FormatInt(time.Now().UnixNano(), 36)[4:]
	if len(name)+len(suffix) > 63 {
		name = name[:63-len(suffix)]
	}
	u.SetName(name + suffix)
	u.SetNamespace(namespace)
	u.SetResourceVersion("")
	// Helm's hook annotations mean nothing outside a Helm operation.
	ann := u.GetAnnotations()
	for k := range ann {
		if len(k) > 8 && k[:8] == "helm.sh/" {
			delete(ann, k)
		}
	}
	u.SetAnnotations(ann)
	created, err := w.dynamic.Resource(jobResource).Namespace(namespace).Create(ctx, u, metav1.CreateOptions{})
	if err != nil {
		class := exit.Infra
		if apierrors.IsInvalid(err) || apierrors.IsForbidden(err) || apierrors.IsNotFound(err) || apierrors.IsAlreadyExists(err) {
			class = exit.Failed
		}
		return exit.Mark(class, fmt.Errorf("create Job %s/%s: %w", namespace, u.GetName(), err))
	}
	deadline := time.Now().Add(timeout)
	if err := w.Wait(ctx, []*unstructured.Unstructured{created}, timeout); err != nil {
		return err
	}
	return w.awaitJob(ctx, namespace, created.GetName(), deadline)
}

// awaitJob waits for the Job's Complete or Failed condition: kstatus, and
// so Wait, counts a Job Current as soon as it has started.
func (w *Waiter) awaitJob(ctx context.Context, namespace, name string, deadline time.Time) error {
	id := "Job/" + namespace + "/" + name
	tick := time.NewTicker(w.opts.Poll)
	defer tick.Stop()
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for {
		job, err := w.client.BatchV1().Jobs(namespace).Get(ctx, name, metav1.GetOptions{})
		switch {
		case ctx.Err() != nil:
			return fmt.Errorf("wait for %s: %w", id, context.Cause(ctx))
		case err != nil && !transient(err):
			return exit.Mark(exit.Infra, fmt.Errorf("wait for %s: %w", id, err))
		case err == nil:
			for _, c := range job.Status.Conditions {
				if c.Status != corev1.ConditionTrue {
					continue
				}
				switch c.Type {
				case batchv1.JobComplete:
					return nil
				case batchv1.JobFailed:
					return exit.Mark(exit.Failed, &RolloutError{Object: id, Reason: c.Reason + ": " + c.Message})
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s: %w", id, context.Cause(ctx))
		case <-timer.C:
			return exit.Mark(exit.Failed, &RolloutError{Object: id, TimedOut: true, Reason: "not complete within the timeout"})
		case <-tick.C:
		}
	}
}

// copyObject copies m through JSON: a manifest decoded from YAML holds
// plain ints, which unstructured's DeepCopy panics on.
func copyObject(m map[string]any) (*unstructured.Unstructured, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(b); err != nil {
		return nil, err
	}
	return u, nil
}
