package cli

import (
	"context"
	"encoding/json"
	"io"

	"github.com/stepper-cd/stepper/internal/ci"
	"github.com/stepper-cd/stepper/internal/config"
	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/gate"
	"github.com/stepper-cd/stepper/internal/land"
	"github.com/stepper-cd/stepper/internal/release"
	"github.com/stepper-cd/stepper/internal/report"
	"github.com/stepper-cd/stepper/steps/promote"
)

// PromoteCmd is `stepper promote`.
type PromoteCmd struct {
	promote.Options `embed:""`
}

// Help is the long help of the command.
func (PromoteCmd) Help() string {
	return `Carries exactly what passed in one environment to the next: the app's image
digest, tag and chart version, and its release-wide values, copied from
--from's desired state into the next environment's. The target's own
settings (DNS, replicas, secrets, per-environment keys) stay as they are.

Before anything is written, stepper checks:
  - the chain: only the next environment;
  - who promotes: the target's promoters, for a user GitLab (job token) or
    Jenkins (build causes) vouches for, never a variable the job sets;
  - the gates of the target (environments[].gates): the digest is signed by
    an approved key; a signed, passing validate attestation; a signed
    smoke-test attestation from --from for this app, digest and chart
    version, newer than its last deploy there, within maxAge and after the
    soak; the release the target runs now (the rollback target) and the one
    entering are still resolvable.
A refusal exits 1 and changes nothing. --dry-run runs every check and
prints the gates and the diff.

The change lands by the target's route: a commit; a merge request (with an
evidence table, reviewers and labels; --wait follows it); the platform's
Jenkins promotion job, triggered and followed to its end (inside that job
stepper commits itself); or, for Flux image automation, the target's tag on
the verified digest.

Examples:

    stepper promote --app patient-api --from inttest
    stepper promote --all --from exttest --to preprod --wait
    stepper promote --app shop-api --from staging --dry-run
    stepper promote --history --env prod --app patient-api
`
}

// Run runs the step.
func (c *PromoteCmd) Run(ctx context.Context, rt *Runtime, cfg *config.Config, clients *Clients) error {
	if c.History {
		return c.history(ctx, rt, cfg, clients)
	}
	from, err := rt.resolveEnv(cfg, c.From)
	if err != nil {
		return err
	}
	next, ok := cfg.Next(from.Name)
	if !ok {
		return exit.Failedf("promote from %s: it is the last environment of the chain; there is nowhere to promote to", from.Name)
	}
	if c.To == "" {
		c.To = next.Name
	}
	to, err := cfg.Environment(c.To)
	if err != nil {
		return err
	}
	if to.Name != next.Name {
		return exit.Failedf("promote %s → %s refused: the chain goes %s → %s; environments are visited in order", from.Name, to.Name, from.Name, next.Name)
	}
	rt.Result.Env = to.Name
	if !c.All {
		if err := rt.resolveApp(&c.App); err != nil {
			return err
		}
	}
	for _, e := range []*config.Environment{from, to} {
		if err := e.Check(); err != nil {
			return err
		}
	}
	env := environMap(rt.Environ)
	job := promote.Job{
		Options: c.Options, Config: cfg, From: from, To: to, Chain: cfg.ChainName,
		Started: rt.Result.StartedAt, PipelineURL: rt.CI.PipelineURL, DryRun: rt.Globals.DryRun,
	}
	if to.Land.Via == config.ViaJenkins && rt.CI.System == ci.Jenkins && env["JOB_NAME"] == to.Land.Job {
		job.InJob, job.BuildURL = true, env["BUILD_URL"]
	}
	step, err := c.step(rt, cfg, clients, to, job)
	if err != nil {
		return err
	}
	out, err := step.Run(ctx, job)
	if out != nil {
		encodePromotion(rt.Result, out)
		rt.Details = func(w io.Writer) error { return writePromotion(w, out) }
	}
	return err
}

// step wires promote to the clients its route needs.
func (c *PromoteCmd) step(rt *Runtime, cfg *config.Config, clients *Clients, to *config.Environment, job promote.Job) (*promote.Step, error) {
	gates, err := clients.Gates()
	if err != nil {
		return nil, err
	}
	reg, err := clients.Registry()
	if err != nil {
		return nil, err
	}
	step := &promote.Step{States: clients.Checkouts(), Gates: gates, Registry: reg, Identity: clients.Identity(), Console: rt.Stderr}
	lander := &land.Lander{Checkouts: clients.Checkouts()}
	switch {
	case to.Land.Via == config.ViaJenkins:
		if step.Jenkins, err = clients.Jenkins(); err != nil {
			return nil, err
		}
	case to.Land.Via == config.ViaMergeRequest && !job.DryRun:
		g, err := clients.GitLab()
		if err != nil {
			return nil, err
		}
		lander.MRs, step.MRs = g, g
	}
	step.Lander = lander
	return step, nil
}

// history lists the promotions into an environment.
func (c *PromoteCmd) history(ctx context.Context, rt *Runtime, cfg *config.Config, clients *Clients) error {
	name := c.Env
	if name == "" {
		name = c.To
	}
	env, err := rt.resolveEnv(cfg, name)
	if err != nil {
		return err
	}
	rt.Result.App = c.App
	list, err := (&promote.Step{States: clients.Checkouts()}).History(ctx, land.SpecOf(cfg, env), c.App, c.Depth)
	if err != nil {
		return err
	}
	rt.Result.Details = list
	rt.Details = func(w io.Writer) error { return promote.WriteHistory(w, env.Name, list) }
	return nil
}

// encodePromotion records the promotion in the result file: the first
// release as the result's image, every gate as a check, the whole outcome
// (evidence, actor, landing) as details.
func encodePromotion(r *report.Result, out *promote.Outcome) {
	for i, c := range out.Releases {
		if i == 0 {
			release.Promoted{From: out.From, Env: out.To, App: c.App, Image: c.Image, ChartVersion: c.ChartVersion, Landing: out.Landing}.Encode(r)
		}
	}
	if len(out.Releases) > 1 {
		r.App = ""
	}
	if r.Outputs == nil {
		r.Outputs = map[string]string{}
	}
	if out.Build != nil {
		r.Outputs[release.OutJenkinsBuild] = out.Build.URL
	}
	if out.Actor != "" {
		r.Outputs[release.OutPromotedBy] = out.Actor
	}
	for _, g := range out.Gates {
		r.Checks = append(r.Checks, gateCheck(g))
	}
	r.Details = out
}

func gateCheck(g gate.Result) report.Check {
	c := report.Check{Name: string(g.Gate) + " " + g.App, Status: report.Succeeded, Message: g.Found}
	switch {
	case g.Off:
		c.Status, c.Message = report.Skipped, "switched off"
	case !g.Passed:
		c.Status, c.Message = report.Failed, "wanted "+g.Wanted+"; found "+g.Found
	}
	return c
}

// writePromotion prints the gates and the diff.
func writePromotion(w io.Writer, out *promote.Outcome) error {
	for _, g := range out.Gates {
		if _, err := io.WriteString(w, g.String()+"\n"); err != nil {
			return err
		}
	}
	if out.Diff != "" {
		if _, err := io.WriteString(w, out.Diff+"\n"); err != nil {
			return err
		}
	}
	if len(out.Tags) > 0 {
		b, _ := json.Marshal(out.Tags)
		if _, err := io.WriteString(w, "tags: "+string(b)+"\n"); err != nil {
			return err
		}
	}
	return nil
}
