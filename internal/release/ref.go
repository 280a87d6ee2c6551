package release

import (
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/stepper-cd/stepper/internal/exit"
)

// Ref is a container image reference: a repository, an optional tag and an
// optional digest. The repository is kept as written (no docker.io
// expansion), because it is written back into files people read.
type Ref struct {
	Repository string
	Tag        string
	Digest     string // "sha256:" + 64 lowercase hex, or ""
}

// ParseRef splits "repository[:tag][@sha256:...]" and checks each part.
// A reference names a tag, a digest or both.
func ParseRef(s string) (Ref, error) {
	r, err := ParseAny(s)
	if err == nil && r.Tag == "" && r.Digest == "" {
		return Ref{}, fmt.Errorf("image %q: give a tag, a digest or both", s)
	}
	return r, err
}

// ParseAny is ParseRef that also takes a bare repository, as lists of
// approved images write them.
func ParseAny(s string) (Ref, error) {
	var r Ref
	rest := strings.TrimSpace(s)
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		r.Digest, rest = rest[at+1:], rest[:at]
		if !validDigest(r.Digest) {
			return Ref{}, fmt.Errorf("image %q: digest %q is not sha256: followed by 64 lowercase hex characters", s, r.Digest)
		}
	}
	// A colon after the last slash separates the tag; one before it is a
	// registry port.
	if c := strings.LastIndexByte(rest, ':'); c > strings.LastIndexByte(rest, '/') {
		r.Tag, rest = rest[c+1:], rest[:c]
		if !validTag(r.Tag) {
			return Ref{}, fmt.Errorf("image %q: tag %q: up to 128 of [A-Za-z0-9_.-], not starting with '.' or '-'", s, r.Tag)
		}
	}
	r.Repository = rest
	if _, err := name.NewRepository(rest); err != nil || rest == "" {
		return Ref{}, fmt.Errorf("image %q: repository %q is not a valid image repository", s, rest)
	}
	return r, nil
}

// ParsePinned is ParseRef for a reference that must carry a digest: what
// deploy, promote and evidence work with, because a tag can move. A usage
// error says what to give instead.
func ParsePinned(s string) (Ref, error) {
	r, err := ParseRef(s)
	if err != nil {
		return Ref{}, exit.Mark(exit.Usage, err)
	}
	if r.Digest == "" {
		return Ref{}, exit.Usagef("image %q has no digest: releases are pinned by digest (IMAGE:TAG@sha256:...), because a tag can move", s)
	}
	return r, nil
}

// String is repository[:tag][@digest].
func (r Ref) String() string {
	s := r.Repository
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest
	}
	return s
}

// IsZero reports whether no image is set.
func (r Ref) IsZero() bool { return r == Ref{} }

// Pinned is repository@digest, without the tag.
func (r Ref) Pinned() string { return r.Repository + "@" + r.Digest }

// Tagged is repository:tag, without the digest; "" without a tag.
func (r Ref) Tagged() string {
	if r.Tag == "" {
		return ""
	}
	return r.Repository + ":" + r.Tag
}

// WithTag is r with another tag.
func (r Ref) WithTag(tag string) Ref { r.Tag = tag; return r }

// NameDigest is the digest reference go-containerregistry takes.
func (r Ref) NameDigest() (name.Digest, error) {
	if r.Digest == "" {
		return name.Digest{}, fmt.Errorf("image %s has no digest", r)
	}
	return name.NewDigest(r.Pinned())
}

// ShortDigest is the first 12 hex digits of the digest, for subjects and
// branch names.
func (r Ref) ShortDigest() string {
	d := strings.TrimPrefix(r.Digest, "sha256:")
	return d[:min(12, len(d))]
}

// SameImage reports whether a and b are the same image: the same
// repository and digest, whatever their tags.
func SameImage(a, b Ref) bool {
	return a.Digest != "" && a.Digest == b.Digest && a.Repository == b.Repository
}

func validDigest(d string) bool {
	hex, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(hex) != 64 {
		return false
	}
	for _, c := range []byte(hex) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// validTag is the OCI distribution spec's tag grammar:
// [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}.
func validTag(t string) bool {
	if t == "" || len(t) > 128 || t[0] == '.' || t[0] == '-' {
		return false
	}
	for _, c := range []byte(t) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}
