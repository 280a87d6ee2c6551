package registry_test

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/registry"
)

// pushIndex pushes a linux/amd64 and linux/arm64 index to repo:tag and
// returns the index's digest and the amd64 image's.
func pushIndex(t *testing.T, c *registry.Client, repo, tag string) (index, amd64 v1.Hash) {
	t.Helper()
	var adds []mutate.IndexAddendum
	for _, arch := range []string{"amd64", "arm64"} {
		img := randomImage(t, 1024, 1)
		if arch == "amd64" {
			amd64 = digestOf(t, img)
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	idx := mutate.AppendManifests(empty.Index, adds...)
	ref, err := name.NewTag(repo + ":" + tag)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, idx, c.RemoteOptions(t.Context())...); err != nil {
		t.Fatalf("push index: %v", err)
	}
	index, err = idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return index, amd64
}

func TestResolve(t *testing.T) {
	for _, reg := range registries(t) {
		t.Run(regName(reg), func(t *testing.T) {
			ctx := t.Context()
			c := registry.New(registry.Options{})
			repo := reg.Host + "/resolve/app"
			index, amd64 := pushIndex(t, c, repo, "multi")

			got, err := c.Resolve(ctx, repo+":multi")
			if err != nil {
				t.Fatal(err)
			}
			if got.DigestStr() != index.String() || got.Context().Name() != repo {
				t.Errorf("Resolve(tag of an index) = %s, want %s@%s", got, repo, index)
			}
			// Image reads through the index to one platform; that digest is
			// not what the tag points at.
			if _, img, err := c.Image(ctx, repo+":multi"); err != nil || img.DigestStr() != amd64.String() {
				t.Errorf("Image = %s, %v; want the amd64 image %s", img, err, amd64)
			}
			if byDigest, err := c.Resolve(ctx, repo+"@"+index.String()); err != nil || byDigest != got {
				t.Errorf("Resolve(digest) = %s, %v; want %s", byDigest, err, got)
			}

			single, err := c.Push(ctx, repo, randomImage(t, 1024, 1))
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Tag(ctx, single.Ref, []string{"single"}, false); err != nil {
				t.Fatal(err)
			}
			if got, err := c.Resolve(ctx, repo+":single"); err != nil || got != single.Ref {
				t.Errorf("Resolve(tag of an image) = %s, %v; want %s", got, err, single.Ref)
			}

			if _, err := c.Resolve(ctx, repo+":no-such-tag"); exit.ClassOf(err) != exit.Usage {
				t.Errorf("missing tag: class %v: %v", exit.ClassOf(err), err)
			}
			if _, err := c.Resolve(ctx, "UPPER/case:tag"); exit.ClassOf(err) != exit.Usage {
				t.Errorf("bad reference: class %v: %v", exit.ClassOf(err), err)
			}
		})
	}
}

// headWithoutDigest answers HEAD of a manifest without Docker-Content-Digest,
// as some registries and proxies in front of them do.
type headWithoutDigest struct {
	next        http.RoundTripper
	heads, gets atomic.Int32
}

func (h *headWithoutDigest) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := h.next.RoundTrip(req)
	if err != nil || !strings.Contains(req.URL.Path, "/manifests/") {
		return resp, err
	}
	switch req.Method {
	case http.MethodHead:
		h.heads.Add(1)
		resp.Header.Del("Docker-Content-Digest")
	case http.MethodGet:
		h.gets.Add(1)
	}
	return resp, nil
}

func TestResolveFallsBackToGet(t *testing.T) {
	reg := registries(t)[0]
	rt := &headWithoutDigest{next: http.DefaultTransport}
	c := registry.New(registry.Options{Transport: rt, Backoff: fastBackoff})
	repo := reg.Host + "/resolve/fallback"
	index, _ := pushIndex(t, registry.New(registry.Options{}), repo, "multi")

	got, err := c.Resolve(t.Context(), repo+":multi")
	if err != nil {
		t.Fatal(err)
	}
	if got.DigestStr() != index.String() {
		t.Errorf("Resolve = %s, want the index %s", got, index)
	}
	if rt.heads.Load() != 1 || rt.gets.Load() != 1 {
		t.Errorf("%d HEAD and %d GET of the manifest, want one each", rt.heads.Load(), rt.gets.Load())
	}
}
