package cli

import (
	"context"
	"os"
	"path/filepath"

	"github.com/stepper-cd/stepper/internal/config"
	"github.com/stepper-cd/stepper/internal/desiredstate"
	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/gitrepo"
)

// loadState reads an environment's desired state: local, when state names
// a checkout (file or directory), else a fresh shallow clone of
// desiredState.repo. It returns the document, the directory that relative
// values files and chart paths are resolved against, and a cleanup that
// removes the clone.
func loadState(ctx context.Context, cfg *config.Config, env *config.Environment, state string) (desiredstate.Document, string, func(), error) {
	cleanup := func() {}
	path := state
	if path == "" {
		ds := env.DesiredState
		if ds.Repo == "" {
			return nil, "", cleanup, exit.Usagef("environment %s has no desiredState.repo: set it, or pass --state with a checkout", env.Name)
		}
		dir, err := os.MkdirTemp("", "stepper-state-")
		if err != nil {
			return nil, "", cleanup, err
		}
		cleanup = func() { os.RemoveAll(dir) }
		if err := gitrepo.Clone(ctx, ds.Repo, ds.Branch, dir); err != nil {
			cleanup()
			return nil, "", func() {}, err
		}
		path = filepath.Join(dir, ds.Path)
	}
	doc, err := desiredstate.Load(path, desiredstate.WithKeys(valuesKeys(cfg)), desiredstate.WithEnvironment(env.Name))
	if err != nil {
		cleanup()
		return nil, "", func() {}, exit.Mark(exit.Usage, err)
	}
	dir := path
	if fi, err := os.Stat(path); err == nil && !fi.IsDir() {
		dir = filepath.Dir(path)
	}
	return doc, dir, cleanup, nil
}
