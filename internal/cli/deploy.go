package cli

import (
	"context"

	"github.com/stepper-cd/stepper/internal/ci"
	"github.com/stepper-cd/stepper/internal/config"
	"github.com/stepper-cd/stepper/internal/kube"
	"github.com/stepper-cd/stepper/internal/land"
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
a tag must still resolve to the digest given. A direct deploy goes only into
the chain's first environment; the others are reached by promote. A release
does not land over a newer release of the app, or over a rollback hold,
unless --force. An environment with a tagPrefix names the image PREFIX+TAG
and gets that tag once the release lands. --dry-run prints the diff and the branch and changes
nothing.

Examples:

    stepper deploy --env inttest --image harbor.example/vendor/api:1.4.2@sha256:4f1c...
    stepper deploy --env inttest --from-result build.json --chart-version 3.2.0 -m "fixes PAT-12"
    stepper deploy --env devenvcgi --app patient-api --from-result build.json --dry-run
    stepper deploy --env exttest --apply --state ./dsf --kubeconfig ~/.kube/exttest --rollback-on-failure
`
}

// Run runs the step.
func (c *DeployCmd) Run(ctx context.Context, rt *Runtime, cfg *config.Config, clients *Clients) error {
	env, err := rt.resolveEnv(cfg, c.Env)
	if err != nil {
		return err
	}
	if c.App == "" && !c.Apply { // the apply job applies every app unless told one
		c.App = rt.CI.ProjectName
	}
	rt.Result.App = c.App
	job := deploy.Job{
		Options: c.Options, Config: cfg, Env: env, Started: rt.Result.StartedAt,
		Actor: rt.CI.User, PipelineURL: rt.CI.PipelineURL, Owner: orDefault(ci.JobIdentity(rt.Environ), rt.CI.User), OwnerURL: rt.CI.JobURL, DryRun: rt.Globals.DryRun,
	}
	step := &deploy.Step{}
	if c.Apply {
		step.Helm, step.Reader = clients.Helm(), clients.Checkouts()
		// The apply job installs only digests an approved key signed;
		// without signing.publicKeys the step refuses every app.
		if v, err := clients.Verifier(); err != nil {
			return err
		} else if v != nil {
			step.Verifier = v
			if step.Evidence, err = clients.Gates(); err != nil {
				return err
			}
		}
		if c.Wait {
			if step.Waiter, err = kube.WaiterFromKubeconfig(c.Kubeconfig, c.KubeContext, kube.WaiterOptions{}); err != nil {
				return err
			}
		}
	} else {
		if step.Images, err = clients.Registry(); err != nil {
			return err
		}
		if v, err := clients.Verifier(); err != nil {
			return err
		} else if v != nil {
			step.Verifier = v
		}
		lander := &land.Lander{Checkouts: clients.Checkouts()}
		step.States = clients.Checkouts()
		if env.Land.Via == config.ViaMergeRequest && !rt.Globals.DryRun {
			if lander.MRs, err = clients.GitLab(); err != nil {
				return err
			}
		}
		step.Lander = lander
	}
	out, err := step.Run(ctx, job)
	if out != nil {
		out.Encode(rt.Result)
		if out.DryRun || out.NoOp {
			rt.Details = out.WriteDetails
		}
	}
	return err
}
