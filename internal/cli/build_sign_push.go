package cli

import (
	"context"

	"github.com/stepper-cd/stepper/internal/config"
	"github.com/stepper-cd/stepper/steps/buildsignpush"
)

// BuildSignPushCmd is `stepper build-sign-push`.
type BuildSignPushCmd struct {
	buildsignpush.Options `embed:""`
}

// Help is the long help of the command.
func (BuildSignPushCmd) Help() string {
	return `Builds the image from the Dockerfile, refuses it unless it starts FROM an
approved base image (baseImages in the configuration) and runs as non-root,
pushes it to the configured registry, and signs the pushed digest with the
configured key. Tags are names only: everything after the push uses the
digest. The result file carries image, tag and digest for later jobs.

With --phase build and --phase sign the pipeline can keep the signing key
away from the job that runs the vendor's Dockerfile.

Examples:

    stepper build-sign-push --app patient-api --tag 1.4.2
    stepper build-sign-push --phase build --result build.json
    stepper build-sign-push --phase sign --from-result build.json --result signed.json
    STEPPER_REGISTRY_HOST=127.0.0.1:5000 stepper build-sign-push --app demo --dry-run
`
}

// Run runs the step.
func (c *BuildSignPushCmd) Run(ctx context.Context, rt *Runtime, cfg *config.Config) error {
	if err := rt.resolveApp(&c.App); err != nil {
		return err
	}
	return notBuilt("build-sign-push")
}
