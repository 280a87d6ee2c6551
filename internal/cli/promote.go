package cli

import (
	"context"

	"github.com/stepper-cd/stepper/internal/config"
	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/steps/promote"
)

// PromoteCmd is `stepper promote`.
type PromoteCmd struct {
	promote.Options `embed:""`
}

// Help is the long help of the command.
func (PromoteCmd) Help() string {
	return `Copies the app's release from one environment's desired state to the next
environment's, keeping the target's own settings (DNS, replicas, secrets).
stepper enforces the chain itself: only the next environment, only with a
passing smoke-test result from --from for the same digest, with the
signature re-verified, and only for a user allowed to promote into the
target. A refusal exits 1.

Examples:

    stepper promote --app patient-api --from exttest --evidence smoke.json
    stepper promote --app patient-api --from exttest --to preprod --evidence smoke.json
    stepper promote --app patient-api --from preprod --to prod --evidence smoke-preprod.json
`
}

// Run runs the step.
func (c *PromoteCmd) Run(ctx context.Context, rt *Runtime, cfg *config.Config) error {
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
	if err := rt.resolveApp(&c.App); err != nil {
		return err
	}
	return notBuilt("promote")
}
