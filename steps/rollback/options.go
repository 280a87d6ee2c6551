// Package rollback is the rollback step: return an app in one environment to
// an earlier release by a reverse change to the desired state, and hold it
// there until a newer release is deliberately promoted.
package rollback

import (
	"fmt"
	"regexp"
)

// Options are the inputs of rollback.
type Options struct {
	Env        string `required:"" placeholder:"ENV" help:"Environment to roll back."`
	App        string `placeholder:"NAME" help:"Application to roll back. Defaults to the CI project name."`
	ToCommit   string `xor:"target" placeholder:"SHA" help:"Reverse the desired-state commit SHA for this app."`
	ToRevision int    `xor:"target" placeholder:"N" help:"Return to Helm release revision N."`
	Previous   bool   `xor:"target" help:"Return to the release before the current one (the default)."`
	Reason     string `required:"" placeholder:"TEXT" help:"Why; recorded in the commit and the audit record."`
}

var commitSHA = regexp.MustCompile(`^[0-9a-f]{7,64}$`)

// Validate checks the combination of inputs.
func (o *Options) Validate() error {
	if o.ToCommit != "" && !commitSHA.MatchString(o.ToCommit) {
		return fmt.Errorf("--to-commit %q: want a git commit SHA (7 to 64 hex digits)", o.ToCommit)
	}
	if o.ToRevision < 0 {
		return fmt.Errorf("--to-revision %d: revisions start at 1", o.ToRevision)
	}
	return nil
}
