package desiredstate

import (
	"errors"
	"fmt"
	"strings"
)

// Image is a container image reference split the way charts take it.
type Image struct {
	Repository string
	Tag        string
	Digest     string // "sha256:" + 64 lowercase hex
}

func (i Image) String() string {
	s := i.Repository
	if i.Tag != "" {
		s += ":" + i.Tag
	}
	if i.Digest != "" {
		s += "@" + i.Digest
	}
	return s
}

// IsZero reports whether no image is set.
func (i Image) IsZero() bool { return i == Image{} }

// ParseImage splits "repo[:tag][@sha256:...]" and validates it.
func ParseImage(ref string) (Image, error) {
	var img Image
	rest := ref
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		img.Digest, rest = rest[at+1:], rest[:at]
	}
	// A colon after the last slash separates the tag; one before it is a
	// registry port.
	if c := strings.LastIndexByte(rest, ':'); c > strings.LastIndexByte(rest, '/') {
		img.Tag, rest = rest[c+1:], rest[:c]
	}
	img.Repository = rest
	if img.Repository == "" {
		return Image{}, fmt.Errorf("image %q: no repository", ref)
	}
	if err := img.Validate(); err != nil {
		return Image{}, fmt.Errorf("image %q: %w", ref, err)
	}
	return img, nil
}

// Validate checks that the image can be pulled reproducibly enough: a tag,
// a digest or both, and a digest in the only form registries agree on.
func (i Image) Validate() error {
	if i.Tag == "" && i.Digest == "" {
		return errors.New("image has neither tag nor digest; set a tag, a digest (sha256:...) or both")
	}
	if i.Tag != "" && !isEnvRef(i.Tag) && !validTag(i.Tag) {
		return fmt.Errorf("tag %q is not a valid tag: up to 128 of [A-Za-z0-9_.-], not starting with '.' or '-'", i.Tag)
	}
	if i.Digest != "" && !isEnvRef(i.Digest) && !validDigest(i.Digest) {
		return fmt.Errorf("digest %q is not sha256: followed by 64 lowercase hex characters", i.Digest)
	}
	return nil
}

// isEnvRef reports whether Helmsman will substitute the value from an
// environment variable at deploy time; such values cannot be checked here.
func isEnvRef(v string) bool { return strings.HasPrefix(v, "$") }

func validTag(t string) bool {
	if len(t) > 128 || t[0] == '.' || t[0] == '-' {
		return false
	}
	for _, c := range []byte(t) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
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
