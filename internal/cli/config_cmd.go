package cli

import (
	"fmt"

	"github.com/stepper-cd/stepper/internal/config"
)

// ConfigCmd groups the configuration tools.
type ConfigCmd struct {
	Show      ConfigShowCmd      `cmd:"" help:"Print the effective configuration, after layering, with secrets masked."`
	Reference ConfigReferenceCmd `cmd:"" help:"Print the configuration reference: every key, its type, default and environment variable."`
}

// ConfigShowCmd prints the effective configuration.
type ConfigShowCmd struct {
	Sources bool `help:"Annotate every value with where it came from: the profile, stepper.yaml:LINE, a STEPPER_* variable or --config-set."`
}

// Help is the long help of `stepper config show`.
func (ConfigShowCmd) Help() string {
	return `Loads the configuration exactly as a verb would, built-in profile, then
the file, then STEPPER_<KEY> variables, then --config-set, and prints the
result with every secret masked; --sources annotates each value with where
it came from. A broken file fails here with its file, line and key path, so this is
the quickest way to check a stepper.yaml.

Examples:

    stepper config show
    stepper config show --sources
    stepper config show --config testdata/config/ehealth-helmsman.yaml --platform-config testdata/config/ehealth-platform.yaml --sources
    STEPPER_REGISTRY_HOST=127.0.0.1:5000 stepper config show --output json
    stepper --config-set environments.preprod.desiredState.branch=prod config show
`
}

// Run prints the configuration.
func (c ConfigShowCmd) Run(rt *Runtime, cfg *config.Config) error {
	format := "yaml"
	if rt.Globals.Output == "json" {
		format = "json"
	}
	var opts []config.EffectiveOption
	if c.Sources {
		opts = append(opts, config.WithSources())
	}
	return cfg.WriteEffective(rt.Secrets.Writer(rt.Stdout), format, opts...)
}

// ConfigReferenceCmd prints the configuration reference.
type ConfigReferenceCmd struct{}

// Help is the long help of `stepper config reference`.
func (ConfigReferenceCmd) Help() string {
	return `Prints the reference of stepper.yaml in Markdown: every key, its type,
default, allowed values and environment variable, the layering rules and the
built-in profiles.

Examples:

    stepper config reference
    stepper config reference > CONFIG.md
`
}

// Run prints the reference.
func (ConfigReferenceCmd) Run(rt *Runtime) error {
	_, err := fmt.Fprint(rt.Stdout, config.Reference())
	return err
}
