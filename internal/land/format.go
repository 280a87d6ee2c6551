package land

import (
	"path/filepath"

	"github.com/stepper-cd/stepper/internal/desiredstate"
	"github.com/stepper-cd/stepper/internal/exit"
)

// formatOptions honour the configured format (desiredState.format); root,
// the checkout, bounds where a layout's other files (a helmfile above a
// versions file) are looked for.
func formatOptions(s Spec, root string) ([]desiredstate.Option, error) {
	f, err := desiredstate.ParseFormat(s.Format, s.Path)
	if err != nil {
		return nil, exit.Usagef("environment %s: desiredState.format: %v", s.Env, err)
	}
	opts := []desiredstate.Option{desiredstate.WithRoot(filepath.Clean(root))}
	if f != "" {
		opts = append(opts, desiredstate.WithFormat(f))
	}
	return opts, nil
}
