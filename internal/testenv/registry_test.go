package testenv_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/stepper-cd/stepper/internal/testenv"
)

func TestRegistryRoundTrip(t *testing.T) {
	p := platform.Get(t)
	for _, reg := range []*testenv.Registry{p.Registry, p.ReferrersRegistry} {
		t.Run(fmt.Sprintf("referrers=%v", reg.Referrers), func(t *testing.T) {
			img, err := random.Image(1024, 2)
			if err != nil {
				t.Fatal(err)
			}
			tag, err := name.ParseReference(reg.Host+"/testenv/app:v1", name.Insecure)
			if err != nil {
				t.Fatal(err)
			}
			if err := remote.Write(tag, img, remote.WithContext(t.Context())); err != nil {
				t.Fatalf("push %s: %v", tag, err)
			}
			want, err := img.Digest()
			if err != nil {
				t.Fatal(err)
			}
			byDigest := tag.Context().Digest(want.String())
			pulled, err := remote.Image(byDigest, remote.WithContext(t.Context()))
			if err != nil {
				t.Fatalf("pull %s: %v", byDigest, err)
			}
			if got, err := pulled.Digest(); err != nil || got != want {
				t.Fatalf("pulled digest = %v (err %v), want %v", got, err, want)
			}
			layers, err := pulled.Layers()
			if err != nil || len(layers) != 2 {
				t.Fatalf("pulled %d layers (err %v), want 2", len(layers), err)
			}
		})
	}
}

func TestReferrersAPI(t *testing.T) {
	p := platform.Get(t)
	for _, tc := range []struct {
		reg        *testenv.Registry
		wantStatus int
	}{
		{p.Registry, http.StatusNotFound},
		{p.ReferrersRegistry, http.StatusOK},
	} {
		t.Run(fmt.Sprintf("referrers=%v", tc.reg.Referrers), func(t *testing.T) {
			subject := pushOCIImage(t, tc.reg.Host+"/testenv/signed:v1")
			url := fmt.Sprintf("http://%s/v2/testenv/signed/referrers/%s", tc.reg.Host, subject.Digest)
			status, index := getReferrers(t, url)
			if status != tc.wantStatus {
				t.Fatalf("GET %s: status %d, want %d", url, status, tc.wantStatus)
			}
			if tc.wantStatus != http.StatusOK {
				return
			}
			if index.MediaType != types.OCIImageIndex || len(index.Manifests) != 0 {
				t.Fatalf("referrers of an unreferenced image = %+v, want an empty OCI index", index)
			}

			// An artifact naming the image as its subject shows up as a referrer.
			artifact := mutate.Subject(ociImage(t, empty.Image), subject).(v1.Image)
			ref, err := name.ParseReference(tc.reg.Host+"/testenv/signed:sig", name.Insecure)
			if err != nil {
				t.Fatal(err)
			}
			if err := remote.Write(ref, artifact, remote.WithContext(t.Context())); err != nil {
				t.Fatalf("push artifact: %v", err)
			}
			artifactDigest, err := artifact.Digest()
			if err != nil {
				t.Fatal(err)
			}
			_, index = getReferrers(t, url)
			if len(index.Manifests) != 1 || index.Manifests[0].Digest != artifactDigest {
				t.Fatalf("referrers = %+v, want the artifact %s", index.Manifests, artifactDigest)
			}
		})
	}
}

// ociImage gives an image OCI media types, which a subject requires.
func ociImage(t *testing.T, img v1.Image) v1.Image {
	t.Helper()
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	return mutate.ConfigMediaType(img, types.OCIConfigJSON)
}

// pushOCIImage pushes a random OCI image and returns its descriptor.
func pushOCIImage(t *testing.T, reference string) v1.Descriptor {
	t.Helper()
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	img = ociImage(t, img)
	ref, err := name.ParseReference(reference, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithContext(t.Context())); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	desc, err := remote.Head(ref, remote.WithContext(t.Context()))
	if err != nil {
		t.Fatalf("head %s: %v", ref, err)
	}
	return *desc
}

func getReferrers(t *testing.T, url string) (int, v1.IndexManifest) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", string(types.OCIImageIndex))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	var index v1.IndexManifest
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&index); err != nil {
			t.Fatalf("GET %s: decode index: %v", url, err)
		}
	}
	return resp.StatusCode, index
}

func TestRegistryAuth(t *testing.T) {
	testenv.RequireTool(t, "docker-registry")
	const user, password = "ci", "test-password-4f1d" // made for the test
	reg, err := testenv.StartRegistryAuth(t.Context(), t.TempDir(), user, password)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Stop()
	for _, tc := range []struct {
		password string
		want     int
	}{{password, http.StatusOK}, {"wrong", http.StatusUnauthorized}} {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+reg.Host+"/v2/", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth(user, tc.password)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("GET /v2/ as %s: %s, want %d", user, resp.Status, tc.want)
		}
	}
}
