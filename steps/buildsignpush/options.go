// Package buildsignpush is the build-sign-push step: build an image on an
// approved base image, push it by digest, sign the digest, attach signed
// provenance, and only then tag it.
//
// Options is the single definition of the step's inputs: the CLI binds its
// fields as flags and STEPPER_* variables, and the CI templates pass them.
package buildsignpush

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/stepper-cd/stepper/internal/suggest"
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
	Tags       []string `name:"tag" placeholder:"TAG" help:"Tag to push; repeatable. Defaults to the tag build.tagScheme makes (the short commit SHA unless configured). Tags are only names: the step signs the digest, and tags it last."`
	AllowRetag bool     `help:"Move a tag that already points at a different digest. Without it such a tag is refused before anything is pushed."`
	Builder    string   `placeholder:"NAME" help:"How to make the image: auto, buildah, docker, kaniko or layers. Defaults to build.builder (auto)."`
	BuildArgs  []string `name:"build-arg" placeholder:"KEY=VALUE" help:"Build argument; repeatable."`
	Platform   string   `default:"linux/amd64" placeholder:"OS/ARCH" help:"Target platform."`

	// Layers on a base: no Dockerfile, no daemon.
	Base       string   `placeholder:"IMAGE" help:"With --builder layers: the approved base image to add layers to (default: the only entry of baseImages)."`
	Layers     []string `name:"layer" sep:"none" placeholder:"SRC[:DEST]" help:"With --builder layers: a file, directory or .tar(.gz) to add as one layer, at DEST (default /<name of SRC>); repeatable."`
	User       string   `placeholder:"UID[:GID]" help:"With --builder layers: the user the container runs as (default: the base image's)."`
	Entrypoint string   `placeholder:"CMD" help:"With --builder layers: entrypoint, as words or a JSON array."`
	Cmd        string   `placeholder:"ARGS" help:"With --builder layers: command (arguments to the entrypoint), as words or a JSON array."`
	Env        []string `sep:"none" env:"STEPPER_IMAGE_ENV" placeholder:"KEY=VALUE" help:"With --builder layers: environment variable of the image; repeatable."`
	Workdir    string   `placeholder:"DIR" help:"With --builder layers: working directory."`
	Expose     []string `placeholder:"PORT[/PROTO]" help:"With --builder layers: exposed port; repeatable."`
	Labels     []string `name:"label" sep:"none" placeholder:"KEY=VALUE" help:"Image label; repeatable."`

	// An image built elsewhere.
	FromOCILayout string `name:"from-oci-layout" placeholder:"DIR" type:"existingdir" help:"Push an existing OCI image layout directory instead of building."`
	FromTarball   string `placeholder:"FILE" type:"existingfile" help:"Push an existing 'docker save' tarball instead of building."`

	Phase      string `default:"all" enum:"all,build,sign" help:"Run everything (all), only build and push by digest (build), or only sign, attest and tag an image pushed earlier (sign), so the signing key can live in a separate job."`
	Digest     string `placeholder:"IMAGE@DIGEST" help:"With --phase sign: the image to sign, by digest."`
	FromResult string `placeholder:"FILE" type:"existingfile" help:"With --phase sign: take the image, tags and build facts from the build job's --result file."`
}

// Builders are the values --builder takes; images built elsewhere come in
// through --from-oci-layout and --from-tarball.
var Builders = []string{"auto", "buildah", "docker", "kaniko", "layers"}

// Validate checks the combination of inputs before anything runs.
func (o *Options) Validate() error {
	if o.Builder != "" && !slices.Contains(Builders, o.Builder) {
		hint := ""
		if s := suggest.Closest(o.Builder, Builders); s != "" {
			hint = fmt.Sprintf(" (did you mean %q?)", s)
		}
		return fmt.Errorf("--builder %q is not a builder%s: use one of %s", o.Builder, hint, strings.Join(Builders, ", "))
	}
	for _, kv := range [][]string{o.BuildArgs, o.Env, o.Labels} {
		for _, a := range kv {
			if k, _, ok := strings.Cut(a, "="); !ok || k == "" {
				return fmt.Errorf("%q: want KEY=VALUE (in --build-arg, --env or --label)", a)
			}
		}
	}
	for _, w := range []struct{ flag, v string }{{"--entrypoint", o.Entrypoint}, {"--cmd", o.Cmd}} {
		if _, err := Words(w.v); err != nil {
			return fmt.Errorf("%s: %w", w.flag, err)
		}
	}
	if o.FromOCILayout != "" && o.FromTarball != "" {
		return fmt.Errorf("--from-oci-layout and --from-tarball both name an existing image: give one")
	}
	layersOnly := o.Base != "" || len(o.Layers) > 0 || o.User != "" || o.Entrypoint != "" || o.Cmd != "" || len(o.Env) > 0 || o.Workdir != "" || len(o.Expose) > 0
	if layersOnly && o.Builder != "" && o.Builder != "layers" {
		return fmt.Errorf("--base, --layer, --user, --entrypoint, --cmd, --env, --workdir and --expose go with --builder layers, not --builder %s", o.Builder)
	}
	if o.Builder == "layers" && len(o.Layers) == 0 {
		return fmt.Errorf("--builder layers needs at least one --layer SRC[:DEST]: the files of the app")
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

// Words splits an entrypoint or command: a JSON array as it is, anything
// else at white space.
func Words(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	if strings.HasPrefix(s, "[") {
		var w []string
		if err := json.Unmarshal([]byte(s), &w); err != nil {
			return nil, fmt.Errorf("%q is not a JSON array of strings: %v", s, err)
		}
		return w, nil
	}
	return strings.Fields(s), nil
}
