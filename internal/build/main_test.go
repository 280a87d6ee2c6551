package build

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/testenv"
)

// platform is one registry (docker-registry 2.8) for the whole package.
var platform = testenv.NewShared(testenv.Options{SkipReferrersRegistry: true, SkipGit: true, SkipKube: true})

func TestMain(m *testing.M) {
	code := m.Run()
	platform.Stop()
	os.Exit(code)
}

// remoteImages is the registry client the step would pass, reduced to
// go-containerregistry's remote over plain HTTP; it records what it
// fetched.
type remoteImages struct {
	mu      sync.Mutex
	fetched []string
}

func (r *remoteImages) Image(ctx context.Context, ref string) (v1.Image, name.Digest, error) {
	r.mu.Lock()
	r.fetched = append(r.fetched, ref)
	r.mu.Unlock()
	parsed, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		return nil, name.Digest{}, err
	}
	if !strings.HasPrefix(parsed.Context().RegistryStr(), "127.0.0.1:") {
		return nil, name.Digest{}, fmt.Errorf("the test client reaches only 127.0.0.1, not %s", ref)
	}
	img, err := remote.Image(parsed, remote.WithContext(ctx))
	if err != nil {
		return nil, name.Digest{}, err
	}
	d, err := img.Digest()
	if err != nil {
		return nil, name.Digest{}, err
	}
	return img, parsed.Context().Digest(d.String()), nil
}

func (r *remoteImages) Fetched() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string{}, r.fetched...)
}

// fixture is the registry with the test base image in it.
type fixture struct {
	host     string
	base     name.Digest // host/base/distroless@sha256:...
	baseRepo string      // host/base/distroless
	images   *remoteImages
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	host := platform.Get(t).Registry.Host
	base, err := testenv.PushBaseImage(t.Context(), host, "base/distroless")
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{host: host, base: base, baseRepo: host + "/base/distroless", images: &remoteImages{}}
}

func (f *fixture) builders(t *testing.T) *Builders {
	return &Builders{Images: f.images, TempDir: t.TempDir(), Environ: os.Environ()}
}

func (f *fixture) baseImage(t *testing.T) v1.Image {
	t.Helper()
	img, _, err := (&remoteImages{}).Image(t.Context(), f.base.String())
	if err != nil {
		t.Fatal(err)
	}
	return img
}

var created = time.Date(2024, 5, 17, 10, 30, 0, 0, time.UTC)

var meta = Metadata{Source: "https://gitlab.example/team/api", Revision: "0123456789abcdef0123456789abcdef01234567"}

func wantClass(t *testing.T, err error, class exit.Class, contains ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want a %s error, got none", class)
	}
	if got := exit.ClassOf(err); got != class {
		t.Errorf("class = %s, want %s; error: %v", got, class, err)
	}
	for _, c := range contains {
		if !strings.Contains(err.Error(), c) {
			t.Errorf("error does not say %q:\n%v", c, err)
		}
	}
}

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(dirOf(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func dirOf(path string) string { return path[:strings.LastIndex(path, "/")] }

// checkResult checks what every built image must carry: the metadata, the
// base's diffIDs and its original layer blobs.
func checkResult(t *testing.T, f *fixture, res *Result) {
	t.Helper()
	if res.BaseDigest != f.base.DigestStr() {
		t.Errorf("BaseDigest = %s, want %s", res.BaseDigest, f.base.DigestStr())
	}
	m, err := res.Image.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := res.Image.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		AnnotationBaseName:   res.BaseName,
		AnnotationBaseDigest: f.base.DigestStr(),
		AnnotationSource:     meta.Source,
		AnnotationRevision:   meta.Revision,
		AnnotationCreated:    "2024-05-17T10:30:00Z",
	}
	for k, v := range want {
		if m.Annotations[k] != v {
			t.Errorf("annotation %s = %q, want %q", k, m.Annotations[k], v)
		}
		if cfg.Config.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, cfg.Config.Labels[k], v)
		}
	}
	base := f.baseImage(t)
	ok, err := hasPrefix(res.Image, base)
	if err != nil || !ok {
		t.Errorf("image diffIDs do not start with the base's (err %v)", err)
	}
	baseLayers, _ := base.Layers()
	layers, err := res.Image.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for i, bl := range baseLayers {
		want, _ := bl.Digest()
		got, _ := layers[i].Digest()
		if got != want || m.Layers[i].Digest != want {
			t.Errorf("layer %d is %s (manifest %s), want the base's blob %s", i, got, m.Layers[i].Digest, want)
		}
	}
}

// buildTwice builds r twice and fails unless both builds have one digest;
// it returns the first result, closed when the test ends.
func buildTwice(t *testing.T, b *Builders, r Request) *Result {
	t.Helper()
	var digests []v1.Hash
	var first *Result
	for range 2 {
		res, err := b.Build(t.Context(), r)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { res.Close() })
		d, err := res.Image.Digest()
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, d)
		if first == nil {
			first = res
		}
	}
	if digests[0] != digests[1] {
		t.Errorf("same inputs, different digests: %s and %s", digests[0], digests[1])
	}
	return first
}

// pushAndPull proves a registry accepts the image and serves it back.
func pushAndPull(t *testing.T, f *fixture, img v1.Image, repo string) v1.Image {
	t.Helper()
	digest, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(f.host+"/"+repo+"@"+digest.String(), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithContext(t.Context())); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	pulled, err := remote.Image(ref, remote.WithContext(t.Context()))
	if err != nil {
		t.Fatalf("pull %s: %v", ref, err)
	}
	if got, _ := pulled.Digest(); got != digest {
		t.Fatalf("pulled %s, want %s", got, digest)
	}
	return pulled
}

var errNotFound = errors.New("not found")
