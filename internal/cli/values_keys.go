package cli

import (
	"github.com/stepper-cd/stepper/internal/config"
	"github.com/stepper-cd/stepper/internal/desiredstate"
	"github.com/stepper-cd/stepper/internal/land"
)

// valuesKeys maps the configuration's values section onto the desired-state
// engine's keys.
func valuesKeys(cfg *config.Config) desiredstate.Keys {
	v := cfg.Values
	return desiredstate.DefaultKeys().Merge(desiredstate.Keys{
		ImageRepository: v.ImageRepository, ImageTag: v.ImageTag, ImageDigest: v.ImageDigest,
		Replicas: v.Replicas, Memory: v.Memory, EnvPrefix: v.EnvPrefix,
		Ports: v.Ports, SecretRefs: v.SecretRefs, DNS: v.DNS, PerEnvironment: v.PerEnvironment,
	})
}

// stateSpec is where env's desired state lives (desiredState.*) and how to
// read it (values.*), for clients.Checkouts().Read.
func stateSpec(cfg *config.Config, env *config.Environment) land.Spec {
	ds := env.DesiredState
	return land.Spec{Env: env.Name, Repo: ds.Repo, Branch: ds.Branch, Path: ds.Path, Format: string(ds.Format), Keys: valuesKeys(cfg)}
}
