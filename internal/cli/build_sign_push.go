package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/stepper-cd/stepper/internal/build"
	"github.com/stepper-cd/stepper/internal/ci"
	"github.com/stepper-cd/stepper/internal/config"
	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/release"
	"github.com/stepper-cd/stepper/internal/report"
	"github.com/stepper-cd/stepper/steps/buildsignpush"
)

// BuildSignPushCmd is `stepper build-sign-push`.
type BuildSignPushCmd struct {
	buildsignpush.Options `embed:""`
}

// Help is the long help of the command.
func (BuildSignPushCmd) Help() string {
	return `Makes the image, pushes it by digest, signs the digest with the platform's
key, attaches signed SLSA provenance, and only then tags it, so a tag never
names an image that is half pushed or unsigned.

The image comes from a Dockerfile (buildah, docker buildx or kaniko, as
build.builder or --builder says; auto picks what the machine has), from
files laid as layers on an approved base image in-process (--builder layers:
no daemon, same inputs give the same digest), or from an existing OCI layout
or 'docker save' tarball. It is refused unless it sits on an approved base
image (baseImages) and runs as non-root. Every image carries the
org.opencontainers.image.base.*, source, revision and created annotations.

Tags come from --tag or build.tagScheme: the short commit SHA, or
<branch>-<sha>-<commit time> for Flux image policies, or the commit's semver
git tag. latest is never pushed, and a tag that names another digest is
refused unless --allow-retag.

The result file and dotenv carry image, digest, image-ref (pinned by
digest), tags, signature and attestation for later jobs. With --phase build
and --phase sign the signing key stays out of the job that runs the vendor's
Dockerfile (SLSA build level 3); the sign phase also applies the tags.

Examples:

    stepper build-sign-push --app patient-api --tag 1.4.2
    stepper build-sign-push --builder layers --base harbor.example/base/static@sha256:... \
        --layer bin/server:/app/server --entrypoint /app/server --user 65532
    stepper build-sign-push --phase build --result build.json
    stepper build-sign-push --phase sign --from-result build.json --result signed.json
    stepper build-sign-push --from-oci-layout out/image --tag 1.4.2 --dry-run
`
}

// Run runs the step.
func (c *BuildSignPushCmd) Run(ctx context.Context, rt *Runtime, cfg *config.Config, clients *Clients) error {
	// A build argument named like a credential is a secret of the run:
	// masked wherever it might surface, as well as kept out of argv.
	for _, kv := range c.BuildArgs {
		if name, value, ok := strings.Cut(kv, "="); ok && build.SecretArgName.MatchString(name) {
			rt.Secrets.Add(value)
		}
	}
	job := buildsignpush.Job{
		Options:     c.Options,
		BuilderName: c.Builder,
		Approved:    cfg.BaseImages,
		Insecure:    cfg.Registry.Insecure,
		PipelineURL: rt.CI.PipelineURL,
		JobURL:      rt.CI.JobURL,
		Version:     Version,
		DryRun:      rt.Globals.DryRun,
		Mask:        rt.Secrets.Mask,
	}
	if job.BuilderName == "" {
		job.BuilderName = string(cfg.Build.Builder)
	}
	src := rt.CI
	ci.FillFromGit(ctx, c.Context, &src)
	job.Source = buildsignpush.Source{Commit: src.CommitSHA, Branch: src.Branch, Tag: src.Tag, CommitTime: src.CommitTime, URL: src.SourceURL}

	if c.Phase == buildsignpush.PhaseSign && c.FromResult != "" {
		prev, err := report.ReadJSON(c.FromResult)
		if err != nil {
			return exit.Mark(exit.Usage, fmt.Errorf("--from-result: %w", err))
		}
		if job.Built, err = release.DecodeBuilt("--from-result "+c.FromResult, prev); err != nil {
			return err
		}
		rt.Result.App = prev.App
	}
	if c.Phase != buildsignpush.PhaseSign {
		if err := rt.resolveApp(&c.App); err != nil {
			return err
		}
		repo, err := repository(cfg, c.Image, c.App)
		if err != nil {
			return err
		}
		job.Repository = repo
	}
	if job.Built == nil || len(c.Tags) > 0 {
		tags, err := buildsignpush.Tags(string(cfg.Build.TagScheme), cfg.Build.TagPrefix, job.Source, c.Tags, time.Now())
		if err != nil {
			return exit.Mark(exit.Usage, err)
		}
		job.Tags = tags
	}

	client, err := clients.Registry()
	if err != nil {
		return err
	}
	step := &buildsignpush.Step{
		Builder:  &build.Builders{Environ: rt.Environ, Images: client},
		Registry: client,
	}
	// The step loads the key only after the build: the vendor's Dockerfile
	// never runs while it is decrypted.
	step.LoadSigner = func() (buildsignpush.Signer, error) {
		key, opts, err := clients.Signer()
		if err != nil {
			return nil, err
		}
		return &buildsignpush.KeySigner{Key: key, Options: opts}, nil
	}
	out, err := step.Run(ctx, job)
	if out != nil {
		out.Built.Encode(rt.Result)
	}
	return err
}

// repository is where an image goes: --image, or
// <registry.host>/<registry.project>/<app>.
func repository(cfg *config.Config, image, app string) (string, error) {
	if image != "" {
		return image, nil
	}
	if err := cfg.Require("registry.host"); err != nil {
		return "", fmt.Errorf("no image repository: pass --image, or %w", err)
	}
	repo := cfg.Registry.Host + "/"
	if cfg.Registry.Project != "" {
		repo += cfg.Registry.Project + "/"
	}
	return repo + app, nil
}
