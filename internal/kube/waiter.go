// Package kube waits for a rollout the way Helm 4 does, by kstatus, but
// fails fast: when the pods of a workload fail it stops within seconds and
// says which pod failed, why, and what the cluster's events said.
package kube

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/logging"
)

// WaiterOptions shape a Waiter; the zero value is the recommended setting.
type WaiterOptions struct {
	// Poll is how often the objects and their pods are read; 500ms when zero.
	Poll time.Duration
	// DisableFailFast waits out the timeout even when pods fail. Objects
	// that kstatus itself reports Failed still end the wait, as in Helm.
	DisableFailFast bool
	// Events is how many of a failing pod's latest events a diagnosis
	// shows; 5 when zero, none when negative.
	Events int
	// UnschedulableGrace is how long a pod may stay unschedulable before
	// it counts as failed; 5s when zero. Raise it where a cluster
	// autoscaler adds nodes for pending pods.
	UnschedulableGrace time.Duration
	// ProbeGrace is how long a running pod may stay unready while its
	// probes fail before it counts as failed; 30s when zero, since slow
	// starters fail a few probes on every start.
	ProbeGrace time.Duration
	// Namespace is the namespace of namespaced objects that name none,
	// usually the release's; "default" when empty.
	Namespace string
}

// Defaults for WaiterOptions.
const (
	DefaultPoll               = 500 * time.Millisecond
	DefaultEvents             = 5
	DefaultUnschedulableGrace = 5 * time.Second
	DefaultProbeGrace         = 30 * time.Second
)

// apiRetryWindow is how long the API server may keep failing in the middle
// of a wait before the wait gives up: a restarting control plane or a
// dropped connection should not fail a deploy, an unreachable one must.
const apiRetryWindow = 15 * time.Second

// Waiter waits for applied objects to become ready. It is safe for
// concurrent use.
type Waiter struct {
	opts    WaiterOptions
	client  kubernetes.Interface
	dynamic dynamic.Interface
	mapper  *mapper
}

