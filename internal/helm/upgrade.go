package helm

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"runtime/debug"
	"time"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/kube"
	ri "helm.sh/helm/v4/pkg/release"
	rcommon "helm.sh/helm/v4/pkg/release/common"
	release "helm.sh/helm/v4/pkg/release/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/logging"
)

// DefaultReleaseTimeout bounds an operation's waits when Timeout is 0, as
// Helm's does.
const DefaultReleaseTimeout = 5 * time.Minute

// DefaultMaxHistory is how many revisions of a release are kept when
// MaxHistory is 0.
const DefaultMaxHistory = 10

// UpgradeOptions describe an install or upgrade of one release.
type UpgradeOptions struct {
	// Release and Namespace name the release; Namespace "" is "default".
	Release   string
	Namespace string
	// Chart is the chart to deploy.
	Chart *LoadedChart
	// Values, ValueFiles, Set and SetString are merged as in
	// RenderOptions. They are the release's whole configuration: values of
	// the previous revision are not reused.
	Values     map[string]any
	ValueFiles []string
	Set        []string
	SetString  []string
	// ValuesFS confines ValueFiles, as in RenderOptions.
	ValuesFS fs.FS
	// CreateNamespace creates Namespace on install when it is missing.
	CreateNamespace bool
	// Timeout bounds each wait (hooks, the release's objects, a rollback);
	// 0 means DefaultReleaseTimeout. The revision records the deadline it
	// implies, by which another run may take its lock as stale (recover.go).
	Timeout time.Duration
	// Wait waits until the release's objects are healthy (Waiter, or
	// Helm's kstatus waiter) and fails the release when they are not
	// within Timeout. Hooks are always waited for.
	Wait bool
	// RollbackOnFailure rolls back to the last deployed revision when the
	// upgrade fails (implies Wait). A first install that fails is left
	// failed, not uninstalled; the next Upgrade upgrades it.
	RollbackOnFailure bool
	// Owner identifies who deploys, e.g. the CI job URL or user@host ("" is
	// the current user@host). It is recorded on every revision so that a
	// lock left by an interrupted run of the same owner is recovered.
	Owner string
	// OwnerURL is the URL of this run of Owner (the CI job URL), recorded
	// beside it; it changes with every retry where Owner does not.
	OwnerURL string
	// DryRun plans instead of deploying: Upgrade then does what Plan does.
	DryRun bool
	// Waiter replaces Helm's waiter for the release's objects; nil uses
	// Helm's kstatus waiter.
	Waiter Waiter
	// ApplyMethod is ApplyAuto (server-side for installs; an upgrade keeps
	// the method of the release's last revision, so releases installed by
	// Helm 3 stay client-side), ApplyServerSide or ApplyClientSide.
	ApplyMethod string
	// ForceConflicts takes over fields other field managers own when
	// applying server-side. Without it, such conflicts fail the upgrade.
	ForceConflicts bool
	// MaxHistory is how many revisions to keep; 0 means DefaultMaxHistory.
	MaxHistory int
}

func (o *UpgradeOptions) check() error {
	if o.Release == "" {
		return exit.Usagef("upgrade: name the release")
	}
	if o.Chart == nil {
		return exit.Usagef("upgrade %s: no chart given", o.Release)
	}
	switch o.ApplyMethod {
	case ApplyAuto, ApplyServerSide, ApplyClientSide:
	default:
		return exit.Usagef("upgrade %s: apply method %q: use %q, %q or \"\" for automatic", o.Release, o.ApplyMethod, ApplyServerSide, ApplyClientSide)
	}
	o.Namespace = defaultNamespace(o.Namespace)
	if o.Timeout <= 0 {
		o.Timeout = DefaultReleaseTimeout
	}
	if o.Owner == "" {
		o.Owner = defaultOwner()
	}
	if o.MaxHistory <= 0 {
		o.MaxHistory = DefaultMaxHistory
	}
	if o.RollbackOnFailure {
		o.Wait = true
	}
	return nil
}

// values merges the user's values and returns them with a redactor that
// hides them.
func (o *UpgradeOptions) values() (map[string]any, redactor, error) {
	vals, err := mergeValues(RenderOptions{Values: o.Values, ValueFiles: o.ValueFiles, ValuesFS: o.ValuesFS, Set: o.Set, SetString: o.SetString})
	red := newRedactor(vals, append(append([]string{}, o.Set...), o.SetString...)...)
	if err != nil {
		// A --set that does not parse is not in vals; its raw text is in
		// the redactor, so the message keeps only what is not a value.
		return nil, red, red.err(err)
	}
	return vals, red, nil
}

