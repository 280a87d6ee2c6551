package land

import (
	"github.com/stepper-cd/stepper/internal/config"
	"github.com/stepper-cd/stepper/internal/desiredstate"
)

// SpecOf is where an environment's desired state lives and how to read it,
// as the configuration says.
func SpecOf(cfg *config.Config, env *config.Environment) Spec {
	ds := env.DesiredState
	return Spec{Env: env.Name, Repo: ds.Repo, Branch: ds.Branch, Path: ds.Path, Format: string(ds.Format), Keys: ValuesKeys(cfg)}
}

// ValuesKeys maps the configuration's values section onto the desired-state
// engine's keys.
func ValuesKeys(cfg *config.Config) desiredstate.Keys {
	v := cfg.Values
	return desiredstate.DefaultKeys().Merge(desiredstate.Keys{
		ImageRepository: v.ImageRepository, ImageTag: v.ImageTag, ImageDigest: v.ImageDigest,
		Replicas: v.Replicas, Memory: v.Memory, EnvPrefix: v.EnvPrefix,
		Ports: v.Ports, SecretRefs: v.SecretRefs, DNS: v.DNS, PerEnvironment: v.PerEnvironment,
	})
}
