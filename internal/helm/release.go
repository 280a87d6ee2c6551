package helm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/kube"
	rcommon "helm.sh/helm/v4/pkg/release/common"
	release "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage/driver"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/stepper-cd/stepper/internal/exit"
)

// FieldManager is the name stepper applies objects under, server-side and
// client-side alike. It never changes: a different name would make the
// API server see every stepper upgrade as a conflict with the previous
// one.
const FieldManager = "stepper"

// Labels stepper puts on every release revision it writes (they end up on
// Helm's storage Secret), so a later run can tell whose a revision is.
const (
	// LabelOwner is Owner made fit for a label value: readable, at most 63
	// characters.
	LabelOwner = "stepper.dev/owner"
	// LabelOwnerID is the first 16 hex digits of the SHA-256 of Owner; it
	// tells owners apart exactly where LabelOwner had to be shortened.
	LabelOwnerID = "stepper.dev/owner-id"
	// LabelOwnerURL is the URL of the run that wrote the revision (the CI
	// job), made fit for a label value; the owner stays the same across
	// retries, the URL does not.
	LabelOwnerURL = "stepper.dev/owner-url"
	// LabelDeadline is when the operation that wrote the revision gives
	// up at the latest, in Unix seconds. A pending revision past it is a
	// stale lock, whatever the timeout of the run that finds it.
	LabelDeadline = "stepper.dev/deadline"
)

// Cluster says which Kubernetes cluster to talk to: RESTConfig when set,
// otherwise Kubeconfig and Context ("" means the usual KUBECONFIG or
// ~/.kube/config, and its current context).
type Cluster struct {
	Kubeconfig string
	Context    string
	RESTConfig *rest.Config
}

// Waiter waits until a release's objects are healthy. Upgrade and Rollback
// call it after applying, with the release's manifest and the time left;
// an error makes the release failed. The context ends when the run is
// cancelled, and Wait must then return at once.
type Waiter interface {
	Wait(ctx context.Context, objects []*unstructured.Unstructured, timeout time.Duration) error
}

// Actions a ReleaseResult reports.
const (
	ActionInstall    = "install"
	ActionUpgrade    = "upgrade"
	ActionUnchanged  = "unchanged"
	ActionRolledBack = "rolled-back"
)

// Apply methods, for UpgradeOptions.ApplyMethod and ReleaseResult.
const (
	ApplyAuto       = ""
	ApplyServerSide = "server-side"
	ApplyClientSide = "client-side"
)

// ReleaseResult describes a release after an operation, or as a plan
// would leave it.
type ReleaseResult struct {
	Release   string
	Namespace string
	// Revision is the release revision written (or, for a plan, the one
	// that would be).
	Revision int
	// Action is ActionInstall, ActionUpgrade, ActionUnchanged (plans only)
	// or ActionRolledBack.
	Action string
	// Status is Helm's status of Revision: deployed, failed, …
	Status string
	// RolledBackTo is the revision whose content a rollback restored; 0
	// when there was no rollback.
	RolledBackTo int
	// ApplyMethod is how the objects were applied: ApplyServerSide or
	// ApplyClientSide.
	ApplyMethod string
	// Recovered describes a stale pending revision that was marked failed
	// before this operation; "" when there was none.
	Recovered string
	// Owner is who wrote Revision, from LabelOwner; "" when not stepper.
	Owner string
	// Description is Helm's description of Revision.
	Description string
	// Updated is when Revision was last deployed (or tried).
	Updated time.Time
	// Chart is name-version of the revision's chart.
	Chart string
	// ChartVersion is the version of the revision's chart.
	ChartVersion string
	// Manifest is the revision's rendered manifest. It holds Secrets as
	// rendered, so it must never be printed or logged as it is.
	Manifest string
	// Diff is, for plans, a unified diff from the deployed manifest to the
	// planned one, with Secret data replaced by digests.
	Diff string
	// Hooks are the revision's hook manifests, "---"-separated; like
	// Manifest, never to be printed as they are.
	Hooks string
	// Values are the values the revision was installed with (the user's,
	// not the chart's defaults); they may hold secrets.
	Values map[string]any
}

