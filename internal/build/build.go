// Package build produces a container image and proves it sits on an approved
// base image, the platform rule every image obeys.
//
// An image comes from one of several builders: layers appended in-process to
// a base image (no daemon, reproducible), a Dockerfile built by buildah,
// docker buildx or kaniko, or an existing OCI layout or docker-save tarball.
// Whatever the builder, Build checks the base before building, checks the
// built image's layers start with the base's, gives the base's own registry
// layers back to the image so a push mounts them instead of uploading
// re-compressed copies, and stamps the OCI base, source, revision and created
// labels and annotations. Pushing is not this package's job: the result is a
// v1.Image for the registry client.
package build

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/logging"
	"github.com/stepper-cd/stepper/internal/suggest"
)

// Builder names, as --builder takes them.
const (
	Auto      = "auto"
	Layers    = "layers"
	Buildah   = "buildah"
	Docker    = "docker"
	Kaniko    = "kaniko"
	OCILayout = "oci-layout"
	Tarball   = "tarball"
)

// Names lists the builders --builder accepts, "auto" first.
var Names = []string{Auto, Layers, Buildah, Docker, Kaniko, OCILayout, Tarball}

// builders maps a name to the builder behind it.
var builders = map[string]builder{
	Layers:    layersBuilder{},    // layers on a base, in-process and daemonless
	Buildah:   buildahBuilder{},   // a Dockerfile, daemonless; the default in CI images
	Docker:    dockerBuilder{},    // a Dockerfile, where a Docker engine answers
	Kaniko:    kanikoBuilder{},    // a Dockerfile, inside a kaniko job
	OCILayout: ociLayoutBuilder{}, // an image some other tool built, as an OCI layout
	Tarball:   tarballBuilder{},   // an image some other tool built, as a docker-save tarball
}

// builder makes the image for one Request. It returns the image and the
// approved base it sits on; Build checks and stamps the rest.
type builder interface {
	build(ctx context.Context, b *Builders, r *Request, work string) (v1.Image, *baseImage, error)
}

// Images fetches images from a registry; the step passes the registry
// client, whose credentials and transport this package knows nothing of.
type Images interface {
	// Image fetches ref (a tag or a digest reference) and returns the image
	// with the digest reference it resolved to.
	Image(ctx context.Context, ref string) (v1.Image, name.Digest, error)
}

// Request says what to build and the rules it must obey.
type Request struct {
	// Builder is one of Names; "" means auto.
	Builder string
	// Context is the build context directory; layer sources are relative to
	// it too. "" means the working directory.
	Context string
	// Dockerfile is relative to Context unless absolute; "" means
	// Dockerfile, or Containerfile when only that exists.
	Dockerfile string
	// BuildArgs are KEY=VALUE; a bare KEY takes its value from the
	// environment, as buildah and docker do.
	BuildArgs []string
	// Platform is os/arch[/variant]; "" lets the builder choose.
	Platform string
	// Base is the base image of the layers builder.
	Base string
	// Layers are SRC[:DEST] for the layers builder: a directory or file
	// packed into a layer at DEST (default /<base name of SRC>), or a .tar,
	// .tar.gz or .tgz used as it is.
	Layers []string
	// Chown is UID[:GID] owning the files the layers builder packs; "" is
	// 0:0.
	Chown string
	// Config is the runtime configuration the layers builder sets.
	Config ImageConfig
	// Source is the OCI layout directory or docker-save tarball of the
	// oci-layout and tarball builders.
	Source string
	// Metadata goes into the image's OCI labels and annotations.
	Metadata Metadata
	// Approved are the approved base images: a repository, repository:tag
	// or repository@digest each.
	Approved []string
	// Insecure lets builders pull the base over plain HTTP.
	Insecure bool
	// Created is the image's creation time, so equal inputs give equal
	// digests; the zero time means the Unix epoch.
	Created time.Time
}

// ImageConfig is what the layers builder sets in the image configuration;
// empty fields keep the base's values. Setting Entrypoint resets the base's
// Cmd, as ENTRYPOINT does in a Dockerfile.
type ImageConfig struct {
	User         string
	Entrypoint   []string
	Cmd          []string
	Env          []string // KEY=VALUE, replacing the base's value of KEY
	ExposedPorts []string // PORT[/PROTO], tcp unless said
	WorkingDir   string
	Labels       map[string]string
}

