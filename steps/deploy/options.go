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
	Env          string        `required:"" placeholder:"ENV" help:"Environment to deploy to; one of the configured chain."`
	App          string        `placeholder:"NAME" help:"Application (release) name. Defaults to the CI project name."`
	Image        string        `placeholder:"IMAGE:TAG@DIGEST" help:"Image to deploy. It must carry a digest, or come from --from-result."`
	FromResult   string        `placeholder:"FILE" type:"existingfile" help:"Take the image from build-sign-push's --result file."`
	ChartVersion string        `placeholder:"VERSION" help:"Chart version to deploy; unchanged when empty."`
	Set          []string      `sep:"none" placeholder:"KEY=VALUE" help:"Helm value to set in the desired state; repeatable."`
	Message      string        `placeholder:"TEXT" help:"Extra text for the desired-state commit message."`
	Wait         bool          `default:"true" negatable:"" help:"Wait for the environment to report the release ready."`
	Timeout      time.Duration `default:"10m" help:"How long to wait for the release to be ready."`
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
	if o.Timeout <= 0 {
		return fmt.Errorf("--timeout %s: must be positive", o.Timeout)
	}
	return nil
}
