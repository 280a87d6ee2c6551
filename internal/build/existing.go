package build

import (
	"context"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/stepper-cd/stepper/internal/exit"
)

// ociLayoutBuilder takes an image another tool built, as an OCI layout
// directory.
type ociLayoutBuilder struct{}

func (ociLayoutBuilder) build(ctx context.Context, b *Builders, r *Request, _ string) (v1.Image, *baseImage, error) {
	if err := sourceExists(r, true); err != nil {
		return nil, nil, err
	}
	img, err := loadLayout(r.Source, r.Platform)
	if err != nil {
		return nil, nil, exit.Usagef("--source: %w", err)
	}
	base, err := b.findBase(ctx, r, img, r.Source)
	return img, base, err
}

// tarballBuilder takes an image another tool built, as a `docker save`
// tarball.
type tarballBuilder struct{}

func (tarballBuilder) build(ctx context.Context, b *Builders, r *Request, _ string) (v1.Image, *baseImage, error) {
	if err := sourceExists(r, false); err != nil {
		return nil, nil, err
	}
	img, err := tarball.ImageFromPath(r.Source, nil)
	if err != nil {
		return nil, nil, exit.Usagef("--source %s: not a docker save tarball of one image: %w", r.Source, err)
	}
	base, err := b.findBase(ctx, r, img, r.Source)
	return img, base, err
}

func sourceExists(r *Request, dir bool) error {
	what := "docker save tarball"
	if dir {
		what = "OCI layout directory"
	}
	if r.Source == "" {
		return exit.Usagef("builder %s needs --source, the %s", r.Builder, what)
	}
	info, err := os.Stat(r.Source)
	if err != nil || info.IsDir() != dir {
		return exit.Usagef("--source %s: no %s there", r.Source, what)
	}
	return nil
}