// session is one release operation's Helm configuration and the waits it
// made.
type session struct {
	cfg  *action.Configuration
	kube *waitingKube
	ns   string
	rest *rest.Config
}

// fieldManagerOnce sets Helm's field manager, a process-wide variable in
// the SDK, once.
var fieldManagerOnce sync.Once

// newSession connects a Helm action configuration to cl and ns. Helm's own
// log is discarded: its messages quote errors, and errors can quote values.
// Nothing is dialled until an action runs.
func newSession(ctx context.Context, cl Cluster, ns string, w Waiter) (*session, error) {
	fieldManagerOnce.Do(func() { kube.ManagedFieldsManager = FieldManager })
	rc, err := cl.restConfig()
	if err != nil {
		return nil, err
	}
	getter := &restGetter{cfg: rc, ns: ns}
	cfg := action.NewConfiguration(action.ConfigurationSetLogger(slog.DiscardHandler))
	if err := cfg.Init(getter, ns, "secret"); err != nil {
		return nil, exit.Infraf("kubernetes client: %w", err)
	}
	kc, ok := cfg.KubeClient.(*kube.Client)
	if !ok {
		return nil, exit.Infraf("kubernetes client: unexpected %T", cfg.KubeClient)
	}
	kc.Namespace = ns
	wk := &waitingKube{Client: kc, ctx: ctx, waiter: w}
	cfg.KubeClient = wk
	return &session{cfg: cfg, kube: wk, ns: ns, rest: rc}, nil
}

// restConfig loads cl's client configuration.
func (cl Cluster) restConfig() (*rest.Config, error) {
	if cl.RESTConfig != nil {
		return rest.CopyConfig(cl.RESTConfig), nil
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if cl.Kubeconfig != "" {
		rules.ExplicitPath = cl.Kubeconfig
	}
	rc, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules,
		&clientcmd.ConfigOverrides{CurrentContext: cl.Context}).ClientConfig()
	if err != nil {
		return nil, exit.Usagef("kubeconfig %s: %w; check the file and the context name", cl.describe(), err)
	}
	if rc.QPS == 0 && rc.RateLimiter == nil {
		// client-go's default of 5 requests a second throttles releases
		// applied side by side; kubectl's limits instead.
		rc.QPS, rc.Burst = 50, 300
	}
	return rc, nil
}

func (cl Cluster) describe() string {
	s := cl.Kubeconfig
	if s == "" {
		s = "(default)"
	}
	if cl.Context != "" {
		s += " context " + cl.Context
	}
	return s
}

// restGetter hands Helm one REST configuration; it satisfies the
// RESTClientGetter interface of k8s.io/cli-runtime.
type restGetter struct {
	cfg *rest.Config
	ns  string

	once      sync.Once
	discovery discovery.CachedDiscoveryInterface
	err       error
}

func (g *restGetter) ToRESTConfig() (*rest.Config, error) { return rest.CopyConfig(g.cfg), nil }

func (g *restGetter) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	g.once.Do(func() {
		var dc *discovery.DiscoveryClient
		dc, g.err = discovery.NewDiscoveryClientForConfig(g.cfg)
		if g.err == nil {
			g.discovery = memory.NewMemCacheClient(dc)
		}
	})
	return g.discovery, g.err
}

