package buildsignpush

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/stepper-cd/stepper/internal/build"
	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/logging"
	"github.com/stepper-cd/stepper/internal/registry"
	"github.com/stepper-cd/stepper/internal/release"
	"github.com/stepper-cd/stepper/internal/signing"
)

// Builder makes an image: internal/build.
type Builder interface {
	Build(ctx context.Context, r build.Request) (*build.Result, error)
}

// Registry is where images go: internal/registry.
type Registry interface {
	Image(ctx context.Context, ref string) (v1.Image, name.Digest, error)
	Push(ctx context.Context, repo string, img v1.Image) (*registry.Pushed, error)
	CheckTags(ctx context.Context, repo, digest string, tags []string, allowRetag bool) error
	Tag(ctx context.Context, ref name.Digest, tags []string, allowRetag bool) error
}

// Signer signs and attests digests with the platform's key: internal/signing.
type Signer interface {
	Sign(ctx context.Context, img name.Digest) (ref string, err error)
	Attest(ctx context.Context, img name.Digest, p signing.Provenance) (ref string, err error)
}

// Step is build-sign-push with the systems it uses. Signer may be nil for
// PhaseBuild and in a dry run.
type Step struct {
	Builder  Builder
	Registry Registry
	Signer   Signer
	// LoadSigner makes the Signer when Signer is nil. Run calls it only
	// after the build, so the signing key is not decrypted, nor in memory,
	// while the vendor's Dockerfile runs; in a dry run too, so a wrong
	// password fails the rehearsal.
	LoadSigner func() (Signer, error)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Job is one run: the options with everything the configuration and the CI
// server decided filled in.
type Job struct {
	Options
	// Repository is where the image goes, without tag or digest.
	Repository string
	// Tags are the tags to apply once the digest is signed and attested.
	Tags []string
	// BuilderName is the builder chosen by --builder or build.builder.
	BuilderName string
	// Approved are the approved base images (baseImages).
	Approved []string
	// Insecure lets the builder pull the base over plain HTTP.
	Insecure bool
	Source   Source
	// PipelineURL and JobURL identify the CI run for provenance.
	PipelineURL, JobURL string
	// Version is stepper's version, recorded in provenance.
	Version string
	// DryRun builds and checks, and pushes, signs and tags nothing.
	DryRun bool
	// Built is what an earlier build phase made, for PhaseSign: its result
	// file read with release.DecodeBuilt.
	Built *release.Built
	// Mask hides the run's known secrets in what is recorded; nil keeps
	// values as they are.
	Mask func(string) string
}

// Outcome is what a run did: the release record later steps read
// (release.Built, written with its Encode), and what the push uploaded.
type Outcome struct {
	release.Built
	// Pushed says what the push uploaded; nil when nothing was pushed.
	Pushed *registry.Pushed
	// digest is Built.Image as go-containerregistry takes it.
	digest name.Digest
}

// BuildType names what stepper's provenance describes, per SLSA v1.
const BuildType = "https://github.com/stepper-cd/stepper/build-sign-push/v1"

// Run builds, pushes, signs, attests and tags, in that order, so a tag only
// ever names an image that is completely pushed, signed and attested. A
// failure at any point leaves at most an untagged digest in the registry.
func (s *Step) Run(ctx context.Context, job Job) (*Outcome, error) {
	log := logging.From(ctx)
	out := &Outcome{}
	switch job.Phase {
	case PhaseSign:
		if err := s.loadBuilt(ctx, job, out); err != nil {
			return out, err
		}
	default:
		if err := s.build(ctx, job, out); err != nil {
			return out, err
		}
	}
	if job.Phase != PhaseBuild && s.Signer == nil && s.LoadSigner != nil {
		signer, err := s.LoadSigner()
		if err != nil {
			return out, err
		}
		s.Signer = signer
	}
	if job.DryRun {
		log.Info().Str(logging.Image, out.Image.Pinned()).Strs("tags", out.Tags).Msg("dry run: nothing pushed, signed or tagged")
		return out, nil
	}
	if job.Phase == PhaseBuild {
		log.Info().Str(logging.Image, out.Image.Pinned()).Strs("tags", out.Tags).
			Msg("pushed by digest; the sign phase signs, attests and then applies the tags")
		return out, nil
	}
	if s.Signer == nil {
		return out, exit.Usagef("build-sign-push: no signing key loaded; set signing.key")
	}
	// The signature and the attestation live in different manifests, so
	// they are written side by side; each confirms its own write.
	var sigErr, attErr error
	var wg sync.WaitGroup
	wg.Go(func() { out.Signature, sigErr = s.Signer.Sign(ctx, out.digest) })
	wg.Go(func() { out.Attestation, attErr = s.Signer.Attest(ctx, out.digest, s.provenance(job, out.Built)) })
	wg.Wait()
	if sigErr != nil {
		return out, fmt.Errorf("sign %s: %w", out.digest, sigErr)
	}
	log.Info().Str(logging.Digest, out.Image.Digest).Str("signature", out.Signature).Msg("signed the digest")
	if attErr != nil {
		return out, fmt.Errorf("attest %s: %w", out.digest, attErr)
	}
	log.Info().Str(logging.Digest, out.Image.Digest).Str("attestation", out.Attestation).Msg("attached signed SLSA provenance")

	if err := s.Registry.Tag(ctx, out.digest, out.Tags, job.AllowRetag); err != nil {
		return out, fmt.Errorf("tag %s: %w", out.digest, err)
	}
	out.Tagged = true
	log.Info().Str(logging.Image, out.Image.Repository).Strs("tags", out.Tags).Msg("tagged")
	return out, nil
}

// build makes the image, refuses it when it runs as root or a tag would
// move, and pushes it by digest.
func (s *Step) build(ctx context.Context, job Job, out *Outcome) error {
	log := logging.From(ctx)
	out.Started = s.now()
	if job.Base == "" && job.BuilderName == "layers" && len(job.Approved) == 1 {
		job.Base = job.Approved[0]
	}
	entrypoint, _ := Words(job.Entrypoint)
	cmd, _ := Words(job.Cmd)
	req := build.Request{
		Builder:    job.BuilderName,
		Context:    job.Context,
		Dockerfile: job.File,
		BuildArgs:  job.BuildArgs,
		Platform:   job.Platform,
		Base:       job.Base,
		Layers:     job.Layers,
		Config: build.ImageConfig{
			User: job.User, Entrypoint: entrypoint, Cmd: cmd, Env: job.Env,
			ExposedPorts: job.Expose, WorkingDir: job.Workdir, Labels: keyValues(job.Labels),
		},
		Metadata: build.Metadata{Source: job.Source.URL, Revision: job.Source.Commit},
		Approved: job.Approved,
		Insecure: job.Insecure,
		Created:  job.Source.CommitTime,
	}
	switch {
	case job.FromOCILayout != "":
		req.Builder, req.Source = build.OCILayout, job.FromOCILayout
	case job.FromTarball != "":
		req.Builder, req.Source = build.Tarball, job.FromTarball
	}
	res, err := s.Builder.Build(ctx, req)
	if err != nil {
		return err
	}
	defer res.Close()
	digest, err := res.Image.Digest()
	if err != nil {
		return fmt.Errorf("built image: %w", err)
	}
	repo, err := name.NewRepository(job.Repository)
	if err != nil {
		return exit.Usagef("image repository %q: %v", job.Repository, err)
	}
	out.setImage(repo.Digest(digest.String()), job.Tags)
	out.Builder, out.BaseImage, out.BaseDigest = res.Builder, res.BaseName, res.BaseDigest
	out.Parameters = redactParameters(res.Parameters, job.Mask)
	log.Info().Str(logging.Digest, digest.String()).Str("builder", res.Builder).
		Str("base", res.BaseName).Str("baseDigest", res.BaseDigest).Msg("built")
	if !res.NonRoot {
		return exit.Failedf("the image runs as root, which the platform refuses: set a numeric non-root USER in the Dockerfile (USER 65532:65532), or --user with --builder layers")
	}
	if err := s.Registry.CheckTags(ctx, job.Repository, digest.String(), job.Tags, job.AllowRetag); err != nil {
		return err
	}
	if job.DryRun {
		out.Finished = s.now()
		return nil
	}
	pushed, err := s.Registry.Push(ctx, job.Repository, res.Image)
	if err != nil {
		return fmt.Errorf("push %s: %w", job.Repository, err)
	}
	out.Pushed = pushed
	if pushed.Ref.DigestStr() != digest.String() {
		return exit.Infraf("push %s: the registry stored %s, not the built %s", job.Repository, pushed.Ref.DigestStr(), digest)
	}
	out.Finished = s.now()
	return nil
}

// loadBuilt takes the image an earlier build phase pushed, checks that the
// registry has it, and reads what the build did not hand over from the
// image's own annotations.
func (s *Step) loadBuilt(ctx context.Context, job Job, out *Outcome) error {
	var ref name.Digest
	tags := job.Tags
	if job.Built != nil {
		out.Built = *job.Built
		d, err := out.Image.NameDigest()
		if err != nil {
			return exit.Usagef("--from-result: image %s: %v", out.Image, err)
		}
		ref = d
		if len(job.Options.Tags) == 0 && len(out.Tags) > 0 {
			tags = out.Tags
		}
	} else {
		d, err := name.NewDigest(job.Digest)
		if err != nil {
			return exit.Usagef("--digest %q: %v", job.Digest, err)
		}
		ref = d
	}
	out.setImage(ref, tags)
	img, _, err := s.Registry.Image(ctx, out.digest.String())
	if err != nil {
		return fmt.Errorf("image to sign %s: %w", out.digest, err)
	}
	// The base image is re-derived from the image itself, never taken from
	// the result file an earlier (vendor-controlled) job wrote.
	m, err := img.Manifest()
	if err != nil {
		return fmt.Errorf("image to sign %s: manifest: %w", out.digest, err)
	}
	base, baseDigest := m.Annotations[ocispec.AnnotationBaseImageName], m.Annotations[ocispec.AnnotationBaseImageDigest]
	if out.BaseDigest != "" && out.BaseDigest != baseDigest {
		return exit.Failedf("--from-result says base image digest %s, but the image %s in the registry says %q: refusing to attest a base the image does not carry", out.BaseDigest, out.digest, baseDigest)
	}
	out.BaseImage, out.BaseDigest = base, baseDigest
	return s.Registry.CheckTags(ctx, out.Image.Repository, out.Image.Digest, out.Tags, job.AllowRetag)
}

func (s *Step) provenance(job Job, b release.Built) signing.Provenance {
	params := maps.Clone(b.Parameters)
	if params == nil {
		params = map[string]string{}
	}
	if job.Version != "" {
		params["stepper.version"] = job.Version
	}
	finished := b.Finished
	if finished.IsZero() {
		finished = s.now()
	}
	return signing.Provenance{
		BuilderID:      "https://github.com/stepper-cd/stepper/build-sign-push/" + orDefault(b.Builder, "unknown"),
		BuildType:      BuildType,
		SourceRepo:     job.Source.URL,
		SourceRevision: job.Source.Commit,
		PipelineURL:    job.PipelineURL,
		JobURL:         job.JobURL,
		BaseImage:      b.BaseImage,
		BaseDigest:     b.BaseDigest,
		Parameters:     params,
		StartedOn:      b.Started,
		FinishedOn:     finished,
		InvocationID:   orDefault(job.JobURL, job.PipelineURL),
		Unverified:     unverified(job),
	}
}

// unverified lists what the sign phase attests only on the build job's
// word: the digest and the base come from the registry, the source from
// the CI server; the build's parameters, builder and times come from the
// result file the build job wrote.
func unverified(job Job) []string {
	if job.Phase != PhaseSign {
		return nil
	}
	return []string{"parameters", "builder", "startedOn", "finishedOn"}
}

// setImage names the image the run works on, pinned by digest, and the tags
// it gets (the first is the reference's tag, as release.DecodeBuilt reads it
// back).
func (o *Outcome) setImage(d name.Digest, tags []string) {
	o.digest = d
	o.Tags = tags
	o.Image = release.Ref{Repository: d.Context().Name(), Digest: d.DigestStr()}
	if len(tags) > 0 {
		o.Image.Tag = tags[0]
	}
}

func (s *Step) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func keyValues(kvs []string) map[string]string {
	if len(kvs) == 0 {
		return nil
	}
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// redactParameters keeps secrets out of provenance, which anyone who can pull
// the image can read: values of build arguments whose names look like
// credentials become their SHA-256 (still comparable, not readable), and
// the run's known secrets are masked everywhere.
func redactParameters(p map[string]string, mask func(string) string) map[string]string {
	out := make(map[string]string, len(p))
	for k, v := range p {
		if name, ok := strings.CutPrefix(k, "build-arg."); ok && v != "" && build.SecretArgName.MatchString(name) {
			sum := sha256.Sum256([]byte(v))
			v = "sha256:" + hex.EncodeToString(sum[:])
		} else if mask != nil {
			v = mask(v)
		}
		out[k] = v
	}
	return out
}
