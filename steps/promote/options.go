// Package promote is the promote step: carry a release that passed in one
// environment to the next one in the chain, only in order, only with
// signed evidence, only for someone allowed to promote into the target, and
// only by the route the target takes changes.
package promote

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

var digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// Options are the inputs of promote.
type Options struct {
	App    string `placeholder:"NAME" help:"Application to promote. Defaults to the CI project name."`
	All    bool   `help:"Promote every app of --from whose release differs from the target's, as one change (a promotion of the whole desired state)."`
	From   string `placeholder:"ENV" help:"Environment the release passed in."`
	To     string `placeholder:"ENV" help:"Environment to promote into. Defaults to the next one in the chain; any other is refused."`
	Digest string `placeholder:"sha256:..." help:"The digest expected in --from: refused if --from runs another. The promotion job passes it, so that what was asked for is what moves."`
	Hotfix bool   `help:"Use the target's shorter hotfix soak (gates.hotfixSoak). Every other gate still holds, no environment is skipped, and the promotion is recorded as a hotfix."`

	Wait        bool          `help:"Merge-request route: wait until the merge request is merged or closed, and report which."`
	WaitTimeout time.Duration `default:"24h" help:"With --wait: how long to wait."`

	History bool   `help:"List the promotions into --env (or --to) from the desired-state history instead of promoting."`
	Env     string `placeholder:"ENV" help:"With --history: the environment whose promotions to list."`
	Depth   int    `default:"200" help:"With --history: how many of the newest desired-state commits to read."`
}

// Validate checks the combination of inputs.
func (o *Options) Validate() error {
	if o.History {
		if o.Env == "" && o.To == "" {
			return fmt.Errorf("--history lists the promotions into one environment: give --env ENV")
		}
		if o.All || o.Digest != "" || o.Hotfix || o.Wait {
			return fmt.Errorf("--history only reads: leave out --all, --digest, --hotfix and --wait")
		}
		return nil
	}
	if o.Env != "" {
		return fmt.Errorf("--env goes with --history; a promotion names --from (and --to)")
	}
	if o.From == "" {
		return fmt.Errorf("missing flag --from=ENV: the environment the release passed in")
	}
	if o.To != "" && strings.EqualFold(o.To, o.From) {
		return fmt.Errorf("--from and --to are both %q: a promotion goes to another environment", o.From)
	}
	if o.All && (o.App != "" || o.Digest != "") {
		return fmt.Errorf("--all promotes every app that differs: leave out --app and --digest")
	}
	if o.Digest != "" && !digestRE.MatchString(o.Digest) {
		return fmt.Errorf("--digest %q: want sha256: and 64 lower-case hex digits", o.Digest)
	}
	if o.Wait && o.WaitTimeout <= 0 {
		return fmt.Errorf("--wait-timeout %s: give how long to wait, like 2h", o.WaitTimeout)
	}
	return nil
}