// NewWaiter returns a Waiter for the cluster of cfg. It does not contact the
// cluster; the first Wait does.
func NewWaiter(cfg *rest.Config, o WaiterOptions) (*Waiter, error) {
	if o.Poll <= 0 {
		o.Poll = DefaultPoll
	}
	if o.Events == 0 {
		o.Events = DefaultEvents
	}
	if o.UnschedulableGrace <= 0 {
		o.UnschedulableGrace = DefaultUnschedulableGrace
	}
	if o.ProbeGrace <= 0 {
		o.ProbeGrace = DefaultProbeGrace
	}
	if o.Namespace == "" {
		o.Namespace = metav1.NamespaceDefault
	}
	if cfg.QPS == 0 && cfg.RateLimiter == nil {
		// client-go's default of 5 requests a second throttles the polls
		// of releases waited for side by side; kubectl's limits instead.
		cfg = rest.CopyConfig(cfg)
		cfg.QPS, cfg.Burst = 50, 300
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, exit.Usagef("kube waiter: %w", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, exit.Usagef("kube waiter: %w", err)
	}
	return &Waiter{
		opts:    o,
		client:  client,
		dynamic: dyn,
		mapper:  &mapper{discovery: client.Discovery()},
	}, nil
}

// errTimedOut is the cause of a wait's own deadline, told apart from a
// deadline or cancellation of the caller's context.
var errTimedOut = errors.New("rollout timed out")

// Wait returns nil once every object is Current by kstatus. It returns an
// error holding a *RolloutError (see errors.As), marked exit.Failed, as soon
// as a pod of one of the workloads fails or an object is Failed, or when
// timeout passes with objects still in progress (TimedOut set). A cancelled
// ctx returns its error promptly; an API server that cannot be reached
// returns an error marked exit.Infra.
func (w *Waiter) Wait(ctx context.Context, objects []*unstructured.Unstructured, timeout time.Duration) error {
	targets, err := w.targets(objects)
	if err != nil {
		return err
	}
	waitCtx, cancel := context.WithTimeoutCause(ctx, timeout, errTimedOut)
	defer cancel()
	log := logging.From(ctx)
	start := time.Now()
	seen := newSightings()
	tick := time.NewTicker(w.opts.Poll)
	defer tick.Stop()

	var (
		pending    []progress
		everRead   bool
		failingAPI time.Time // when the API server began to fail; zero while it answers
	)
	for {
		round, rolloutErr, err := w.check(waitCtx, targets, seen)
		switch {
		case waitCtx.Err() != nil:
			// Reported below, with the last progress seen.
		case err != nil:
			if !everRead || !transient(err) {
				return exit.Mark(exit.Infra, fmt.Errorf("wait for rollout: %w", err))
			}
			if failingAPI.IsZero() {
				failingAPI = time.Now()
			}
			if time.Since(failingAPI) > apiRetryWindow {
				return exit.Mark(exit.Infra, fmt.Errorf("wait for rollout: API server failing for %s: %w", apiRetryWindow, err))
			}
			log.Debug().Err(err).Msg("reading rollout status failed; retrying")
		case rolloutErr != nil:
			// The whole diagnosis goes to the log: errors travel as one
			// line, and callers may wrap this one beyond recognition.
			log.Error().Str("object", rolloutErr.Object).Msg("rollout failed:\n" + rolloutErr.Diagnosis())
			return exit.Mark(exit.Failed, rolloutErr)
		default:
			everRead, failingAPI = true, time.Time{}
			logProgress(log, pending, round)
			pending = round
			if len(pending) == 0 {
				log.Debug().Int64(logging.Duration, time.Since(start).Milliseconds()).Msg("rollout complete")
				return nil
			}
		}
		select {
		case <-waitCtx.Done():
			if ctx.Err() != nil {
				return fmt.Errorf("wait for rollout: %w", context.Cause(ctx))
			}
			re := w.timedOut(ctx, pending, timeout)
			log.Error().Str("object", re.Object).Msg("rollout timed out:\n" + re.Diagnosis())
			return exit.Mark(exit.Failed, re)
		case <-tick.C:
		}
	}
}

// target is one object to wait for, with its API resource resolved lazily:
// a custom resource's kind may become known only after its CRD is
// established.
type target struct {
	obj     *unstructured.Unstructured // as applied; only identity is used
	id      string                     // Kind/namespace/name
	mapping *meta.RESTMapping
}

// progress is an object that is not Current yet.
type progress struct {
	target  *target
	live    *unstructured.Unstructured // nil when not read
	message string
}

func (w *Waiter) targets(objects []*unstructured.Unstructured) ([]*target, error) {
	targets := make([]*target, 0, len(objects))
	for i, obj := range objects {
		if obj == nil || obj.GetKind() == "" || obj.GetName() == "" {
			return nil, exit.Usagef("wait for rollout: object %d has no kind or name", i+1)
		}
		targets = append(targets, &target{obj: obj, id: objectID(obj.GetKind(), obj.GetNamespace(), obj.GetName())})
	}
	return targets, nil
}

func objectID(kind, namespace, name string) string {
	if namespace == "" {
		return kind + "/" + name
	}
	return kind + "/" + namespace + "/" + name
}

// check reads every target once. It returns the targets still in
// progress, or the first failure found, or an API error.
func (w *Waiter) check(ctx context.Context, targets []*target, seen *sightings) ([]progress, *RolloutError, error) {
	var pending []progress
	now := time.Now()
	for _, t := range targets {
		p, done, err := w.read(ctx, t)
		if err != nil {
			return nil, nil, err
		}
		if done {
			continue
		}
		failed := p.result != nil && p.result.Status == status.FailedStatus
		if (failed || !w.opts.DisableFailFast) && p.live != nil {
			rerr, err := w.failFast(ctx, t, p.live, now, seen)
			if err != nil {
				return nil, nil, err
			}
			if rerr != nil {
				return nil, rerr, nil
			}
		}
		if failed {
			return nil, &RolloutError{Object: t.id, Reason: p.message}, nil
		}
		pending = append(pending, p.progress)
	}
	seen.forgetUnseen(now)
	return pending, nil, nil
}

type reading struct {
	progress
	result *status.Result
}

// read fetches one target and computes its kstatus.
func (w *Waiter) read(ctx context.Context, t *target) (reading, bool, error) {
	r := reading{progress: progress{target: t}}
	if t.mapping == nil {
		gvk := t.obj.GroupVersionKind()
		mapping, err := w.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if meta.IsNoMatchError(err) {
			// Perhaps a CRD applied a moment ago; the mapper discovers
			// again next round.
			r.message = fmt.Sprintf("the API server does not serve %s yet", gvk)
			return r, false, nil
		}
		if err != nil {
			return r, false, fmt.Errorf("%s: discover API: %w", t.id, err)
		}
		t.mapping = mapping
		if mapping.Scope.Name() == meta.RESTScopeNameNamespace && t.obj.GetNamespace() == "" {
			t.id = objectID(t.obj.GetKind(), w.opts.Namespace, t.obj.GetName())
		}
	}
	var res dynamic.ResourceInterface = w.dynamic.Resource(t.mapping.Resource)
	if t.mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		res = w.dynamic.Resource(t.mapping.Resource).Namespace(w.namespaceOf(t.obj))
	}
	live, err := res.Get(ctx, t.obj.GetName(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		r.message = "not found"
		return r, false, nil
	}
	if err != nil {
		return r, false, fmt.Errorf("%s: %w", t.id, err)
	}
	r.live = live
	if paused(live) {
		// Helm skips paused Deployments: they never progress by design.
		return r, true, nil
	}
	result, err := status.Compute(live)
	if err != nil {
		return r, false, exit.Mark(exit.Failed, fmt.Errorf("%s: compute status: %w", t.id, err))
	}
	if result.Status == status.CurrentStatus {
		return r, true, nil
	}
	r.result = result
	r.message = fmt.Sprintf("%s: %s", result.Status, result.Message)
	return r, false, nil
}

func (w *Waiter) namespaceOf(obj *unstructured.Unstructured) string {
	if ns := obj.GetNamespace(); ns != "" {
		return ns
	}
	return w.opts.Namespace
}

func paused(obj *unstructured.Unstructured) bool {
	if obj.GetKind() != "Deployment" {
		return false
	}
	p, _, _ := unstructured.NestedBool(obj.Object, "spec", "paused")
	return p
}

// transient reports whether an API error may go away by itself.
func transient(err error) bool {
	var se apierrors.APIStatus
	if !errors.As(err, &se) {
		return true // network errors
	}
	return !(apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) ||
		apierrors.IsBadRequest(err) || apierrors.IsInvalid(err) || apierrors.IsMethodNotSupported(err))
}

