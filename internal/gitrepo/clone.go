// Package gitrepo is stepper's adapter to the git repositories that hold
// desired state. This file reads them; writing (commits, pushes with race
// handling) comes with the deploy step.
package gitrepo

import (
	"bytes"
	"context"
	"os/exec"
	"strings"

	"github.com/stepper-cd/stepper/internal/ci"
	"github.com/stepper-cd/stepper/internal/exit"
)

// Clone makes a shallow clone of branch of url in dir, which must not exist
// or be empty. Credentials in url never appear in errors.
func Clone(ctx context.Context, url, branch, dir string) error {
	args := []string{"clone", "--quiet", "--depth", "1", "--single-branch"}
	if branch != "" {
		args = append(args, "--branch", branch)
	}
	args = append(args, "--", url, dir)
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Env = append(cmd.Environ(), "GIT_TERMINAL_PROMPT=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		msg := strings.ReplaceAll(strings.TrimSpace(stderr.String()), url, ci.StripCredentials(url))
		return exit.Infraf("git clone %s (branch %s): %v: %s", ci.StripCredentials(url), branch, err, msg)
	}
	return nil
}
