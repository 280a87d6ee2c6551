package cli

import (
	"github.com/stepper-cd/stepper/internal/config"
	"github.com/stepper-cd/stepper/internal/exit"
)

// resolveApp fills an empty --app from the CI project name and records it.
func (rt *Runtime) resolveApp(app *string) error {
	if *app == "" {
		*app = rt.CI.ProjectName
	}
	if *app == "" {
		return exit.Usagef("no app given: pass --app NAME (or STEPPER_APP); outside CI there is no project name to default to")
	}
	rt.Result.App = *app
	return nil
}

// resolveEnv looks name up in the configured chain and records it. An unknown
// name is a usage error that lists the chain.
func (rt *Runtime) resolveEnv(cfg *config.Config, name string) (*config.Environment, error) {
	env, err := cfg.Environment(name)
	if err != nil {
		return nil, err
	}
	rt.Result.Env = env.Name
	return env, nil
}

// resolveTarget resolves the environment and app a verb acts on.
func (rt *Runtime) resolveTarget(cfg *config.Config, env string, app *string) error {
	if _, err := rt.resolveEnv(cfg, env); err != nil {
		return err
	}
	return rt.resolveApp(app)
}