// Metadata describes where the image comes from, filled from CI variables.
type Metadata struct {
	Source   string // repository URL
	Revision string // commit SHA
}

// baseImage is an approved base image as a build used it.
type baseImage struct {
	// Name is the reference as the build named it, such as the Dockerfile's
	// FROM after build arguments.
	Name string
	// Digest is what Name resolved to.
	Digest name.Digest
	// Approved is the entry of the approved list it matched.
	Approved string

	image v1.Image
}

// Result is a built image and what provenance and later steps need to know.
type Result struct {
	Image   v1.Image
	Builder string
	// BaseName and BaseDigest are the approved base the image sits on, as
	// in the org.opencontainers.image.base.* annotations.
	BaseName   string
	BaseDigest string
	// NonRoot tells whether the image's user is someone other than root; the
	// validate step enforces it.
	NonRoot bool
	// Parameters are what provenance records about the build: builder,
	// dockerfile, build-arg.NAME (values as given), platform, base, layers
	// and source.
	Parameters map[string]string

	work string
}

// Close removes the build's working files. Image reads them until then, so
// close a result after pushing it.
func (r *Result) Close() error {
	if r == nil || r.work == "" {
		return nil
	}
	return os.RemoveAll(r.work)
}

// Builders builds images; its fields are how the outside world reaches in,
// so tests can replace each. The zero value needs only Images.
type Builders struct {
	// LookPath finds a builder tool; nil means exec.LookPath.
	LookPath func(file string) (string, error)
	// Environ is where bare --build-arg names are resolved, and the source
	// of builder tools' environment, which keeps only what builders need
	// (toolEnviron); nil means os.Environ().
	Environ []string
	// Images fetches base images.
	Images Images
	// TempDir holds each build's working directory; "" means os.TempDir().
	TempDir string
	// KanikoExecutor is where a kaniko job keeps its executor; "" means
	// /kaniko/executor.
	KanikoExecutor string
}

// Build builds the image r asks for and checks it against the base-image
// rule. The caller closes the result once the image is pushed.
func (b *Builders) Build(ctx context.Context, r Request) (*Result, error) {
	chosen := r.Builder
	if chosen == "" || chosen == Auto {
		detected, err := b.Detect()
		if err != nil {
			return nil, err
		}
		chosen = detected
	}
	bld, ok := builders[chosen]
	if !ok {
		return nil, unknownBuilder(r.Builder)
	}
	r.Builder = chosen
	if r.Created.IsZero() {
		r.Created = time.Unix(0, 0)
	}
	r.Created = r.Created.UTC()
	if _, err := parseApproved(r.Approved); err != nil {
		return nil, err
	}

	work, err := os.MkdirTemp(b.TempDir, "stepper-build-")
	if err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	start := time.Now()
	img, base, err := bld.build(ctx, b, &r, work)
	if err == nil {
		img, err = finish(img, base, &r)
	}
	if err != nil {
		os.RemoveAll(work)
		return nil, fmt.Errorf("build with %s: %w", chosen, err)
	}
	res := &Result{
		Image:      img,
		Builder:    chosen,
		BaseName:   base.Name,
		BaseDigest: base.Digest.DigestStr(),
		Parameters: parameters(&r),
		work:       work,
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		res.Close()
		return nil, fmt.Errorf("build with %s: read config: %w", chosen, err)
	}
	res.NonRoot = nonRoot(cfg.Config.User)
	digest, err := img.Digest()
	if err != nil {
		res.Close()
		return nil, fmt.Errorf("build with %s: %w", chosen, err)
	}
	logging.From(ctx).Info().Str("builder", chosen).Str(logging.Digest, digest.String()).
		Str("base", base.Digest.String()).Int64(logging.Duration, time.Since(start).Milliseconds()).Msg("built image")
	return res, nil
}

// Detect picks the builder for "auto": kaniko inside a kaniko job, else
// buildah, else docker when an engine answers.
func (b *Builders) Detect() (string, error) {
	if isExecutable(b.kanikoExecutor()) {
		return Kaniko, nil
	}
	if _, err := b.lookPath("buildah"); err == nil {
		return Buildah, nil
	}
	if docker, err := b.lookPath("docker"); err == nil && b.dockerAnswers(docker) {
		return Docker, nil
	}
	return "", exit.Usagef("no image builder found: install buildah, run where a Docker engine answers, run inside a kaniko job, or use --builder %s, which needs none", Layers)
}

