package helm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/pmezard/go-difflib/difflib"
	"helm.sh/helm/v4/pkg/action"
	rcommon "helm.sh/helm/v4/pkg/release/common"
	release "helm.sh/helm/v4/pkg/release/v1"
	releaseutil "helm.sh/helm/v4/pkg/release/v1/util"
	"sigs.k8s.io/yaml"

	"github.com/stepper-cd/stepper/internal/exit"
)

// Plan tells what Upgrade would do with o, and changes nothing: Action is
// ActionInstall, ActionUpgrade or ActionUnchanged, and Diff a unified diff
// from the last deployed revision's manifest and hooks to the ones o
// renders (rendered against the cluster, lookups included). Unchanged
// means the last revision is deployed and nothing applied would differ;
// Upgrade would still write a revision. Secret data in Diff is replaced by
// digests, so a changed secret shows as a changed digest. A pending
// revision that Upgrade would recover is named in Recovered; one it would
// refuse is the same exit.Infra error.
func (c *Client) Plan(ctx context.Context, cl Cluster, o UpgradeOptions) (*ReleaseResult, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	vals, red, err := o.values()
	if err != nil {
		return nil, err
	}
	res, err := c.plan(ctx, cl, o, vals)
	return res, red.err(err)
}

func (c *Client) plan(ctx context.Context, cl Cluster, o UpgradeOptions, vals map[string]any) (*ReleaseResult, error) {
	op := fmt.Sprintf("plan %s/%s", o.Namespace, o.Release)
	s, err := newSession(ctx, cl, o.Namespace, nil)
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
	res := &ReleaseResult{Release: o.Release, Namespace: o.Namespace, Revision: 1, Action: ActionInstall, Owner: labelValue(o.Owner)}
	var last, deployed *release.Release
	if len(hist) > 0 {
		last = hist[len(hist)-1]
		res.Revision = last.Version + 1
		if last.Info.Status != rcommon.StatusUninstalled {
			res.Action = ActionUpgrade
			deployed = lastGood(hist, last.Version+1)
		}
		msg, err := checkPending(last, o.Owner, o.Timeout, time.Now())
		if err != nil {
			return nil, err
		}
		if msg != "" {
			res.Recovered = strings.Replace(msg, "marked failed", "a deploy would mark it failed", 1)
		}
	}

	// An install in server dry-run renders exactly as an upgrade would,
	// against the cluster, but neither reads nor writes the release's
	// records, so a pending revision does not stop a plan.
	in := action.NewInstall(s.cfg)
	in.ReleaseName = o.Release
	in.Namespace = o.Namespace
	in.DryRunStrategy = action.DryRunServer
	in.IsUpgrade = res.Action == ActionUpgrade
	in.ServerSideApply = o.ApplyMethod != ApplyClientSide
	in.Labels = ownerLabels(o.Owner)
	rel, err := in.RunWithContext(ctx, copyChart(o.Chart.chart), vals)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: %w", op, ctx.Err())
		}
		return nil, classifyKube(op, err)
	}
	planned, err := toV1(rel)
	if err != nil {
		return nil, exit.Infraf("%s: %w", op, err)
	}
	res.Chart = planned.Chart.Metadata.Name + "-" + planned.Chart.Metadata.Version
	res.Manifest = planned.Manifest
	res.Status = "planned"
	if last != nil {
		res.ApplyMethod = applyMethodName(last.ApplyMethod)
		if o.ApplyMethod != ApplyAuto {
			res.ApplyMethod = o.ApplyMethod
		}
	} else {
		res.ApplyMethod = applyMethodName(planned.ApplyMethod)
	}

	from, fromName := "", "(none)"
	if deployed != nil {
		from, fromName = releaseText(deployed), fmt.Sprintf("%s revision %d", o.Release, deployed.Version)
	}
	to := releaseText(planned)
	if from == to && deployed != nil && last.Info.Status == rcommon.StatusDeployed {
		res.Action = ActionUnchanged
		return res, nil
	}
	res.Diff, err = difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(from), B: difflib.SplitLines(to),
		FromFile: fromName, ToFile: fmt.Sprintf("%s planned", o.Release), Context: 3,
	})
	if err != nil {
		return nil, fmt.Errorf("%s: diff: %w", op, err)
	}
	return res, nil
}

// releaseText is what a release applies, for comparing and diffing: its
// manifest, then its hooks by path, with Secret data masked.
func releaseText(r *release.Release) string {
	var b strings.Builder
	b.WriteString(maskSecrets(r.Manifest))
	hooks := slices.Clone(r.Hooks)
	slices.SortFunc(hooks, func(a, b *release.Hook) int { return strings.Compare(a.Path+a.Name, b.Path+b.Name) })
	for _, h := range hooks {
		fmt.Fprintf(&b, "---\n# Hook: %s\n%s\n", h.Path, strings.TrimSpace(maskSecrets(h.Manifest)))
	}
	return b.String()
}

// maskSecrets replaces each value under data and stringData of every
// Secret in a manifest by a digest of it.
func maskSecrets(manifest string) string {
	docs := releaseutil.SplitManifests(manifest)
	keys := slices.Collect(maps.Keys(docs))
	sort.Sort(releaseutil.BySplitManifestsOrder(keys))
	var b strings.Builder
	for _, k := range keys {
		doc := docs[k]
		if obj, err := decodeObject(doc); err == nil && obj != nil && obj["kind"] == "Secret" && obj["apiVersion"] == "v1" {
			for _, field := range []string{"data", "stringData"} {
				if m, ok := obj[field].(map[string]any); ok {
					for key, v := range m {
						sum := sha256.Sum256([]byte(fmt.Sprint(v)))
						m[key] = "(secret sha256:" + hex.EncodeToString(sum[:6]) + ")"
					}
				}
			}
			if out, err := yaml.Marshal(obj); err == nil {
				comment := ""
				if first, _, ok := strings.Cut(strings.TrimSpace(doc), "\n"); ok && strings.HasPrefix(first, "# Source:") {
					comment = first + "\n"
				}
				doc = comment + string(out)
			}
		}
		fmt.Fprintf(&b, "---\n%s\n", strings.TrimSpace(doc))
	}
	return b.String()
}
