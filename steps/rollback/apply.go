package rollback

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/stepper-cd/stepper/internal/config"
	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/gate"
	"github.com/stepper-cd/stepper/internal/helm"
	"github.com/stepper-cd/stepper/internal/land"
	"github.com/stepper-cd/stepper/internal/logging"
	"github.com/stepper-cd/stepper/internal/release"
)

// apply rolls the Helm release back in the cluster: to --to-revision, else
// to its newest revision before the current one that was deployed. The
// images of that revision must still be in the registry and signed, and a
// migration in the current revision is handled as for a GitOps rollback.
// Helm's rollback recovers a stale pending revision first, restores the
// objects the way that revision applied them (so a release made by the
// Helm 3 CLI rolls back client-side), and waits for them to be ready.
func (s *Step) apply(ctx context.Context, job Job) (*Outcome, error) {
	out := &Outcome{Env: job.Env.Name, App: job.App, Reason: job.Reason, DryRun: job.DryRun}
	if s.Releases == nil {
		return out, exit.Usagef("rollback --apply needs the cluster: give --kubeconfig")
	}
	cl := helm.Cluster{Kubeconfig: job.Kubeconfig, Context: job.KubeContext}
	ns := job.Namespace
	if ns == "" {
		ns = s.namespace(ctx, job)
	}
	hist, err := s.Releases.History(ctx, cl, job.App, ns)
	if err != nil {
		return out, err
	}
	if len(hist) == 0 {
		return out, exit.Usagef("rollback %s: there is no Helm release %s in namespace %s; give --namespace", job.App, job.App, ns)
	}
	cur := hist[len(hist)-1]
	target, err := pickRevision(hist, job.ToRevision)
	if err != nil {
		return out, err
	}
	curObjs, err := manifestObjects(cur.Manifest, cur.Hooks)
	if err != nil {
		return out, exit.Failedf("rollback %s: the current revision %d's manifest does not parse: %v", job.App, cur.Revision, err)
	}
	targetObjs, err := manifestObjects(target.Manifest, target.Hooks)
	if err != nil {
		return out, exit.Failedf("rollback %s: revision %d's manifest does not parse: %v", job.App, target.Revision, err)
	}
	out.From, out.To, out.Chart = firstImage(curObjs), firstImage(targetObjs), target.ChartVersion
	out.Reverts = fmt.Sprintf("revision %d", cur.Revision)
	if byTag := unpinned(targetObjs); len(byTag) > 0 {
		return out, exit.Failedf("rollback %s/%s to revision %d refused: it runs %s by tag only, so what it would start cannot be verified (the apply job installs only images pinned by a signed digest); roll back to a revision that pins its images, or with helm rollback by hand after checking them",
			ns, job.App, target.Revision, strings.Join(byTag, ", "))
	}
	for _, img := range images(targetObjs) {
		results, err := s.Gates.Check(ctx, gate.Want{
			Release: gate.Release{App: job.App, Image: img}, Env: job.Env.Name,
			Only: []config.Gate{config.GateSigned, config.GateRollback},
		})
		out.Gates = append(out.Gates, results...)
		if err != nil {
			return out, err
		}
	}
	if err := gate.Refusal(fmt.Sprintf("rollback %s/%s to revision %d", ns, job.App, target.Revision), out.Gates); err != nil {
		return out, err
	}
	undone, err := between(hist, target.Revision, job.Config.Migrations.ValuesKeys)
	if err != nil {
		return out, err
	}
	out.Migrations = &Migration{}
	if err := s.decide(ctx, job, out.Migrations, undone, out.From, out.To); err != nil {
		return out, err
	}
	if job.DryRun {
		logging.From(ctx).Info().Int("from", cur.Revision).Int("to", target.Revision).Msg("dry run: the release is not rolled back")
		return out, nil
	}
	res, err := s.Releases.Rollback(ctx, cl, job.App, ns, target.Revision, helm.RollbackOptions{
		Timeout: job.Timeout, Wait: true, Waiter: s.Waiter, Owner: job.Owner, OwnerURL: job.OwnerURL,
	})
	out.Helm = revisionOf(res)
	if err != nil {
		return out, err
	}
	logging.From(ctx).Info().Str(logging.Release, ns+"/"+job.App).Int("from", cur.Revision).Int("to", target.Revision).
		Int("revision", res.Revision).Str("reason", job.Reason).Msg("rolled back and ready")
	return out, nil
}