func (g *restGetter) ToRESTMapper() (meta.RESTMapper, error) {
	dc, err := g.ToDiscoveryClient()
	if err != nil {
		return nil, err
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(dc)
	return restmapper.NewShortcutExpander(mapper, dc, nil), nil
}

func (g *restGetter) ToRawKubeConfigLoader() clientcmd.ClientConfig { return fixedClientConfig{g} }

// fixedClientConfig answers kubectl's questions with the getter's
// configuration and namespace.
type fixedClientConfig struct{ g *restGetter }

func (c fixedClientConfig) RawConfig() (clientcmdapi.Config, error) {
	return *clientcmdapi.NewConfig(), nil
}
func (c fixedClientConfig) ClientConfig() (*rest.Config, error) { return c.g.ToRESTConfig() }
func (c fixedClientConfig) Namespace() (string, bool, error)    { return c.g.ns, true, nil }
func (c fixedClientConfig) ConfigAccess() clientcmd.ConfigAccess {
	return clientcmd.NewDefaultClientConfigLoadingRules()
}

// waitingKube is Helm's Kubernetes client with stepper's waiting: every
// wait ends with the operation's context, the injected Waiter (if any)
// replaces Helm's for the release's objects (hooks keep Helm's), and a
// failed wait is remembered so it can be told apart from other failures.
type waitingKube struct {
	*kube.Client
	ctx    context.Context
	waiter Waiter

	mu      sync.Mutex
	waitErr error
}

func (k *waitingKube) GetWaiter(s kube.WaitStrategy) (kube.Waiter, error) {
	return k.GetWaiterWithOptions(s)
}

func (k *waitingKube) GetWaiterWithOptions(s kube.WaitStrategy, opts ...kube.WaitOption) (kube.Waiter, error) {
	opts = append(slices.Clone(opts), kube.WithWaitContext(k.ctx), kube.WithStatusComputeWorkers(8))
	inner, err := k.Client.GetWaiterWithOptions(s, opts...)
	if err != nil {
		return nil, err
	}
	return &recordingWaiter{Waiter: inner, k: k, own: s != kube.HookOnlyStrategy && k.waiter != nil}, nil
}

// failedWait returns the error of the last failed release wait, nil if
// none failed.
func (k *waitingKube) failedWait() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.waitErr
}

// resetWait forgets a failed wait, before a rollback waits anew.
func (k *waitingKube) resetWait() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.waitErr = nil
}

type recordingWaiter struct {
	kube.Waiter
	k   *waitingKube
	own bool // use k.waiter for Wait and WaitWithJobs
}

func (w *recordingWaiter) Wait(resources kube.ResourceList, timeout time.Duration) error {
	return w.record(w.wait(resources, timeout, false))
}

func (w *recordingWaiter) WaitWithJobs(resources kube.ResourceList, timeout time.Duration) error {
	return w.record(w.wait(resources, timeout, true))
}

func (w *recordingWaiter) wait(resources kube.ResourceList, timeout time.Duration, jobs bool) error {
	if !w.own {
		if jobs {
			return w.Waiter.WaitWithJobs(resources, timeout)
		}
		return w.Waiter.Wait(resources, timeout)
	}
	objs := make([]*unstructured.Unstructured, 0, len(resources))
	for _, r := range resources {
		u, err := toUnstructured(r.Object)
		if err != nil {
			return err
		}
		objs = append(objs, u)
	}
	return w.k.waiter.Wait(w.k.ctx, objs, timeout)
}

func (w *recordingWaiter) record(err error) error {
	if err != nil {
		w.k.mu.Lock()
		w.k.waitErr = err
		w.k.mu.Unlock()
	}
	return err
}

func toUnstructured(obj runtime.Object) (*unstructured.Unstructured, error) {
	if u, ok := obj.(*unstructured.Unstructured); ok {
		return u.DeepCopy(), nil
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, fmt.Errorf("convert %T: %w", obj, err)
	}
	return &unstructured.Unstructured{Object: m}, nil
}

// history returns every revision of name, oldest first; none is not an
// error.
func (s *session) history(name string) ([]*release.Release, error) {
	list, err := s.cfg.Releases.History(name)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := make([]*release.Release, 0, len(list))
	for _, r := range list {
		switch r := r.(type) {
		case *release.Release:
			out = append(out, r)
		case release.Release:
			out = append(out, &r)
		default:
			return nil, fmt.Errorf("release %s: unsupported release record %T", name, r)
		}
	}
	slices.SortFunc(out, func(a, b *release.Release) int { return a.Version - b.Version })
	return out, nil
}

