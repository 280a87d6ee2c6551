// Package deploy is the deploy step: write a release (image by tag and
// digest, chart version, values) into an environment's desired state, land
// it the way that environment takes changes, and optionally apply it.
package deploy

import (
	"fmt"
	"strings"
	"time"
)

// Options are the inputs of deploy.
type Options struct {
	Env           string   `required:"" placeholder:"ENV" help:"Environment to deploy to; one of the configured chain."`
	App           string   `placeholder:"NAME" help:"Application (release) name. Defaults to the CI project name."`
	Image         string   `placeholder:"IMAGE:TAG@DIGEST" help:"Image to deploy. It must carry a digest, or come from --from-result."`
	FromResult    string   `placeholder:"FILE" type:"existingfile" help:"Take the image from build-sign-push's --result file."`
	ChartVersion  string   `placeholder:"VERSION" help:"Chart version to deploy; unchanged when empty."`
	Set           []string `sep:"none" placeholder:"KEY=VALUE" help:"Helm value to set in the desired state; repeatable."`
	Values        []string `name:"values" short:"f" placeholder:"FILE" help:"YAML values file whose keys are set on the app in the desired state (GitOps mode); repeatable."`
	Message       string   `short:"m" placeholder:"TEXT" help:"Extra text for the desired-state commit message and the merge request."`
	Force         bool     `help:"Land even over a newer release of the app, or a rollback hold (see 'Which release is newer' in the README)."`
	ReleaseHold   bool     `help:"Land over a rollback hold of the app on purpose: the hold is lifted (and Flux image automation's setter re-enabled), and the commit records it."`
	UnsignedBuild bool     `help:"With --dry-run: show the diff for a merge request's build, which is signed and tagged only once merged; its signature and tag are not checked."`

	// Apply mode: what the platform's Jenkins job and a local cluster run.
	Apply             bool          `help:"Apply the environment's desired state to a cluster with Helm instead of editing it: upgrade --install every enabled app (or --app) in priority order."`
	State             string        `placeholder:"PATH" type:"path" help:"With --apply: a local checkout of the desired state (file or directory), instead of cloning desiredState.repo."`
	Kubeconfig        string        `placeholder:"FILE" type:"path" env:"KUBECONFIG" help:"With --apply: the cluster's kubeconfig."`
	KubeContext       string        `placeholder:"NAME" help:"With --apply: the kubeconfig context."`
	RollbackOnFailure bool          `help:"With --apply: roll a release that does not become ready back to its last good revision."`
	IncludeProtected  bool          `help:"With --apply: also upgrade releases the desired state marks protected."`
	Wait              bool          `default:"true" negatable:"" help:"With --apply: wait for each release to become ready (kstatus), failing fast on crashing pods."`
	Timeout           time.Duration `default:"10m" help:"With --apply: how long a release may take to become ready."`
}

// Validate checks the combination of inputs.
func (o *Options) Validate() error {
	if o.Image != "" && o.FromResult != "" {
		return fmt.Errorf("--image and --from-result both name the image: give one")
	}
	if o.Image != "" && !strings.Contains(o.Image, "@sha256:") {
		return fmt.Errorf("--image %q has no digest: deploy pins images by digest (IMAGE:TAG@sha256:...), because a tag can move", o.Image)
	}
	for _, s := range o.Set {
		if k, _, ok := strings.Cut(s, "="); !ok || k == "" {
			return fmt.Errorf("--set %q: want KEY=VALUE", s)
		}
	}
	if o.Apply && (o.Image != "" || o.FromResult != "" || o.ChartVersion != "" || len(o.Set) > 0 || len(o.Values) > 0) {
		return fmt.Errorf("--apply applies the desired state as it is: --image, --from-result, --chart-version, --set and --values edit it (GitOps mode), so leave them out")
	}
	if o.UnsignedBuild && o.Apply {
		return fmt.Errorf("--unsigned-build shows a merge request's GitOps change; the apply job installs signed images only")
	}
	if o.Apply && (o.Force || o.Message != "" || o.ReleaseHold) {
		return fmt.Errorf("--force, --release-hold and --message go with a GitOps deploy, not --apply")
	}
	if !o.Apply && (o.State != "" || o.RollbackOnFailure || o.IncludeProtected || o.KubeContext != "") {
		return fmt.Errorf("--state, --rollback-on-failure, --include-protected and --kube-context go with --apply")
	}
	// Without --env kong reports the missing flag; say nothing more.
	if !o.Apply && o.Env != "" && o.Image == "" && o.FromResult == "" {
		return fmt.Errorf("nothing to deploy: give --image IMAGE:TAG@sha256:... or --from-result FILE (or --apply to apply the desired state)")
	}
	if o.Timeout <= 0 {
		return fmt.Errorf("--timeout %s: must be positive", o.Timeout)
	}
	return nil
}
