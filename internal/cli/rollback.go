package cli

import (
	"context"

	"github.com/stepper-cd/stepper/internal/config"
	"github.com/stepper-cd/stepper/steps/rollback"
)

// RollbackCmd is `stepper rollback`.
type RollbackCmd struct {
	rollback.Options `embed:""`
}

// Help is the long help of the command.
func (RollbackCmd) Help() string {
	return `Returns the app in one environment to an earlier release by a reverse
change to that environment's desired state, landed the way the environment
takes changes, and holds it there: automation does not move it forward again
until a newer release is promoted on purpose. A release that ran database
migrations is refused unless the chart declares a way back.

Examples:

    stepper rollback --env exttest --app patient-api --reason "500s on /login"
    stepper rollback --env prod --app patient-api --to-commit 3f2a9c1 --reason "INC-1234"
    stepper rollback --env inttest --app patient-api --to-revision 4 --reason "bad config"
`
}

// Run runs the step.
func (c *RollbackCmd) Run(ctx context.Context, rt *Runtime, cfg *config.Config) error {
	if err := rt.resolveTarget(cfg, c.Env, &c.App); err != nil {
		return err
	}
	return notBuilt("rollback")
}
