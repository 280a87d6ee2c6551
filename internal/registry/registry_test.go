package registry_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/stepper-cd/stepper/internal/registry"
	"github.com/stepper-cd/stepper/internal/testenv"
)

// platform is the two registries every test here shares.
var platform = testenv.NewShared(testenv.Options{SkipGit: true, SkipKube: true})

func TestMain(m *testing.M) {
	code := m.Run()
	platform.Stop()
	os.Exit(code)
}

// registries are the shared registries, one subtest each.
func registries(t *testing.T) []*testenv.Registry {
	p := platform.Get(t)
	return []*testenv.Registry{p.Registry, p.ReferrersRegistry}
}

func regName(r *testenv.Registry) string { return fmt.Sprintf("referrers=%v", r.Referrers) }

// fastBackoff keeps retrying tests quick.
var fastBackoff = registry.Backoff{Tries: 6, Initial: 5 * time.Millisecond, Max: 50 * time.Millisecond}

func randomImage(t testing.TB, size, layers int64) v1.Image {
	t.Helper()
	img, err := random.Image(size, layers)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func digestOf(t testing.TB, img v1.Image) v1.Hash {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// blobBytes is the sum of the sizes of img's layers and config.
func blobBytes(t testing.TB, img v1.Image) int64 {
	t.Helper()
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	n := m.Config.Size
	for _, l := range m.Layers {
		n += l.Size
	}
	return n
}

func TestPushAndPull(t *testing.T) {
	for _, reg := range registries(t) {
		t.Run(regName(reg), func(t *testing.T) {
			c := registry.New(registry.Options{})
			repo := reg.Host + "/push/app"
			img := randomImage(t, 64<<10, 3)

			pushed, err := c.Push(t.Context(), repo, img)
			if err != nil {
				t.Fatal(err)
			}
			if want := digestOf(t, img).String(); pushed.Ref.DigestStr() != want || pushed.Ref.Context().Name() != repo {
				t.Fatalf("pushed %s, want %s@%s", pushed.Ref, repo, want)
			}
			if len(pushed.Layers) != 3 {
				t.Fatalf("%d layer results, want 3", len(pushed.Layers))
			}
			for _, l := range append(pushed.Layers, pushed.Config) {
				if l.Outcome != registry.Uploaded || l.Sent != l.Size {
					t.Errorf("blob %s: %s with %d of %d bytes sent, want uploaded in full", l.Digest, l.Outcome, l.Sent, l.Size)
				}
			}
			if want := blobBytes(t, img); pushed.BytesUploaded != want {
				t.Errorf("BytesUploaded = %d, want %d", pushed.BytesUploaded, want)
			}

			pulled, ref, err := c.Image(t.Context(), pushed.Ref.String())
			if err != nil {
				t.Fatal(err)
			}
			if ref != pushed.Ref {
				t.Errorf("Image resolved %s, want %s", ref, pushed.Ref)
			}
			verifyImage(t, reg.Host, pushed.Ref)
			if digestOf(t, pulled) != digestOf(t, img) {
				t.Errorf("pulled digest differs")
			}

			again, err := c.Push(t.Context(), repo, img)
			if err != nil {
				t.Fatal(err)
			}
			if again.BytesUploaded != 0 {
				t.Errorf("second push uploaded %d bytes, want 0", again.BytesUploaded)
			}
			for _, l := range append(again.Layers, again.Config) {
				if l.Outcome != registry.Existed {
					t.Errorf("second push: blob %s %s, want existed", l.Digest, l.Outcome)
				}
			}

			// An image sharing two layers with the first: those are found by
			// their own existence check, the new one is uploaded.
			extra, err := random.Layer(32<<10, "")
			if err != nil {
				t.Fatal(err)
			}
			grown, err := mutate.AppendLayers(img, extra)
			if err != nil {
				t.Fatal(err)
			}
			third, err := c.Push(t.Context(), repo, grown)
			if err != nil {
				t.Fatal(err)
			}
			for i, l := range third.Layers {
				want := registry.Existed
				if i == 3 {
					want = registry.Uploaded
				}
				if l.Outcome != want {
					t.Errorf("grown image layer %d: %s, want %s", i, l.Outcome, want)
				}
			}
			extraSize, _ := extra.Size()
			if want := extraSize + third.Config.Size; third.BytesUploaded != want {
				t.Errorf("grown image uploaded %d bytes, want %d (new layer and config)", third.BytesUploaded, want)
			}
		})
	}
}

func TestPushLeavesNoTag(t *testing.T) {
	for _, reg := range registries(t) {
		t.Run(regName(reg), func(t *testing.T) {
			repo := reg.Host + "/push/untagged"
			if _, err := registry.New(registry.Options{}).Push(t.Context(), repo, randomImage(t, 1024, 1)); err != nil {
				t.Fatal(err)
			}
			r, _ := name.NewRepository(repo)
			tags, err := remote.List(r, remote.WithContext(t.Context()))
			if err == nil && len(tags) != 0 {
				t.Fatalf("push by digest left tags %v", tags)
			}
		})
	}
}

func TestPushMountsLayersFromAnotherRepository(t *testing.T) {
	for _, reg := range registries(t) {
		t.Run(regName(reg), func(t *testing.T) {
			c := registry.New(registry.Options{})
			base, err := c.Push(t.Context(), reg.Host+"/mount/base", randomImage(t, 32<<10, 2))
			if err != nil {
				t.Fatal(err)
			}
			baseImg, _, err := c.Image(t.Context(), base.Ref.String())
			if err != nil {
				t.Fatal(err)
			}
			extra, err := random.Layer(16<<10, "")
			if err != nil {
				t.Fatal(err)
			}
			img, err := mutate.AppendLayers(baseImg, extra)
			if err != nil {
				t.Fatal(err)
			}
			pushed, err := c.Push(t.Context(), reg.Host+"/mount/app", img)
			if err != nil {
				t.Fatal(err)
			}
			// docker-registry links the blobs; go-containerregistry's registry
			// keeps blobs for all repositories in one place, so they exist.
			want := registry.Mounted
			if reg.Referrers {
				want = registry.Existed
			}
			for i, l := range pushed.Layers {
				w := want
				if i == 2 {
					w = registry.Uploaded
				}
				if l.Outcome != w {
					t.Errorf("layer %d (%s): %s, want %s", i, l.Digest, l.Outcome, w)
				}
			}
			extraSize, _ := extra.Size()
			if wantBytes := extraSize + pushed.Config.Size; pushed.BytesUploaded != wantBytes {
				t.Errorf("uploaded %d bytes, want %d: only the new layer and the config", pushed.BytesUploaded, wantBytes)
			}
			verifyImage(t, reg.Host, pushed.Ref)
		})
	}
}

// verifyImage fetches ref's manifest and blobs straight from the registry
// at host and checks each against its digest.
func verifyImage(t *testing.T, host string, ref name.Digest) {
	t.Helper()
	repo := ref.Context().RepositoryStr()
	manifest := getVerified(t, fmt.Sprintf("http://%s/v2/%s/manifests/%s", host, repo, ref.DigestStr()), ref.DigestStr())
	m, err := v1.ParseManifest(bytes.NewReader(manifest))
	if err != nil {
		t.Fatalf("manifest of %s: %v", ref, err)
	}
	for _, d := range append([]v1.Descriptor{m.Config}, m.Layers...) {
		blob := getVerified(t, fmt.Sprintf("http://%s/v2/%s/blobs/%s", host, repo, d.Digest), d.Digest.String())
		if int64(len(blob)) != d.Size {
			t.Errorf("blob %s: %d bytes, manifest says %d", d.Digest, len(blob), d.Size)
		}
	}
}

func getVerified(t *testing.T, url, digest string) []byte {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v", url, resp.Status, err)
	}
	sum := sha256.Sum256(body)
	if got := "sha256:" + hex.EncodeToString(sum[:]); got != digest {
		t.Fatalf("GET %s: content hashes to %s, want %s", url, got, digest)
	}
	return body
}
