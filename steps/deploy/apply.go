package deploy

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stepper-cd/stepper/internal/desiredstate"
	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/helm"
	"github.com/stepper-cd/stepper/internal/logging"
)

// Releases installs and upgrades Helm releases: internal/helm.
type Releases interface {
	Load(ctx context.Context, ref helm.ChartRef) (*helm.LoadedChart, error)
	Upgrade(ctx context.Context, cl helm.Cluster, o helm.UpgradeOptions) (*helm.ReleaseResult, error)
	Plan(ctx context.Context, cl helm.Cluster, o helm.UpgradeOptions) (*helm.ReleaseResult, error)
}

// Apply applies an environment's desired state to a cluster, the way the
// platform's Jenkins job (and Helmsman) does: every enabled app upgraded or
// installed, in priority order, apps of one priority side by side.
type Apply struct {
	Helm    Releases
	Cluster helm.Cluster
	Waiter  helm.Waiter
	// Owner names who applies (job URL or user); it is recorded on the
	// release so a stale lock can be recognised as ours.
	Owner             string
	Timeout           time.Duration
	RollbackOnFailure bool
	// IncludeProtected also upgrades releases the state marks protected.
	IncludeProtected bool
}

// Run applies doc's apps (only the one named, when only is set). stateDir
// resolves relative values files and chart paths. With dryRun it plans.
func (a *Apply) Run(ctx context.Context, doc desiredstate.Document, stateDir, only string, dryRun bool) ([]*helm.ReleaseResult, error) {
	apps, err := doc.Apps()
	if err != nil {
		return nil, exit.Mark(exit.Usage, err)
	}
	var queue []desiredstate.App
	for _, app := range apps {
		if only != "" && app.Name != only {
			continue
		}
		if !app.Enabled {
			continue
		}
		if app.Protected && !a.IncludeProtected {
			logging.From(ctx).Info().Str(logging.App, app.Name).Msg("protected release skipped (pass --include-protected to apply it)")
			continue
		}
		queue = append(queue, app)
	}
	if only != "" && len(queue) == 0 {
		return nil, exit.Usagef("app %q is not an enabled, unprotected app of this desired state", only)
	}
	// Lower priority values go first, as in Helmsman.
	slices.SortStableFunc(queue, func(x, y desiredstate.App) int { return x.Priority - y.Priority })
	var results []*helm.ReleaseResult
	for len(queue) > 0 {
		n := 1
		for n < len(queue) && queue[n].Priority == queue[0].Priority {
			n++
		}
		group := queue[:n]
		queue = queue[n:]
		rs, err := a.group(ctx, group, stateDir, dryRun)
		results = append(results, rs...)
		if err != nil {
			return results, err
		}
	}
	return results, nil
}

// group applies apps of one priority side by side and reports every
// failure, not just the first.
func (a *Apply) group(ctx context.Context, apps []desiredstate.App, stateDir string, dryRun bool) ([]*helm.ReleaseResult, error) {
	results := make([]*helm.ReleaseResult, len(apps))
	errs := make([]error, len(apps))
	var wg sync.WaitGroup
	for i, app := range apps {
		wg.Go(func() { results[i], errs[i] = a.one(ctx, app, stateDir, dryRun) })
	}
	wg.Wait()
	var failed []string
	var first error
	for i, err := range errs {
		if err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", apps[i].Name, err))
			if first == nil {
				first = err
			}
		}
	}
	var out []*helm.ReleaseResult
	for _, r := range results {
		if r != nil {
			out = append(out, r)
		}
	}
	if first != nil {
		return out, exit.Mark(exit.ClassOf(first), fmt.Errorf("%d of %d apps failed:\n  %s", len(failed), len(apps), strings.Join(failed, "\n  ")))
	}
	return out, nil
}

func (a *Apply) one(ctx context.Context, app desiredstate.App, stateDir string, dryRun bool) (*helm.ReleaseResult, error) {
	ref := helm.ChartRef{Repo: app.Chart.RepoURL, Name: app.Chart.Name, Version: app.ChartVersion}
	if ref.Repo == "" && isPath(app.Chart.String()) {
		ref = helm.ChartRef{Path: filepath.Join(stateDir, app.Chart.String())}
	}
	if ref.Repo == "" && ref.Path == "" {
		return nil, exit.Usagef("app %s: chart %s has no repository URL in the desired state (helmRepos)", app.Name, app.Chart)
	}
	ch, err := a.Helm.Load(ctx, ref)
	if err != nil {
		return nil, err
	}
	o := helm.UpgradeOptions{
		Release: app.Name, Namespace: app.Namespace, Chart: ch, CreateNamespace: true,
		Timeout: a.timeout(app), Wait: true, RollbackOnFailure: a.RollbackOnFailure, Owner: a.Owner, Waiter: a.Waiter,
	}
	for _, k := range sortedKeys(app.Set) {
		o.Set = append(o.Set, k+"="+app.Set[k])
	}
	for _, k := range sortedKeys(app.SetString) {
		o.SetString = append(o.SetString, k+"="+app.SetString[k])
	}
	for _, f := range app.ValuesFiles {
		if !filepath.IsAbs(f) {
			f = filepath.Join(stateDir, f)
		}
		o.ValueFiles = append(o.ValueFiles, f)
	}
	if dryRun {
		return a.Helm.Plan(ctx, a.Cluster, o)
	}
	start := time.Now()
	res, err := a.Helm.Upgrade(ctx, a.Cluster, o)
	if err != nil {
		return res, err
	}
	logging.From(ctx).Info().Str(logging.Release, app.Name).Str("action", res.Action).Int("revision", res.Revision).
		Int64(logging.Duration, time.Since(start).Milliseconds()).Msg("applied")
	return res, nil
}

func (a *Apply) timeout(app desiredstate.App) time.Duration {
	if app.Timeout > 0 {
		return time.Duration(app.Timeout) * time.Second
	}
	if a.Timeout > 0 {
		return a.Timeout
	}
	return 5 * time.Minute
}

func isPath(s string) bool {
	return strings.HasPrefix(s, "./") || strings.HasPrefix(s, "../") || strings.HasPrefix(s, "/")
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
