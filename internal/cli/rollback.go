package cli

import (
	"context"
	"io"

	"github.com/stepper-cd/stepper/internal/ci"
	"github.com/stepper-cd/stepper/internal/config"
	"github.com/stepper-cd/stepper/internal/kube"
	"github.com/stepper-cd/stepper/internal/land"
	"github.com/stepper-cd/stepper/internal/release"
	"github.com/stepper-cd/stepper/internal/report"
	"github.com/stepper-cd/stepper/steps/rollback"
)

// RollbackCmd is `stepper rollback`.
type RollbackCmd struct {
	rollback.Options `embed:""`
}

// Help is the long help of the command.
func (RollbackCmd) Help() string {
	return `Returns the app in one environment to an earlier release and holds it
there: automation does not move it forward again until a release is promoted
or deployed with --release-hold on purpose.

By default the app's newest release commit is undone by a reverse change of
the environment's desired state, for this app only (other apps the commit
touched stay as they are), landed the way the environment takes changes.
--to picks an older release by digest, tag or chart version; --to-commit
undoes a given commit; --history lists the candidates. With --apply the Helm
release is rolled back in the cluster instead, to its last revision that was
deployed (or --to-revision), and waited for.

Before anything changes: the release returned to must still be in the
registry and signed by an approved key, and its chart version still
available. A release rolled back that ran database migrations (a chart Job
or hook annotated stepper.dev/migration: "true", migrations.apps[].runs, or
a values key of migrations.valuesKeys) is refused unless --with-migrations
runs the app's down-migration first.

Examples:

    stepper rollback --env exttest --app patient-api --reason "500s on /login"
    stepper rollback --env prod --app patient-api --to sha256:4f1c... --reason "INC-1234"
    stepper rollback --env staging --app blog-service --with-migrations --kubeconfig kc --reason "orders fail"
    stepper rollback --env inttest --app patient-api --apply --reason "crash loop"
    stepper rollback --env prod --app patient-api --history
`
}

// Run runs the step.
func (c *RollbackCmd) Run(ctx context.Context, rt *Runtime, cfg *config.Config, clients *Clients) error {
	if err := rt.resolveTarget(cfg, c.Env, &c.App); err != nil {
		return err
	}
	env, err := cfg.Environment(c.Env)
	if err != nil {
		return err
	}
	environ := environMap(rt.Environ)
	job := rollback.Job{
		Options: c.Options, Config: cfg, Env: env, Started: rt.Result.StartedAt,
		Actor: rt.CI.User, PipelineURL: rt.CI.PipelineURL, Owner: orDefault(ci.JobIdentity(rt.Environ), rt.CI.User), OwnerURL: rt.CI.JobURL,
		InJob:  env.Land.Via == config.ViaJenkins && rt.CI.System == ci.Jenkins && environ["JOB_NAME"] == env.Land.Job,
		DryRun: rt.Globals.DryRun,
	}
	if !c.History && !job.DryRun && (cfg.GitLab.URL != "" || rt.CI.System == ci.Jenkins && cfg.Jenkins.URL != "") {
		// The audit names who rolled back as GitLab or Jenkins vouch for
		// it, not GITLAB_USER_LOGIN, which a job can set; a rollback is
		// never stopped for want of that answer.
		if user, source, err := clients.Identity().Who(ctx); err == nil && user != "" {
			job.Actor = user
			rt.Log.Debug().Str("actor", user).Str("source", source).Msg("who rolls back")
		} else if err != nil {
			rt.Log.Warn().Err(err).Msg("who rolls back could not be asked; the audit names the CI user")
		}
	}
	step, err := rollbackStep(rt, cfg, clients, env, job)
	if err != nil {
		return err
	}
	out, err := step.Run(ctx, job)
	if out != nil {
		encodeRollback(rt.Result, out)
		switch {
		case c.History:
			rt.Details = func(w io.Writer) error { return rollback.WriteHistory(w, env.Name, c.App, out.History) }
		case out.DryRun && !c.Apply:
			rt.Details = out.WriteDetails
		}
	}
	return err
}

// rollbackStep wires rollback to the clients its mode and route need.
func rollbackStep(rt *Runtime, cfg *config.Config, clients *Clients, env *config.Environment, job rollback.Job) (*rollback.Step, error) {
	step := &rollback.Step{States: clients.Checkouts(), Console: rt.Stderr, Migrations: clients.DownMigrations(job.Kubeconfig, job.KubeContext)}
	if job.History {
		return step, nil
	}
	gates, err := clients.Gates()
	if err != nil {
		return nil, err
	}
	step.Gates = gates
	if step.Registry, err = clients.Registry(); err != nil {
		return nil, err
	}
	step.Charts = clients.Helm()
	if job.Apply {
		step.Releases = clients.Helm()
		w, err := kube.WaiterFromKubeconfig(job.Kubeconfig, job.KubeContext, kube.WaiterOptions{Namespace: orDefault(job.Namespace, env.Name)})
		if err != nil {
			return nil, err
		}
		step.Waiter = w
		return step, nil
	}
	lander := &land.Lander{Checkouts: clients.Checkouts()}
	switch {
	case env.Land.Via == config.ViaMergeRequest && !job.DryRun:
		if lander.MRs, err = clients.GitLab(); err != nil {
			return nil, err
		}
	case env.Land.Via == config.ViaJenkins && !job.InJob && !job.DryRun:
		if step.Jenkins, err = clients.Jenkins(); err != nil {
			return nil, err
		}
	}
	step.Lander = lander
	return step, nil
}

// encodeRollback records the rollback in the result file.
func encodeRollback(r *report.Result, out *rollback.Outcome) {
	if out.History != nil {
		r.Details = out.History
		return
	}
	rb := release.RolledBack{Env: out.Env, App: out.App, From: out.From, To: out.To, Reason: out.Reason, Landing: out.Landing}
	rb.Encode(r)
	for _, g := range out.Gates {
		r.Checks = append(r.Checks, gateCheck(g))
	}
	r.Details = out
}