// lastGood is the newest revision below before that was deployed
// (superseded revisions were deployed once; failed ones never are
// superseded), nil if there is none.
func lastGood(hist []*release.Release, before int) *release.Release {
	for _, r := range slices.Backward(hist) {
		if r.Version < before && (r.Info.Status == rcommon.StatusDeployed || r.Info.Status == rcommon.StatusSuperseded) {
			return r
		}
	}
	return nil
}

// settle makes sure no revision above floor is left pending after an
// operation that failed: Helm leaves pending-rollback behind when a
// rollback hook fails, and an interrupted operation may not have written
// its failure yet. It returns the error of writing the record, if any.
func (s *session) settle(name string, floor int, cause error) error {
	hist, err := s.history(name)
	if err != nil {
		return err
	}
	var errs []error
	for _, r := range hist {
		if r.Version > floor && r.Info.Status.IsPending() {
			r.Info.Status = rcommon.StatusFailed
			r.Info.Description = truncate("stepper: operation ended without finishing: "+cause.Error(), 256)
			errs = append(errs, s.cfg.Releases.Update(r))
		}
	}
	return errors.Join(errs...)
}

// result describes r.
func result(r *release.Release, act string) *ReleaseResult {
	res := &ReleaseResult{
		Release:     r.Name,
		Namespace:   r.Namespace,
		Revision:    r.Version,
		Action:      act,
		ApplyMethod: applyMethodName(r.ApplyMethod),
		Owner:       r.Labels[LabelOwner],
		Manifest:    r.Manifest,
		Values:      r.Config,
	}
	var hooks []string
	for _, h := range r.Hooks {
		if h != nil {
			hooks = append(hooks, h.Manifest)
		}
	}
	res.Hooks = strings.Join(hooks, "\n---\n")
	if r.Info != nil {
		res.Status = r.Info.Status.String()
		res.Description = r.Info.Description
		res.Updated = r.Info.LastDeployed
		res.RolledBackTo = r.Info.RollbackRevision
	}
	if r.Chart != nil && r.Chart.Metadata != nil {
		res.Chart = r.Chart.Metadata.Name + "-" + r.Chart.Metadata.Version
		res.ChartVersion = r.Chart.Metadata.Version
	}
	return res
}

func applyMethodName(m string) string {
	if m == string(release.ApplyMethodServerSideApply) {
		return ApplyServerSide
	}
	return ApplyClientSide
}

// Status describes the newest revision of a release. A release that does
// not exist is an exit.Usage error.
func (c *Client) Status(ctx context.Context, cl Cluster, name, namespace string) (*ReleaseResult, error) {
	hist, err := c.History(ctx, cl, name, namespace)
	if err != nil {
		return nil, err
	}
	if len(hist) == 0 {
		return nil, exit.Usagef("release %s/%s not found", namespace, name)
	}
	return hist[len(hist)-1], nil
}

// History describes every revision of a release, oldest first; a release
// that does not exist has none.
func (c *Client) History(ctx context.Context, cl Cluster, name, namespace string) ([]*ReleaseResult, error) {
	namespace = defaultNamespace(namespace)
	s, err := newSession(ctx, cl, namespace, nil)
	if err != nil {
		return nil, err
	}
	hist, err := s.history(name)
	if err != nil {
		return nil, classifyKube(fmt.Sprintf("release %s/%s: history", namespace, name), err)
	}
	out := make([]*ReleaseResult, len(hist))
	for i, r := range hist {
		out[i] = result(r, "")
	}
	return out, nil
}

func defaultNamespace(ns string) string {
	if ns == "" {
		return "default"
	}
	return ns
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n-3], "") + "..."
}
