package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/stepper-cd/stepper/internal/exit"
)

// CheckTags is the check before a push: it fails when one of tags in repo
// already points at a digest other than digest ("sha256:..."), unless
// allowRetag. A tag that points at digest already, or does not exist, is
// fine. With digest "" every existing tag would move.
func (c *Client) CheckTags(ctx context.Context, repo, digest string, tags []string, allowRetag bool) error {
	r, err := c.repository(repo)
	if err != nil {
		return err
	}
	var want v1.Hash
	if digest != "" {
		if want, err = v1.NewHash(digest); err != nil {
			return exit.Usagef("check tags in %s: digest %q: %w", r, digest, err)
		}
	}
	for _, tag := range tags {
		t, err := c.tag(r, tag)
		if err != nil {
			return err
		}
		if _, err := c.checkTag(ctx, t, want, allowRetag); err != nil {
			return err
		}
	}
	return nil
}

// Tag points tags in ref's repository at ref. Call it last, once everything
// else about the image has succeeded, so that a failed run leaves no tag on
// it. Each tag is checked again right before it is set, as CheckTags does;
// a tag already at ref is left alone. The registry API has no conditional
// update, so a tag moved by someone else between that check and the set is
// overwritten.
func (c *Client) Tag(ctx context.Context, ref name.Digest, tags []string, allowRetag bool) error {
	want, err := v1.NewHash(ref.DigestStr())
	if err != nil {
		return exit.Usagef("tag %s: %w", ref, err)
	}
	var manifest *remote.Descriptor
	for _, tag := range tags {
		t, err := c.tag(ref.Context(), tag)
		if err != nil {
			return err
		}
		there, err := c.checkTag(ctx, t, want, allowRetag)
		if err != nil {
			return err
		}
		if there {
			continue
		}
		if manifest == nil {
			if manifest, err = remote.Get(ref, c.RemoteOptions(ctx)...); err != nil {
				return classify(fmt.Sprintf("tag %s: fetch manifest", ref), ref.Context(), err)
			}
		}
		if err := remote.Tag(t, manifest, c.RemoteOptions(ctx)...); err != nil {
			return classify(fmt.Sprintf("tag %s as %s", ref, tag), ref.Context(), err)
		}
	}
	return nil
}

// tagPattern is the tag grammar of the OCI distribution spec, which is
// stricter than go-containerregistry's check (it lets "-x" through).
var tagPattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

func (c *Client) tag(repo name.Repository, tag string) (name.Tag, error) {
	if !tagPattern.MatchString(tag) {
		return name.Tag{}, exit.Usagef("tag %q for %s: a tag is 1 to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'", tag, repo)
	}
	t, err := name.NewTag(repo.Name()+":"+tag, append(c.nameOptions(repo.RegistryStr()), name.StrictValidation)...)
	if err != nil {
		return name.Tag{}, exit.Usagef("tag %q for %s: %w", tag, repo, err)
	}
	return t, nil
}

// checkTag reports whether t points at want already. It refuses with a Failed error to
// move an existing tag elsewhere unless allowRetag; a zero want counts as
// elsewhere.
func (c *Client) checkTag(ctx context.Context, t name.Tag, want v1.Hash, allowRetag bool) (bool, error) {
	desc, err := remote.Head(t, c.RemoteOptions(ctx)...)
	var terr *transport.Error
	if errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound {
		return false, nil
	}
	if err != nil {
		return false, classify(fmt.Sprintf("check tag %s", t), t.Context(), err)
	}
	if desc.Digest == want {
		return true, nil
	}
	if !allowRetag {
		return false, exit.Failedf("tag %s already points at %s; pushing would move it; use a new tag or --allow-retag",
			t, desc.Digest)
	}
	return false, nil
}
