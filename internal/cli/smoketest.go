package cli

import (
	"context"

	"github.com/stepper-cd/stepper/internal/config"
	"github.com/stepper-cd/stepper/steps/smoketest"
)

// SmokeTestCmd is `stepper smoke-test`.
type SmokeTestCmd struct {
	smoketest.Options `embed:""`
}

// Help is the long help of the command.
func (SmokeTestCmd) Help() string {
	return `Waits for the release to roll out, checks that its pods pass their
liveness and readiness probes, calls every --url, and writes the outcome as
evidence (--result) that promote requires. Exit 1 when any check fails.

Examples:

    stepper smoke-test --env exttest --app patient-api --result smoke.json --junit smoke.xml
    stepper smoke-test --env inttest --url https://api.inttest.example/healthz --timeout 2m
`
}

// Run runs the step.
func (c *SmokeTestCmd) Run(ctx context.Context, rt *Runtime, cfg *config.Config) error {
	if err := rt.resolveTarget(cfg, c.Env, &c.App); err != nil {
		return err
	}
	return notBuilt("smoke-test")
}
