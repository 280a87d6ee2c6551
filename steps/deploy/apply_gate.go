package deploy

import (
	"context"
	"fmt"

	"github.com/stepper-cd/stepper/internal/config"
	"github.com/stepper-cd/stepper/internal/desiredstate"
	"github.com/stepper-cd/stepper/internal/gate"
	"github.com/stepper-cd/stepper/internal/logging"
	"github.com/stepper-cd/stepper/internal/release"
)

// applyGate is the promotion gates as the apply job checks them: the
// evidence of every app it installs, so that a digest pushed into a
// desired state by hand, without passing the environment before, is
// refused even though promote never ran. Ages and soaks are promote's
// business: the apply job re-applies a steady state every run.
type applyGate struct {
	gates gate.Checks
	env   string
	cfg   config.Gates
	from  []string
}

// evidenceGate is the apply gate of job's environment, or nil when there
// is none: a first environment (nothing before it), no checker, or the
// platform switched it off there (gates.off: [apply]), which is logged.
func evidenceGate(ctx context.Context, g gate.Checks, job Job) *applyGate {
	from := job.Config.Before(job.Env.Name)
	if g == nil || len(from) == 0 {
		return nil
	}
	cfg := job.Env.Gates
	if !cfg.On(config.GateApply) {
		logging.From(ctx).Warn().Str(logging.Env, job.Env.Name).Msgf("the apply gate is switched off in %s (gates.off): releases are installed without checking their evidence", job.Env.Name)
		return nil
	}
	cfg.MaxAge, cfg.Soak, cfg.HotfixSoak = "", "", ""
	return &applyGate{gates: g, env: job.Env.Name, cfg: cfg, from: from}
}

// check refuses app unless its digest was validated and smoke-tested in
// an environment before this one.
func (a *applyGate) check(ctx context.Context, app desiredstate.App) error {
	if a == nil {
		return nil
	}
	img := release.Ref{Repository: app.Image.Repository, Tag: app.Image.Tag, Digest: app.Image.Digest}
	results, err := a.gates.Check(ctx, gate.Want{
		Release: gate.Release{App: app.Name, Image: img, ChartRepo: app.Chart.RepoURL, Chart: app.Chart.Name, ChartVersion: app.ChartVersion},
		Env:     a.env, Gates: a.cfg, From: a.from,
		Only: []config.Gate{config.GateValidated, config.GateSmokeTested},
	})
	if err != nil {
		return err
	}
	return gate.Refusal(fmt.Sprintf("installing %s in %s (it was not promoted there: use stepper promote)", img.ShortDigest(), a.env), results)
}
