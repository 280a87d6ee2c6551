package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/stepper-cd/stepper/internal/ci"
	"github.com/stepper-cd/stepper/internal/config"
	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/helm"
	"github.com/stepper-cd/stepper/internal/kube"
	"github.com/stepper-cd/stepper/internal/land"
	"github.com/stepper-cd/stepper/internal/signing"
	"github.com/stepper-cd/stepper/steps/rollback"
	"github.com/stepper-cd/stepper/steps/smoketest"
)

// SmokeTestCmd is `stepper smoke-test`.
type SmokeTestCmd struct {
	smoketest.Options `embed:""`
}

// Help is the long help of the command.
func (SmokeTestCmd) Help() string {
	return `Proves a deployed release works in its environment before anyone
promotes it: waits for the app's workloads to roll out (kstatus, failing fast
with a diagnosis on crashing pods), checks that the health endpoints answer
200, runs each --check, checks that B3 tracing headers propagate to the
app's downstream (--b3-path; stepper runs the capture endpoint the app's
downstream URL points at), and that no pod restarts during a short soak.
Every request carries User-Agent: stepper/<version>.

On success it attaches a signed in-toto attestation "smoke-tested in ENV"
(the digest, chart version, desired-state commit, time, checks and pipeline)
to the image digest; promote reads it. A rollout alone is no evidence: with
no URL it refuses unless smokeTest.allowRolloutOnly is true.
Exit 1 when a check fails. --dry-run lists the checks it would run.

Examples:

    stepper smoke-test --env exttest --app patient-api --url https://patients.exttest.example \
        --check '/api/ping json=status=ok' --b3-path /api/ping --junit smoke.xml
    stepper smoke-test --env inttest --url http://127.0.0.1:8080 --no-wait --no-evidence --soak 0
`
}

// Run runs the step.
func (c *SmokeTestCmd) Run(ctx context.Context, rt *Runtime, cfg *config.Config, clients *Clients) error {
	env, err := rt.resolveEnv(cfg, c.Env)
	if err != nil {
		return err
	}
	if err := rt.resolveApp(&c.App); err != nil {
		return err
	}
	st := cfg.SmokeTest
	if err := c.Defaults(st.HealthPaths, st.Checks, st.B3Path, st.B3Listen, st.Soak); err != nil {
		return exit.Mark(exit.Usage, err)
	}
	job := smoketest.Job{
		Options: c.Options, Namespace: c.Namespace, PipelineURL: rt.CI.PipelineURL,
		DesiredState: land.SpecOf(cfg, env), AllowRolloutOnly: st.AllowRolloutOnly, DryRun: rt.Globals.DryRun,
	}
	step := &smoketest.Step{Version: Version, States: clients.Checkouts()}
	if !job.DryRun && (c.Wait || c.SoakFor() > 0) {
		step.Cluster = helm.Cluster{Kubeconfig: c.Kubeconfig, Context: c.KubeContext}
		step.Releases = clients.Helm()
		w, err := kube.WaiterFromKubeconfig(c.Kubeconfig, c.KubeContext, kube.WaiterOptions{Namespace: job.Namespace})
		if err != nil {
			return err
		}
		step.Workloads = w
	}
	if !job.DryRun && !c.NoEvidence {
		key, opts, err := clients.EvidenceSigner()
		if err != nil {
			return err
		}
		step.Attester = statementAttester{key: key, opts: opts}
	}
	if c.RollbackOnFailure && !job.DryRun {
		step.Rollback = func(ctx context.Context, namespace, reason string) (string, error) {
			return c.rollBack(ctx, rt, cfg, clients, env, namespace, step.Workloads != nil, reason)
		}
	}
	out, err := step.Run(ctx, job)
	if out != nil {
		out.Encode(rt.Result)
		if job.DryRun {
			rt.Details = out.WritePlan
		}
	}
	return err
}

// statementAttester signs in-toto statements with the configured key.
type statementAttester struct {
	key  *signing.Key
	opts signing.Options
}

func (a statementAttester) Attest(ctx context.Context, img name.Digest, st signing.Statement) (string, error) {
	return signing.Attest(ctx, a.key, img, st, a.opts)
}

// rollBack is --rollback-on-failure: the same code path as stepper
// rollback, with the failed checks as the reason. With the cluster at hand
// (the smoke test waited for the rollout) the Helm release goes back to its
// last deployed revision and is waited for; where the environment has a
// desired-state repository, the reverse change lands there too, held, so
// that the next apply does not roll the failed release out again.
func (c *SmokeTestCmd) rollBack(ctx context.Context, rt *Runtime, cfg *config.Config, clients *Clients, env *config.Environment, ns string, cluster bool, reason string) (string, error) {
	job := rollback.Job{
		Options: rollback.Options{Env: env.Name, App: c.App, Reason: reason, Namespace: ns, Kubeconfig: c.Kubeconfig, KubeContext: c.KubeContext, Timeout: max(c.Timeout, 10*time.Minute), Depth: 200},
		Config:  cfg, Env: env, Started: rt.Result.StartedAt, Actor: rt.CI.User, PipelineURL: rt.CI.PipelineURL,
		Owner: orDefault(ci.JobIdentity(rt.Environ), rt.CI.User), OwnerURL: rt.CI.JobURL,
	}
	var restored []string
	var errs []error
	if cluster {
		job.Apply = true
		step, err := rollbackStep(rt, cfg, clients, env, job)
		if err == nil {
			var out *rollback.Outcome
			if out, err = step.Run(ctx, job); err == nil && out.Helm != nil {
				restored = append(restored, fmt.Sprintf("Helm release %s/%s revision %d (%s)", ns, c.App, out.Helm.RolledBackTo, out.To))
			}
		}
		errs = append(errs, err)
		job.Apply = false
	}
	if env.DesiredState.Repo != "" && env.DesiredState.Path != "" {
		step, err := rollbackStep(rt, cfg, clients, env, job)
		if err == nil {
			var out *rollback.Outcome
			if out, err = step.Run(ctx, job); err == nil {
				restored = append(restored, fmt.Sprintf("desired state %s (held)", out.To))
			}
		}
		errs = append(errs, err)
	}
	if len(restored) == 0 && len(errs) == 0 {
		return "", exit.Usagef("nothing to roll back with: the smoke test did not consult the cluster (--no-wait) and environment %s has no desired-state repository", env.Name)
	}
	return strings.Join(restored, "; "), errors.Join(errs...)
}
