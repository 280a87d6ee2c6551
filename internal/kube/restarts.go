package kube

import (
	"context"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Restarts reports the container restarts of the current pods of each
// workload among objects, by pod name: smoke-test soaks a release and
// fails when the count grows. Objects that own no pods are ignored.
func (w *Waiter) Restarts(ctx context.Context, objects []*unstructured.Unstructured) (map[string]int, error) {
	targets, err := w.targets(objects)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, t := range targets {
		r, _, err := w.read(ctx, t)
		if err != nil {
			return nil, err
		}
		if r.live == nil {
			continue
		}
		pods, err := w.podsOf(ctx, r.live)
		if err != nil {
			return nil, err
		}
		for _, p := range pods {
			out[p.Namespace+"/"+p.Name] = restarts(p)
		}
	}
	return out, nil
}
