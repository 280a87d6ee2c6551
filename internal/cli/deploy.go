package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"go.yaml.in/yaml/v3"

	"github.com/stepper-cd/stepper/internal/ci"
	"github.com/stepper-cd/stepper/internal/config"
	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/gitlab"
	"github.com/stepper-cd/stepper/internal/gitrepo"
	"github.com/stepper-cd/stepper/internal/helm"
	"github.com/stepper-cd/stepper/internal/kube"
	"github.com/stepper-cd/stepper/internal/report"
	"github.com/stepper-cd/stepper/steps/deploy"
)

// DeployCmd is `stepper deploy`.
type DeployCmd struct {
	deploy.Options `embed:""`
}

// Help is the long help of the command.
func (DeployCmd) Help() string {
	return `Writes the release, image tag and digest, chart version and values, into
the environment's desired state (a Helmsman DSF, a helmfile versions file or
a Flux HelmRelease), changing only that app's lines, and lands the change the
way the environment takes changes: a commit, a merge request, or a Jenkins
job. Re-running with the same inputs changes nothing.

With --apply it is the other half, what the platform's Jenkins job (or an
engineer's local cluster) runs: every enabled app of the environment's desired
state is upgraded or installed with the Helm v4 SDK, in priority order, apps
of one priority side by side, each waited for with kstatus and failing fast
on crashing pods with a diagnosis; --rollback-on-failure rolls a failed
release back. --apply --dry-run prints a plan with manifest diffs.

Before anything lands the image digest must be signed by an approved key, and
a tag must still resolve to the digest given. --dry-run prints the diff and
the branch and changes nothing.

Examples:

    stepper deploy --env inttest --image harbor.example/vendor/api:1.4.2@sha256:4f1c...
    stepper deploy --env exttest --from-result build.json --chart-version 3.2.0
    stepper deploy --env devenvcgi --app patient-api --from-result build.json --dry-run
    stepper deploy --env exttest --apply --state ./dsf --kubeconfig ~/.kube/exttest --rollback-on-failure
`
}

// Run runs the step.
func (c *DeployCmd) Run(ctx context.Context, rt *Runtime, cfg *config.Config) error {
	env, err := rt.resolveEnv(cfg, c.Env)
	if err != nil {
		return err
	}
	if c.Apply {
		return c.apply(ctx, rt, cfg, env)
	}
	if err := rt.resolveApp(&c.App); err != nil {
		return err
	}
	return c.gitops(ctx, rt, cfg, env)
}

// gitops edits the app's entry in the environment's desired state and lands
// it by commit or merge request.
func (c *DeployCmd) gitops(ctx context.Context, rt *Runtime, cfg *config.Config, env *config.Environment) error {
	ds, land := env.DesiredState, env.Land
	if land.Via == config.ViaJenkins {
		return exit.Usagef("environment %s takes releases through the Jenkins job %q, not a desired-state edit: use stepper promote", env.Name, land.Job)
	}
	if ds.Repo == "" || ds.Path == "" {
		return exit.Usagef("environment %s: set desiredState.repo and desiredState.path", env.Name)
	}
	image, err := c.image()
	if err != nil {
		return err
	}
	rt.Result.Image = image
	set, err := c.values()
	if err != nil {
		return err
	}
	client, err := registryClient(ctx, rt, cfg)
	if err != nil {
		return err
	}
	var release func()
	defer func() {
		if release != nil {
			release()
		}
	}()
	g := &deploy.GitOps{Images: client, Open: func(ctx context.Context, url, branch string) (deploy.Repo, error) {
		var dir string
		dir, release = repoCacheDir(url, branch)
		return gitrepo.Open(ctx, url, branch, dir, gitrepo.Options{Author: "stepper", Email: "stepper@localhost", Environ: rt.Environ})
	}}
	if len(cfg.Signing.PublicKeys) > 0 {
		if g.Verifier, err = publicKeyVerifier(ctx, cfg, client); err != nil {
			return err
		}
	}
	t := deploy.Target{Env: env.Name, Repo: ds.Repo, Branch: ds.Branch, Path: ds.Path, Keys: valuesKeys(cfg), Via: string(land.Via)}
	if land.Via == config.ViaMergeRequest {
		if land.SourceBranch != "" {
			t.Branch = land.SourceBranch
		}
		t.TargetBranch = land.TargetBranch
		if t.Project, err = gitlab.ProjectFromRepoURL(ds.Repo); err != nil {
			return exit.Mark(exit.Usage, err)
		}
		if err := cfg.Require("gitlab.url", "gitlab.token"); err != nil {
			return err
		}
		token, err := cfg.GitLab.Token.Resolve(ctx, rt.Secrets)
		if err != nil {
			return err
		}
		mrs, err := gitlab.New(gitlab.Options{URL: cfg.GitLab.URL, Token: token})
		if err != nil {
			return err
		}
		g.MRs = mrs
	}
	out, err := g.Run(ctx, t, deploy.Release{App: c.App, Image: image, ChartVersion: c.ChartVersion, Set: set},
		deploy.Audit{Actor: rt.CI.User, PipelineURL: rt.CI.PipelineURL}, rt.Globals.DryRun)
	if out != nil {
		recordDeploy(rt, out)
	}
	return err
}