// timedOut describes a wait that ran out of time: the first object still in
// progress, and its pods that are not ready.
func (w *Waiter) timedOut(ctx context.Context, pending []progress, timeout time.Duration) *RolloutError {
	e := &RolloutError{TimedOut: true, Reason: fmt.Sprintf("not ready after %s", timeout)}
	if len(pending) == 0 {
		return e
	}
	first := pending[0]
	e.Object = first.target.id
	e.Reason += ": " + first.message
	if len(pending) > 1 {
		e.Reason += fmt.Sprintf(" (and %d more objects in progress)", len(pending)-1)
	}
	if first.live == nil {
		return e
	}
	// The wait's own context is over; a short one of its own lets the
	// diagnosis still reach the cluster.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	pods, err := w.podsOf(ctx, first.live)
	if err != nil {
		return e
	}
	for _, pod := range pods {
		if d := unready(pod); d != nil && len(e.Pods) < maxPodsInDiagnosis {
			d.Events = w.events(ctx, pod)
			e.Pods = append(e.Pods, *d)
		}
	}
	return e
}

// mapper resolves kinds to API resources. Unlike client-go's deferred
// mapper it logs nothing: discovery errors reach the caller. A kind it does
// not know makes it discover again on the next lookup, for CRDs
// established during the wait.
type mapper struct {
	discovery discovery.DiscoveryInterface
	mu        sync.Mutex
	mapper    meta.RESTMapper // nil until discovered, or after a miss
}

func (m *mapper) RESTMapping(gk schema.GroupKind, version string) (*meta.RESTMapping, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mapper == nil {
		groups, err := restmapper.GetAPIGroupResources(m.discovery)
		// An aggregated API that is down (often metrics.k8s.io) fails
		// only its own group; the others still map.
		if err != nil && !(discovery.IsGroupDiscoveryFailedError(err) && len(groups) > 0) {
			return nil, err
		}
		m.mapper = restmapper.NewDiscoveryRESTMapper(groups)
	}
	mapping, err := m.mapper.RESTMapping(gk, version)
	if meta.IsNoMatchError(err) {
		m.mapper = nil
	}
	return mapping, err
}
