package build

import (
	"bytes"
	"compress/gzip"
	"io"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/testenv"
)

// appImage is an image another tool built on the test base: the base's
// layers re-compressed, as build tools store them, so their blobs differ
// from the registry's while their diffIDs match, and one layer more.
func appImage(t *testing.T) v1.Image {
	t.Helper()
	base, err := testenv.BaseImage()
	if err != nil {
		t.Fatal(err)
	}
	baseLayers, err := base.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var layers []v1.Layer
	for _, l := range baseLayers {
		recompressed, err := tarball.LayerFromOpener(recompress(t, l), tarball.WithMediaType(types.OCILayer))
		if err != nil {
			t.Fatal(err)
		}
		if d1, _ := l.Digest(); func() bool { d2, _ := recompressed.Digest(); return d1 == d2 }() {
			t.Fatal("re-compressing did not change the layer's digest")
		}
		layers = append(layers, recompressed)
	}
	app, err := random.Layer(512, types.OCILayer)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := base.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), append(layers, app)...)
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.DeepCopy()
	cfg.RootFS.DiffIDs = nil
	for _, l := range append(layers, app) {
		d, _ := l.DiffID()
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, d)
	}
	cfg.History = nil
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		t.Fatal(err)
	}
	return img
}

// recompress gzips l's content anew, with a header comment its original
// lacks.
func recompress(t *testing.T, l v1.Layer) tarball.Opener {
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Comment = "re-compressed by a build tool"
	if _, err := io.Copy(zw, rc); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
}

func TestExistingImagesFindTheirBase(t *testing.T) {
	f := newFixture(t)
	img := appImage(t)

	layoutDir := filepath.Join(t.TempDir(), "layout")
	if _, err := layout.Write(layoutDir, empty.Index); err != nil {
		t.Fatal(err)
	}
	p, _ := layout.FromPath(layoutDir)
	if err := p.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	tarPath := filepath.Join(t.TempDir(), "image.tar")
	tag, _ := name.NewTag("team/api:1")
	if err := tarball.WriteToFile(tarPath, tag, img); err != nil {
		t.Fatal(err)
	}

	for _, tt := range []struct{ builder, source string }{{OCILayout, layoutDir}, {Tarball, tarPath}} {
		t.Run(tt.builder, func(t *testing.T) {
			res, err := f.builders(t).Build(t.Context(), Request{
				Builder: tt.builder,
				Source:  tt.source,
				// base/static is approved but not in the registry: the
				// other entry still decides.
				Approved: []string{f.host + "/base/static", f.baseRepo},
				Metadata: meta,
				Created:  created,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer res.Close()
			if res.BaseName != f.baseRepo+":latest" {
				t.Errorf("BaseName = %s, want %s:latest", res.BaseName, f.baseRepo)
			}
			checkResult(t, f, res)
			if res.NonRoot {
				t.Error("NonRoot = true for an image without a user")
			}
			if res.Parameters["source"] != tt.source {
				t.Errorf("Parameters = %v", res.Parameters)
			}
			pushAndPull(t, f, res.Image, "team/imported")
		})
	}
}

func TestExistingImageOffTheApprovedBases(t *testing.T) {
	f := newFixture(t)
	img, err := random.Image(256, 2)
	if err != nil {
		t.Fatal(err)
	}
	tarPath := filepath.Join(t.TempDir(), "image.tar")
	tag, _ := name.NewTag("team/api:1")
	if err := tarball.WriteToFile(tarPath, tag, img); err != nil {
		t.Fatal(err)
	}
	_, err = f.builders(t).Build(t.Context(), Request{Builder: Tarball, Source: tarPath, Approved: []string{f.baseRepo}})
	wantClass(t, err, exit.Failed, tarPath, "not built on an approved base image", f.baseRepo)

	_, err = f.builders(t).Build(t.Context(), Request{Builder: OCILayout, Source: tarPath, Approved: []string{f.baseRepo}})
	wantClass(t, err, exit.Usage, "no OCI layout directory")
}
