package helm

import (
	"context"
	"fmt"
	"time"

	"helm.sh/helm/v4/pkg/action"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/logging"
)

// RollbackOptions shape a rollback.
type RollbackOptions struct {
	// Timeout bounds each wait; 0 means DefaultReleaseTimeout. The
	// revision records the deadline it implies, as for UpgradeOptions.
	Timeout time.Duration
	// Wait waits until the restored objects are healthy (Waiter, or Helm's
	// kstatus waiter); the rollback fails when they are not.
	Wait bool
	// Waiter replaces Helm's waiter; nil uses Helm's kstatus waiter.
	Waiter Waiter
	// Owner identifies who rolls back, and OwnerURL this run of it, as in
	// UpgradeOptions.
	Owner, OwnerURL string
	// ForceConflicts takes over fields other field managers own.
	ForceConflicts bool
	// MaxHistory is how many revisions to keep; 0 means DefaultMaxHistory.
	MaxHistory int
}

// rollbackSettings are RollbackOptions without the Waiter, which belongs
// to the session.
type rollbackSettings struct {
	Timeout        time.Duration
	Wait           bool
	Owner          string
	OwnerURL       string
	ForceConflicts bool
	MaxHistory     int
}

// Rollback writes a new revision of the release with the chart, values
// and manifest of toRevision; 0 means the newest revision before the
// current one that was deployed. The objects are applied the way
// toRevision applied them (server-side or client-side), so a release
// installed by Helm 3 rolls back client-side. A stale pending revision is
// recovered first, as for Upgrade. A failed rollback leaves its revision
// failed, never pending. A release or revision that does not exist is
// exit.Usage; see Upgrade for the other classes.
func (c *Client) Rollback(ctx context.Context, cl Cluster, name, namespace string, toRevision int, o RollbackOptions) (*ReleaseResult, error) {
	namespace = defaultNamespace(namespace)
	if o.Timeout <= 0 {
		o.Timeout = DefaultReleaseTimeout
	}
	if o.Owner == "" {
		o.Owner = defaultOwner()
	}
	if o.MaxHistory <= 0 {
		o.MaxHistory = DefaultMaxHistory
	}
	op := fmt.Sprintf("rollback %s/%s", namespace, name)
	if toRevision < 0 {
		return nil, exit.Usagef("%s: revision %d: give a revision number, or 0 for the last deployed one", op, toRevision)
	}
	start := time.Now()
	s, err := newSession(ctx, cl, namespace, o.Waiter)
	if err != nil {
		return nil, err
	}
	if err := s.cfg.KubeClient.IsReachable(); err != nil {
		return nil, classifyKube(op, err, exit.Infra)
	}
	hist, err := s.history(name)
	if err != nil {
		return nil, classifyKube(op+": read history", err, exit.Infra)
	}
	if len(hist) == 0 {
		return nil, exit.Usagef("%s: release not found", op)
	}
	recovered, err := s.recoverPending(hist, o.Owner, o.Timeout, time.Now())
	if err != nil {
		return nil, err
	}
	last := hist[len(hist)-1]
	if toRevision == 0 {
		good := lastGood(hist, last.Version)
		if good == nil {
			return nil, exit.Usagef("%s: no revision before %d was ever deployed; nothing to roll back to", op, last.Version)
		}
		toRevision = good.Version
	}
	found := false
	for _, r := range hist {
		found = found || r.Version == toRevision
	}
	if !found {
		return nil, exit.Usagef("%s: revision %d not found; the history holds revisions %d to %d",
			op, toRevision, hist[0].Version, last.Version)
	}
	// The release's values may be anywhere in its old revisions' errors.
	var red redactor
	for _, r := range hist {
		red.secrets = append(red.secrets, newRedactor(r.Config).secrets...)
	}
	res, err := s.rollback(ctx, name, toRevision, rollbackSettings{
		Timeout: o.Timeout, Wait: o.Wait, Owner: o.Owner, OwnerURL: o.OwnerURL, ForceConflicts: o.ForceConflicts, MaxHistory: o.MaxHistory,
	}, newRedactor(nil, red.secrets...))
	if res != nil {
		res.Recovered = recovered
	}
	logging.From(ctx).Info().Str(logging.Release, namespace+"/"+name).Int("to", toRevision).
		Bool("ok", err == nil).Int64(logging.Duration, time.Since(start).Milliseconds()).Msg("helm rollback")
	return res, err
}

// rollback runs Helm's rollback to revision to. A failure leaves the new
// revision failed, never pending, and is classified like an upgrade's.
func (s *session) rollback(ctx context.Context, name string, to int, o rollbackSettings, red redactor) (*ReleaseResult, error) {
	op := fmt.Sprintf("rollback %s/%s to revision %d", s.ns, name, to)
	hist, err := s.history(name)
	if err != nil {
		return nil, classifyKube(op, err, exit.Infra)
	}
	floor := 0
	if len(hist) > 0 {
		floor = hist[len(hist)-1].Version
	}
	rb := action.NewRollback(s.cfg)
	rb.Version = to
	rb.Timeout = o.Timeout
	rb.WaitStrategy = waitStrategy(o.Wait)
	rb.ForceConflicts = o.ForceConflicts
	rb.MaxHistory = o.MaxHistory
	// Helm copies a rollback's labels from the revision it restores, so
	// the owner goes into the description, which the pending revision
	// already carries.
	rb.Description = holder{owner: o.Owner, url: o.OwnerURL, timeout: o.Timeout}.rollbackDescription(to, time.Now())
	runErr := rb.Run(name)

	if runErr != nil {
		waitErr := s.kube.failedWait()
		cause := red.err(runErr)
		settleErr := s.settle(name, floor, cause)
		switch {
		case ctx.Err() != nil:
			runErr = fmt.Errorf("%s: interrupted; the new revision was marked failed: %w", op, ctx.Err())
		case waitErr != nil:
			runErr = exit.Failedf("%s: the restored release is not healthy: %w", op, runErr)
		default:
			runErr = classifyKube(op, runErr)
		}
		if settleErr != nil {
			runErr = fmt.Errorf("%w; marking the revision failed failed too: %w", runErr, classifyKube(op, settleErr, exit.Infra))
		}
		runErr = red.err(runErr)
	}
	hist, err = s.history(name)
	if err != nil || len(hist) == 0 || hist[len(hist)-1].Version <= floor {
		if runErr == nil && err == nil {
			runErr = exit.Infraf("%s: no new revision was recorded", op)
		} else if runErr == nil {
			runErr = classifyKube(op+": read the new revision", err, exit.Infra)
		}
		return nil, runErr
	}
	res := result(hist[len(hist)-1], ActionRolledBack)
	res.RolledBackTo = to
	return res, runErr
}
