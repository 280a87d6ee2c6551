package cli

import (
	"context"

	"github.com/stepper-cd/stepper/internal/config"
	"github.com/stepper-cd/stepper/steps/validate"
)

// ValidateCmd is `stepper validate`.
type ValidateCmd struct {
	validate.Options `embed:""`
}

// Help is the long help of the command.
func (ValidateCmd) Help() string {
	return `Checks a release against the platform's container rules before it may
be deployed: the image is built on an approved base image, runs as non-root
and carries a signature from an allowed, unrevoked key; the chart is an
approved chart at its latest version; the desired-state entry asks for two
or more replicas across zones, liveness and readiness probes, and a digest.
Each rule is one check in the JUnit report. Exit 1 when a rule fails.

Examples:

    stepper validate --image harbor.example/vendor/api@sha256:4f1c...
    stepper validate --from-result build.json --junit validate.xml
    stepper validate --env exttest --app patient-api --chart ./chart
`
}

// Run runs the step.
func (c *ValidateCmd) Run(ctx context.Context, rt *Runtime, cfg *config.Config) error {
	if c.Env != "" {
		if _, err := rt.resolveEnv(cfg, c.Env); err != nil {
			return err
		}
		if err := rt.resolveApp(&c.App); err != nil {
			return err
		}
	}
	return notBuilt("validate")
}
