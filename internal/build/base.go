package build

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/release"
)

// approved is one entry of the approved base images: a repository, and the
// tag or digest it pins, if any.
type approved struct {
	entry  string
	repo   name.Repository
	tag    string
	digest string
}

// pinned is the entry as a reference to fetch; an unpinned entry means its
// latest tag.
func (a approved) pinned() string {
	switch {
	case a.digest != "":
		return a.repo.Name() + "@" + a.digest
	case a.tag != "":
		return a.repo.Name() + ":" + a.tag
	}
	return a.repo.Name() + ":latest"
}

// parseApproved reads the approved list; a bad entry is a configuration
// error.
func parseApproved(entries []string) ([]approved, error) {
	var list []approved
	for _, e := range entries {
		a, err := parseRef(e)
		if err != nil {
			return nil, exit.Usagef("baseImages: %q is not an image reference: %v", e, err)
		}
		a.entry = e
		list = append(list, a)
	}
	return list, nil
}

// parseRef splits a reference into repository, tag and digest, keeping
// apart what was written from name's defaults (an unwritten tag is "", not
// latest).
func parseRef(ref string) (approved, error) {
	r, err := release.ParseAny(ref)
	if err != nil {
		return approved{}, err
	}
	repo, err := name.NewRepository(r.Repository)
	if err != nil {
		return approved{}, err
	}
	return approved{entry: ref, repo: repo, tag: r.Tag, digest: r.Digest}, nil
}

// notApproved is the refusal every base check ends in.
func notApproved(where, ref string, list []string) error {
	if len(list) == 0 {
		return exit.Failedf("%s: base image %s is not approved: no base images are approved; list them under baseImages in stepper.yaml", where, ref)
	}
	return exit.Failedf("%s: base image %s is not approved: build on one of %s", where, ref, strings.Join(list, ", "))
}

// checkBase refuses ref unless an approved entry allows it, fetching what
// it must to compare digests, and returns the fetched base. where says
// where ref was written, for the message.
func (b *Builders) checkBase(ctx context.Context, r *Request, where, ref string) (*baseImage, error) {
	want, err := parseRef(ref)
	if err != nil {
		return nil, exit.Usagef("%s: base image %q is not an image reference: %v", where, ref, err)
	}
	list, err := parseApproved(r.Approved)
	if err != nil {
		return nil, err
	}
	// Refuse a foreign repository before touching any registry.
	var candidates []approved
	for _, a := range list {
		if a.repo.Name() == want.repo.Name() {
			candidates = append(candidates, a)
		}
	}
	if len(candidates) == 0 {
		return nil, notApproved(where, ref, r.Approved)
	}
	images, err := b.images()
	if err != nil {
		return nil, err
	}
	img, digest, err := images.Image(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("fetch base image %s: %w", ref, err)
	}
	for _, a := range candidates {
		ok, err := allows(ctx, images, a, want, digest)
		if err != nil {
			return nil, err
		}
		if ok {
			return &baseImage{Name: want.display(), Digest: digest, Approved: a.entry, image: img}, nil
		}
	}
	return nil, notApproved(where, ref, r.Approved)
}

// allows tells whether approved entry a allows ref want, which resolved to
// digest.
func allows(ctx context.Context, images Images, a, want approved, digest name.Digest) (bool, error) {
	switch {
	case a.digest != "":
		return a.digest == digest.DigestStr(), nil
	case a.tag == "":
		return true, nil
	case a.tag == want.tag:
		return true, nil
	case want.digest == "":
		return false, nil
	}
	// A digest against a pinned tag: allowed when the tag points there now.
	_, pinned, err := images.Image(ctx, a.pinned())
	if err != nil {
		return false, fmt.Errorf("resolve approved base image %s: %w", a.entry, err)
	}
	return pinned.DigestStr() == digest.DigestStr(), nil
}

// display is the reference with its registry made explicit, as the
// org.opencontainers.image.base.name annotation carries it.
func (a approved) display() string {
	s := a.repo.Name()
	if a.tag != "" {
		s += ":" + a.tag
	}
	if a.digest != "" {
		s += "@" + a.digest
	}
	return s
}

// proveBase fails unless img's layers start with the base's layers: what
// the Dockerfile said is then what the image is.
func proveBase(img v1.Image, base *baseImage) error {
	ok, err := hasPrefix(img, base.image)
	if err != nil {
		return err
	}
	if !ok {
		return exit.Failedf("the built image does not start with the layers of base image %s: it was not built on the approved base", base.Digest)
	}
	return nil
}

// hasPrefix tells whether img's diffIDs start with base's.
func hasPrefix(img, base v1.Image) (bool, error) {
	got, err := diffIDs(img)
	if err != nil {
		return false, fmt.Errorf("read built image: %w", err)
	}
	want, err := diffIDs(base)
	if err != nil {
		return false, fmt.Errorf("read base image: %w", err)
	}
	if len(want) == 0 || len(got) < len(want) {
		return false, nil
	}
	for i := range want {
		if got[i] != want[i] {
			return false, nil
		}
	}
	return true, nil
}

func diffIDs(img v1.Image) ([]v1.Hash, error) {
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	return cfg.RootFS.DiffIDs, nil
}

// findBase finds the approved base an existing image sits on: the entry
// whose image's layers are the longest prefix of its layers.
func (b *Builders) findBase(ctx context.Context, r *Request, img v1.Image, where string) (*baseImage, error) {
	list, err := parseApproved(r.Approved)
	if err != nil {
		return nil, err
	}
	images, err := b.images()
	if err != nil {
		return nil, err
	}
	var best *baseImage
	bestLen := 0
	var unfetched []error
	for _, a := range list {
		ref := a.pinned()
		baseImg, digest, err := images.Image(ctx, ref)
		if err != nil {
			// Another entry may still match; an approved image that is
			// gone only matters when none does.
			unfetched = append(unfetched, fmt.Errorf("fetch approved base image %s: %w", ref, err))
			continue
		}
		ok, err := hasPrefix(img, baseImg)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		ids, err := diffIDs(baseImg)
		if err != nil {
			return nil, err
		}
		if len(ids) > bestLen {
			best, bestLen = &baseImage{Name: ref, Digest: digest, Approved: a.entry, image: baseImg}, len(ids)
		}
	}
	if best == nil && len(unfetched) > 0 {
		return nil, fmt.Errorf("%s: find the approved base image: %w", where, errors.Join(unfetched...))
	}
	if best == nil {
		if len(list) == 0 {
			return nil, exit.Failedf("%s: no base images are approved; list them under baseImages in stepper.yaml", where)
		}
		return nil, exit.Failedf("%s: the image is not built on an approved base image: its layers start with none of %s", where, strings.Join(r.Approved, ", "))
	}
	return best, nil
}