func unknownBuilder(name string) error {
	hint := ""
	if s := suggest.Closest(name, Names); s != "" {
		hint = fmt.Sprintf(" (did you mean %q?)", s)
	}
	return exit.Usagef("unknown builder %q%s: use one of %s", name, hint, strings.Join(Names, ", "))
}

func (b *Builders) lookPath(file string) (string, error) {
	if b.LookPath != nil {
		return b.LookPath(file)
	}
	return exec.LookPath(file)
}

// tool finds the executable a builder needs, or says how to get one.
func (b *Builders) tool(builder, file string) (string, error) {
	path, err := b.lookPath(file)
	if err != nil {
		return "", exit.Usagef("builder %s needs %s, which is not on PATH: install it or choose another --builder (%s needs no tool)", builder, file, Layers)
	}
	return path, nil
}

func (b *Builders) environ() []string {
	if b.Environ != nil {
		return b.Environ
	}
	return os.Environ()
}

// toolEnviron is the environment a builder tool runs with: only what
// builders need to find storage, registries, proxies and certificates.
// The vendor's Dockerfile runs under the tool, so nothing else of the job's
// environment (a signing key's password, cloud or CI tokens) reaches it.
func (b *Builders) toolEnviron() []string {
	var out []string
	for _, kv := range b.environ() {
		name, _, _ := strings.Cut(kv, "=")
		if toolVariable(name) {
			out = append(out, kv)
		}
	}
	return out
}

// toolVariables and toolPrefixes are what toolEnviron keeps.
var (
	toolVariables = map[string]bool{
		"PATH": true, "HOME": true, "USER": true, "LOGNAME": true, "TMPDIR": true, "TZ": true, "LANG": true, "TERM": true,
		"HTTP_PROXY": true, "HTTPS_PROXY": true, "NO_PROXY": true, "ALL_PROXY": true,
		"http_proxy": true, "https_proxy": true, "no_proxy": true, "all_proxy": true,
		"REGISTRY_AUTH_FILE": true, "DOCKER_CONFIG": true, "DOCKER_HOST": true, "DOCKER_CONTEXT": true,
		"DOCKER_TLS_VERIFY": true, "DOCKER_CERT_PATH": true, "DOCKER_BUILDKIT": true,
		"XDG_RUNTIME_DIR": true, "XDG_CONFIG_HOME": true, "XDG_DATA_HOME": true, "XDG_CACHE_HOME": true,
		"SSL_CERT_FILE": true, "SSL_CERT_DIR": true, "SOURCE_DATE_EPOCH": true,
	}
	toolPrefixes = []string{"LC_", "BUILDAH_", "STORAGE_", "CONTAINERS_", "_CONTAINERS_", "BUILDKIT_", "BUILDX_"}
)

func toolVariable(name string) bool {
	if toolVariables[name] {
		return true
	}
	for _, p := range toolPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

func (b *Builders) kanikoExecutor() string {
	if b.KanikoExecutor != "" {
		return b.KanikoExecutor
	}
	return "/kaniko/executor"
}

func (b *Builders) images() (Images, error) {
	if b.Images == nil {
		return nil, errors.New("no registry client to fetch base images with")
	}
	return b.Images, nil
}

func isExecutable(path string) bool {
	info, err := os.Stat(path)
	return err == nil && !info.IsDir() && info.Mode()&0o111 != 0
}

// nonRoot tells whether a config's User runs as someone other than root. A
// user name other than root counts as non-root: the validate step looks
// deeper.
func nonRoot(user string) bool {
	uid, _, _ := strings.Cut(user, ":")
	return uid != "" && uid != "0" && uid != "root"
}

func parameters(r *Request) map[string]string {
	p := map[string]string{"builder": r.Builder}
	set := func(k, v string) {
		if v != "" {
			p[k] = v
		}
	}
	switch r.Builder {
	case Layers:
		set("base", r.Base)
		set("layers", strings.Join(r.Layers, ","))
		set("chown", r.Chown)
	case OCILayout, Tarball:
		set("source", r.Source)
	default:
		set("dockerfile", r.Dockerfile)
		for _, a := range r.BuildArgs {
			k, v, _ := strings.Cut(a, "=")
			p["build-arg."+k] = v
		}
	}
	set("platform", r.Platform)
	return p
}
