// Package buildsignpush is the build-sign-push step: build an image on an
// approved base image, push it, and sign its digest, never a tag.
//
// Options is the single definition of the step's inputs: the CLI binds its
// fields as flags and STEPPER_* variables, and the CI templates pass them.
package buildsignpush

import (
	"fmt"
	"strings"
)

// Phases let a pipeline run the vendor's Dockerfile and the signing key in
// separate jobs, as SLSA build level 3 requires.
const (
	PhaseAll   = "all"
	PhaseBuild = "build"
	PhaseSign  = "sign"
)

// Options are the inputs of build-sign-push.
type Options struct {
	App        string   `placeholder:"NAME" help:"Application name; the default image repository is <registry.host>/<registry.project>/<app>. Defaults to the CI project name."`
	Context    string   `default:"." placeholder:"DIR" help:"Build context directory."`
	File       string   `default:"Dockerfile" placeholder:"PATH" help:"Dockerfile or Containerfile, relative to the context."`
	Image      string   `placeholder:"REPO" help:"Repository to push to, without tag. Overrides the default built from the configuration."`
	Tags       []string `name:"tag" placeholder:"TAG" help:"Tag to push; repeatable. Defaults to the short commit SHA in CI. Tags are only names: the step signs the digest."`
	BuildArgs  []string `name:"build-arg" placeholder:"KEY=VALUE" help:"Build argument; repeatable."`
	Platform   string   `default:"linux/amd64" placeholder:"OS/ARCH" help:"Target platform."`
	Phase      string   `default:"all" enum:"all,build,sign" help:"Run everything (all), only build and push (build), or only sign an image pushed earlier (sign), so the signing key can live in a separate job."`
	Digest     string   `placeholder:"IMAGE@DIGEST" help:"With --phase sign: the image to sign, by digest."`
	FromResult string   `placeholder:"FILE" type:"existingfile" help:"With --phase sign: take the image digest from an earlier build job's --result file."`
}

// Validate checks the combination of inputs before anything runs.
func (o *Options) Validate() error {
	for _, a := range o.BuildArgs {
		if k, _, ok := strings.Cut(a, "="); !ok || k == "" {
			return fmt.Errorf("--build-arg %q: want KEY=VALUE", a)
		}
	}
	switch o.Phase {
	case PhaseSign:
		if o.Digest == "" && o.FromResult == "" {
			return fmt.Errorf("--phase sign needs the image to sign: give --digest IMAGE@sha256:... or --from-result FILE")
		}
		if o.Digest != "" && o.FromResult != "" {
			return fmt.Errorf("--digest and --from-result both name the image to sign: give one")
		}
		if o.Digest != "" && !strings.Contains(o.Digest, "@sha256:") {
			return fmt.Errorf("--digest %q: signing needs a digest reference (IMAGE@sha256:...), never a tag, because a tag can move", o.Digest)
		}
	default:
		if o.Digest != "" || o.FromResult != "" {
			return fmt.Errorf("--digest and --from-result only go with --phase sign")
		}
	}
	return nil
}