// Upgrade installs the release, or upgrades it when it exists
// (`helm upgrade --install`). A stale pending revision is recovered first
// (see recover.go). When ctx is cancelled the operation stops, the
// revision is marked failed rather than left pending, and Upgrade returns
// within seconds.
//
// Errors: an unreachable cluster or a refused pending lock is exit.Infra;
// bad values or options exit.Usage; a chart that does not render, objects
// the API server rejects, apply conflicts and an unhealthy release after
// the wait are exit.Failed. With RollbackOnFailure the result says what
// the rollback restored (Action rolled-back, RolledBackTo) even though
// the error reports the failed upgrade; when the rollback fails too, both
// errors are returned and no revision is left pending. Error messages
// never contain the values given.
func (c *Client) Upgrade(ctx context.Context, cl Cluster, o UpgradeOptions) (*ReleaseResult, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	if o.DryRun {
		return c.Plan(ctx, cl, o)
	}
	vals, red, err := o.values()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	res, err := c.upgrade(ctx, cl, o, vals, red)
	log := logging.From(ctx).Info()
	if err != nil {
		log = logging.From(ctx).Warn()
	}
	if res != nil {
		log = log.Int("revision", res.Revision).Str("action", res.Action).Str("status", res.Status)
	}
	log.Str(logging.Release, o.Namespace+"/"+o.Release).Int64(logging.Duration, time.Since(start).Milliseconds()).Msg("helm upgrade")
	return res, red.err(err)
}

func (c *Client) upgrade(ctx context.Context, cl Cluster, o UpgradeOptions, vals map[string]any, red redactor) (*ReleaseResult, error) {
	op := fmt.Sprintf("upgrade %s/%s", o.Namespace, o.Release)
	s, err := newSession(ctx, cl, o.Namespace, o.Waiter)
	if err != nil {
		return nil, err
	}
	if err := s.cfg.KubeClient.IsReachable(); err != nil {
		return nil, classifyKube(op, err, exit.Infra)
	}
	hist, err := s.history(o.Release)
	if err != nil {
		return nil, classifyKube(op+": read history", err, exit.Infra)
	}
	recovered, err := s.recoverPending(hist, o.Owner, o.Timeout, time.Now())
	if err != nil {
		return nil, err
	}
	floor := 0
	if len(hist) > 0 {
		floor = hist[len(hist)-1].Version
	}

	install := len(hist) == 0 || hist[len(hist)-1].Info.Status == rcommon.StatusUninstalled
	rel, err := s.installOrUpgrade(ctx, o, vals, install, floor > 0)
	act := ActionUpgrade
	if install {
		act = ActionInstall
	}
	if err == nil {
		r, cerr := toV1(rel)
		if cerr != nil {
			return nil, exit.Infraf("%s: %w", op, cerr)
		}
		res := result(r, act)
		res.Recovered = recovered
		return res, nil
	}
	return s.failed(ctx, o, op, act, floor, recovered, err, red)
}

// installOrUpgrade runs the install or upgrade, turning a panic in it into
// an error, so that the revision it may have written is settled as failed
// like any other failure rather than left pending.
func (s *session) installOrUpgrade(ctx context.Context, o UpgradeOptions, vals map[string]any, install, reinstall bool) (rel ri.Releaser, err error) {
	defer func() {
		if p := recover(); p != nil {
			logging.From(ctx).Error().Str(logging.Release, o.Namespace+"/"+o.Release).Bytes("stack", debug.Stack()).Msgf("panic: %v", p)
			rel, err = nil, fmt.Errorf("internal error (panic: %v); the log holds the stack", p)
		}
	}()
	if install {
		return s.install(ctx, o, vals, reinstall)
	}
	return s.upgrade(ctx, o, vals)
}

