// Package rollback is the rollback step: return an app in one environment
// to an earlier release, by a reverse change to the desired state or by a
// Helm rollback in the cluster, and hold it there until a newer release is
// deliberately promoted or deployed over the hold.
package rollback

import (
	"fmt"
	"regexp"
	"time"
)

// Options are the inputs of rollback.
type Options struct {
	Env        string `required:"" placeholder:"ENV" help:"Environment to roll back."`
	App        string `placeholder:"NAME" help:"Application to roll back. Defaults to the CI project name."`
	ToCommit   string `xor:"target" placeholder:"SHA" help:"Undo the desired-state commit SHA for this app (other apps it touched stay as they are)."`
	To         string `xor:"target" name:"to" placeholder:"VERSION|DIGEST" help:"Return to the earlier release with this image tag, chart version or digest, from the desired-state history."`
	ToRevision int    `xor:"target" placeholder:"N" help:"With --apply: return to Helm release revision N."`
	Previous   bool   `xor:"target" help:"Return to the release before the current one (the default)."`
	Reason     string `placeholder:"TEXT" help:"Why; required, recorded in the commit, the result and the audit record."`

	History bool `help:"List the releases this app can return to in --env (digest, chart version, when and by whom they landed, their evidence) instead of rolling back."`
	Depth   int  `default:"200" help:"How many of the newest desired-state commits to read."`

	WithMigrations bool `help:"The releases undone ran database migrations: run the app's down-migration (migrations.apps[].downJob or downCommand) first, wait for it, then roll back."`

	// Apply mode: Helm, in the cluster.
	Apply       bool          `help:"Roll the Helm release back in the cluster (to its last revision that was deployed, or --to-revision) instead of changing the desired state; waits for it to be ready."`
	Namespace   string        `placeholder:"NS" help:"Namespace of the release (with --apply or --with-migrations); default the app's namespace in the environment's desired state, else the environment's name."`
	Kubeconfig  string        `placeholder:"FILE" type:"path" env:"KUBECONFIG" help:"The cluster's kubeconfig (with --apply or a down-migration Job)."`
	KubeContext string        `placeholder:"NAME" help:"The kubeconfig context."`
	Timeout     time.Duration `default:"10m" help:"How long the restored release, or the down-migration, may take."`
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
	if o.ToRevision > 0 && !o.Apply {
		return fmt.Errorf("--to-revision names a Helm revision: it goes with --apply")
	}
	if o.Apply && (o.ToCommit != "" || o.To != "") {
		return fmt.Errorf("--to-commit and --to pick a desired-state release; with --apply, pick a Helm revision with --to-revision")
	}
	if o.History {
		if o.Apply || o.WithMigrations || o.ToCommit != "" || o.To != "" || o.ToRevision > 0 {
			return fmt.Errorf("--history only lists: leave out the other rollback flags")
		}
		return nil
	}
	if o.Reason == "" {
		return fmt.Errorf("missing flag --reason=TEXT: say why, for the commit and the audit record")
	}
	return nil
}