// pickRevision is revision want of hist, or with 0 the newest revision
// before the current one that was deployed (Helm marks it superseded once
// a later one is deployed).
func pickRevision(hist []*helm.ReleaseResult, want int) (*helm.ReleaseResult, error) {
	cur := hist[len(hist)-1]
	if want > 0 {
		for _, r := range hist {
			if r.Revision == want {
				if want == cur.Revision {
					return nil, exit.Usagef("revision %d is the current one; name an earlier revision", want)
				}
				return r, nil
			}
		}
		return nil, exit.Usagef("revision %d not found; the release has revisions %d to %d", want, hist[0].Revision, cur.Revision)
	}
	for i := len(hist) - 2; i >= 0; i-- {
		if r := hist[i]; r.Status == "superseded" || r.Status == "deployed" {
			return r, nil
		}
	}
	return nil, exit.Failedf("release %s/%s: no revision before %d was ever deployed; nothing to roll back to", cur.Namespace, cur.Release, cur.Revision)
}

// images are the container images objs run that are pinned by digest.
func images(objs []map[string]any) []release.Ref {
	var out []release.Ref
	for _, o := range objs {
		walkImages(o, func(s string) {
			if r, err := release.ParsePinned(s); err == nil && !slices.ContainsFunc(out, func(x release.Ref) bool { return x.Digest == r.Digest }) {
				out = append(out, r)
			}
		})
	}
	return out
}

// firstImage is the first image objs run, pinned or not.
func firstImage(objs []map[string]any) release.Ref {
	var first release.Ref
	for _, o := range objs {
		walkImages(o, func(s string) {
			if first.IsZero() {
				if r, err := release.ParseAny(s); err == nil {
					first = r
				}
			}
		})
	}
	return first
}

// walkImages calls f with the image of every container and init container
// under v.
func walkImages(v any, f func(string)) {
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			if k == "containers" || k == "initContainers" {
				if list, ok := c.([]any); ok {
					for _, item := range list {
						if m, ok := item.(map[string]any); ok {
							if img, ok := m["image"].(string); ok && strings.TrimSpace(img) != "" {
								f(img)
							}
						}
					}
				}
				continue
			}
			walkImages(c, f)
		}
	case []any:
		for _, c := range x {
			walkImages(c, f)
		}
	}
}

// between is what every revision after target up to the current one shows
// about migrations: a migration any of them ran is undone by the rollback,
// not only one in the current revision. The current revision's objects
// come first, so its down Job is the one found.
func between(hist []*helm.ReleaseResult, target int, keys []string) (inspected, error) {
	in := inspected{values: map[string]string{}}
	for i := len(hist) - 1; i >= 0 && hist[i].Revision > target; i-- {
		r := hist[i]
		objs, err := manifestObjects(r.Manifest, r.Hooks)
		if err != nil {
			return in, exit.Failedf("release %s/%s: revision %d's manifest does not parse: %v", r.Namespace, r.Release, r.Revision, err)
		}
		in.objects = append(in.objects, objs...)
		values := map[string]string{}
		flatten("", r.Values, values)
		for _, k := range keys {
			if v, ok := values[k]; ok && truthy(v) {
				if _, seen := in.values[k]; !seen {
					in.values[k] = v
				}
			}
		}
	}
	return in, nil
}

// unpinned are the images objs run by tag only.
func unpinned(objs []map[string]any) []string {
	var out []string
	for _, o := range objs {
		walkImages(o, func(s string) {
			if _, err := release.ParsePinned(s); err != nil && !slices.Contains(out, s) {
				out = append(out, s)
			}
		})
	}
	return out
}

// namespace is the app's namespace in the environment's desired state,
// else the environment's name: where the apply job installed it.
func (s *Step) namespace(ctx context.Context, job Job) string {
	spec := land.SpecOf(job.Config, job.Env)
	if s.States == nil || spec.Repo == "" {
		return job.Env.Name
	}
	repo, done, err := s.States.Open(ctx, spec.Repo, spec.Branch)
	if err != nil {
		logging.From(ctx).Debug().Err(err).Msg("desired state not read; the release's namespace is the environment's name")
		return job.Env.Name
	}
	defer done()
	doc, err := spec.Load(repo.Dir())
	if err != nil {
		return job.Env.Name
	}
	if a, err := doc.App(job.App); err == nil && a.Namespace != "" {
		return a.Namespace
	}
	return job.Env.Name
}