// failed turns a failed install or upgrade into its result: no revision
// left pending, the error classified, and the rollback done when asked.
func (s *session) failed(ctx context.Context, o UpgradeOptions, op, act string, floor int, recovered string, err error, red redactor) (*ReleaseResult, error) {
	waitErr := s.kube.failedWait()
	cause := red.err(err)
	settleErr := s.settle(o.Release, floor, cause)
	if ctx.Err() != nil {
		err = fmt.Errorf("%s: interrupted; the new revision was marked failed: %w", op, ctx.Err())
	} else if waitErr != nil {
		err = exit.Failedf("%s: the release is not healthy: %w", op, err)
	} else {
		err = classifyKube(op, err)
	}
	if settleErr != nil {
		err = errors.Join(err, classifyKube(op+": mark the revision failed", settleErr, exit.Infra))
	}

	hist, herr := s.history(o.Release)
	if herr != nil || len(hist) == 0 {
		return nil, err
	}
	last := hist[len(hist)-1]
	res := result(last, act)
	res.Recovered = recovered
	if !o.RollbackOnFailure || ctx.Err() != nil {
		return res, err
	}
	good := lastGood(hist, last.Version)
	if good == nil {
		return res, fmt.Errorf("%w; no earlier revision was ever deployed, so there is nothing to roll back to "+
			"and revision %d stays failed", err, last.Version)
	}
	s.kube.resetWait()
	rb, rbErr := s.rollback(ctx, o.Release, good.Version, rollbackSettings{
		Timeout: o.Timeout, Wait: true, Owner: o.Owner, OwnerURL: o.OwnerURL, ForceConflicts: o.ForceConflicts, MaxHistory: o.MaxHistory,
	}, red)
	if rbErr != nil {
		class := exit.Failed
		if exit.ClassOf(rbErr) == exit.Infra {
			class = exit.Infra
		}
		if rb == nil {
			rb = res
		}
		return rb, exit.Mark(class, fmt.Errorf("%w; the rollback to revision %d failed too, and the release is "+
			"left failed at revision %d: %w", err, good.Version, rb.Revision, rbErr))
	}
	return rb, fmt.Errorf("%w; rolled back to revision %d (now revision %d)", err, good.Version, rb.Revision)
}

// install runs Helm's install. replace reuses the name of an uninstalled
// release whose history was kept.
func (s *session) install(ctx context.Context, o UpgradeOptions, vals map[string]any, replace bool) (ri.Releaser, error) {
	in := action.NewInstall(s.cfg)
	in.ReleaseName = o.Release
	in.Namespace = o.Namespace
	// Helm would build its Namespace with a client-side schema check that
	// parses the whole core/v1 OpenAPI document per release; creating it
	// here costs one request.
	if o.CreateNamespace {
		if err := s.ensureNamespace(ctx, o.Namespace); err != nil {
			return nil, err
		}
	}
	in.Timeout = o.Timeout
	in.WaitStrategy = waitStrategy(o.Wait)
	in.ServerSideApply = o.ApplyMethod != ApplyClientSide
	// Client-side schema validation fetches and parses the cluster's
	// OpenAPI documents on every release: about two thirds of an apply's
	// CPU. A server-side apply is checked against the same schema by the
	// API server, which refuses fields it does not declare, so the client
	// check only repeats it. Client-side applies keep it.
	in.DisableOpenAPIValidation = in.ServerSideApply
	in.ForceConflicts = o.ForceConflicts
	in.Labels = o.holder().labels(time.Now())
	in.Replace = replace
	return in.RunWithContext(ctx, copyChart(o.Chart.chart), vals)
}

// upgrade runs Helm's upgrade.
func (s *session) upgrade(ctx context.Context, o UpgradeOptions, vals map[string]any) (ri.Releaser, error) {
	up := action.NewUpgrade(s.cfg)
	up.Install = true
	up.Namespace = o.Namespace
	up.Timeout = o.Timeout
	up.WaitStrategy = waitStrategy(o.Wait)
	up.ServerSideApply = helmApplyMethod(o.ApplyMethod)
	up.DisableOpenAPIValidation = o.ApplyMethod == ApplyServerSide
	up.ForceConflicts = o.ForceConflicts
	up.Labels = o.holder().labels(time.Now())
	up.MaxHistory = o.MaxHistory
	up.ResetValues = true
	return up.RunWithContext(ctx, o.Release, copyChart(o.Chart.chart), vals)
}

func waitStrategy(wait bool) kube.WaitStrategy {
	if wait {
		return kube.StatusWatcherStrategy
	}
	return kube.HookOnlyStrategy
}

// helmApplyMethod is Helm's ServerSideApply setting for an upgrade or
// rollback.
func helmApplyMethod(m string) string {
	switch m {
	case ApplyServerSide:
		return "true"
	case ApplyClientSide:
		return "false"
	}
	return "auto"
}

func toV1(r ri.Releaser) (*release.Release, error) {
	switch r := r.(type) {
	case *release.Release:
		return r, nil
	case release.Release:
		return &r, nil
	}
	return nil, fmt.Errorf("unsupported release record %T", r)
}

// ensureNamespace creates namespace, labelled as Helm labels the ones it
// creates, unless it exists.
func (s *session) ensureNamespace(ctx context.Context, namespace string) error {
	if namespace == "" {
		return nil
	}
	cs, err := kubernetes.NewForConfig(s.rest)
	if err != nil {
		return exit.Infraf("kubernetes client: %w", err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace, Labels: map[string]string{"name": namespace}}}
	_, err = cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{FieldManager: FieldManager})
	if err == nil || apierrors.IsAlreadyExists(err) {
		return nil
	}
	return classifyKube("create namespace "+namespace, err)
}
