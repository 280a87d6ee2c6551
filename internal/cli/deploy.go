package cli

import (
	"context"

	"github.com/stepper-cd/stepper/internal/config"
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

Examples:

    stepper deploy --env inttest --image harbor.example/vendor/api:1.4.2@sha256:4f1c...
    stepper deploy --env exttest --from-result build.json --chart-version 3.2.0
    stepper deploy --env devenvcgi --app patient-api --from-result build.json --dry-run
`
}

// Run runs the step.
func (c *DeployCmd) Run(ctx context.Context, rt *Runtime, cfg *config.Config) error {
	if err := rt.resolveTarget(cfg, c.Env, &c.App); err != nil {
		return err
	}
	return notBuilt("deploy")
}