func recordDeploy(rt *Runtime, out *deploy.Outcome) {
	if rt.Result.Outputs == nil {
		rt.Result.Outputs = map[string]string{}
	}
	set := func(k, v string) {
		if v != "" {
			rt.Result.Outputs[k] = v
		}
	}
	set("branch", out.Branch)
	set("commit", out.Commit)
	set("merge-request", out.MergeRequest)
	set("noop", fmt.Sprint(out.NoOp))
	if rt.Globals.DryRun || out.NoOp {
		diff, branch := out.Diff, out.Branch
		rt.Details = func(w io.Writer) error {
			if diff == "" {
				_, err := fmt.Fprintf(w, "no change: %s/%s already has this release on %s\n", out.Env, out.App, branch)
				return err
			}
			_, err := fmt.Fprintf(w, "would commit to %s:\n%s\n", branch, diff)
			return err
		}
	}
}

// image is --image, or the pinned reference of a build-sign-push result
// with its first tag.
func (c *DeployCmd) image() (string, error) {
	if c.Image != "" {
		return c.Image, nil
	}
	prev, err := report.ReadJSON(c.FromResult)
	if err != nil {
		return "", exit.Mark(exit.Usage, fmt.Errorf("--from-result: %w", err))
	}
	ref := prev.Outputs["image-ref"]
	repo, digest, ok := strings.Cut(ref, "@")
	if !ok {
		return "", exit.Usagef("--from-result %s: no image-ref output; give a build-sign-push result", c.FromResult)
	}
	if tags := prev.Outputs["tags"]; tags != "" {
		tag, _, _ := strings.Cut(tags, ",")
		return repo + ":" + tag + "@" + digest, nil
	}
	return ref, nil
}

// values are --set and the flattened keys of --values files.
func (c *DeployCmd) values() (map[string]string, error) {
	set := map[string]string{}
	for _, f := range c.Values {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, exit.Usagef("--values: %v", err)
		}
		var doc map[string]any
		if err := yaml.Unmarshal(b, &doc); err != nil {
			return nil, exit.Usagef("--values %s: %v", f, err)
		}
		flatten("", doc, set)
	}
	for _, kv := range c.Set {
		k, v, _ := strings.Cut(kv, "=")
		set[k] = v
	}
	return set, nil
}

func flatten(prefix string, v any, out map[string]string) {
	switch t := v.(type) {
	case map[string]any:
		for k, sub := range t {
			key := k
			if prefix != "" {
				key = prefix + "." + k
			}
			flatten(key, sub, out)
		}
	case nil:
		out[prefix] = "null"
	default:
		out[prefix] = fmt.Sprint(t)
	}
}

// apply applies the environment's desired state to a cluster.
func (c *DeployCmd) apply(ctx context.Context, rt *Runtime, cfg *config.Config, env *config.Environment) error {
	doc, dir, cleanup, err := loadState(ctx, cfg, env, c.State)
	if err != nil {
		return err
	}
	defer cleanup()
	cluster := helm.Cluster{Kubeconfig: c.Kubeconfig, Context: c.KubeContext}
	a := &deploy.Apply{
		Helm: helm.New(helm.Options{CacheDir: cacheDir("charts"), PlainHTTP: cfg.Registry.Insecure}), Cluster: cluster,
		Owner: orDefault(rt.CI.JobURL, rt.CI.User), Timeout: c.Timeout, RollbackOnFailure: c.RollbackOnFailure, IncludeProtected: c.IncludeProtected,
	}
	if c.Wait {
		w, err := kube.WaiterFromKubeconfig(c.Kubeconfig, c.KubeContext, kube.WaiterOptions{})
		if err != nil {
			return err
		}
		a.Waiter = w
	}
	results, err := a.Run(ctx, doc, dir, c.App, rt.Globals.DryRun)
	for _, r := range results {
		status := report.Succeeded
		// A rolled-back release is deployed again, but its upgrade failed.
		if (r.Status != "deployed" || r.Action == helm.ActionRolledBack) && !rt.Globals.DryRun {
			status = report.Failed
		}
		msg := r.Action
		if r.RolledBackTo > 0 {
			msg += fmt.Sprintf(", rolled back to revision %d", r.RolledBackTo)
		}
		rt.Result.Checks = append(rt.Result.Checks, report.Check{Name: r.Namespace + "/" + r.Release, Status: status, Message: msg})
	}
	if rt.Globals.DryRun {
		rt.Details = func(w io.Writer) error {
			for _, r := range results {
				fmt.Fprintf(w, "%-10s %s/%s\n", r.Action, r.Namespace, r.Release)
				if r.Diff != "" {
					fmt.Fprintf(w, "%s\n", r.Diff)
				}
			}
			return nil
		}
	}
	return err
}

// repoCacheDir keeps desired-state clones between runs on one machine, so
// a deploy fetches instead of cloning. A clone in use by another run (a
// lock file says so) is left alone: this run clones into a directory of its
// own, removed by release.
func repoCacheDir(url, branch string) (dir string, release func()) {
	sum := sha256.Sum256([]byte(ci.StripCredentials(url) + "\x00" + branch))
	base := cacheDir("git")
	if base != "" {
		dir = filepath.Join(base, hex.EncodeToString(sum[:8]))
		if err := os.MkdirAll(base, 0o755); err == nil {
			if f, err := os.OpenFile(dir+".lock", os.O_CREATE|os.O_RDWR, 0o644); err == nil {
				if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
					return dir, func() { f.Close() }
				}
				f.Close()
			}
		}
	}
	tmp, err := os.MkdirTemp("", "stepper-git-")
	if err != nil {
		return filepath.Join(os.TempDir(), "stepper-git-"+hex.EncodeToString(sum[:8])), func() {}
	}
	return filepath.Join(tmp, "repo"), func() { os.RemoveAll(tmp) }
}
