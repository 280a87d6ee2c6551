package build

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
)

// The OCI annotations and labels every built image carries.
const (
	AnnotationBaseName   = "org.opencontainers.image.base.name"
	AnnotationBaseDigest = "org.opencontainers.image.base.digest"
	AnnotationSource     = "org.opencontainers.image.source"
	AnnotationRevision   = "org.opencontainers.image.revision"
	AnnotationCreated    = "org.opencontainers.image.created"
)

// finish proves img sits on base, hands it the base's own layers and stamps
// the metadata, the same for every builder.
func finish(img v1.Image, base *baseImage, r *Request) (v1.Image, error) {
	if err := proveBase(img, base); err != nil {
		return nil, err
	}
	img, err := withBaseLayers(img, base.image)
	if err != nil {
		return nil, fmt.Errorf("use the base image's layers: %w", err)
	}
	return stamp(img, base, r)
}

// metadata is the annotations, also set as labels, for an image on base.
func metadata(base *baseImage, r *Request) map[string]string {
	m := map[string]string{
		AnnotationBaseName:   base.Name,
		AnnotationBaseDigest: base.Digest.DigestStr(),
		AnnotationCreated:    r.Created.Format(time.RFC3339),
	}
	if r.Metadata.Source != "" {
		m[AnnotationSource] = r.Metadata.Source
	}
	if r.Metadata.Revision != "" {
		m[AnnotationRevision] = r.Metadata.Revision
	}
	return m
}

// stamp sets the metadata as config labels and manifest annotations.
func stamp(img v1.Image, base *baseImage, r *Request) (v1.Image, error) {
	meta := metadata(base, r)
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("read image config: %w", err)
	}
	c := cfg.Config
	c.Labels = maps.Clone(c.Labels)
	if c.Labels == nil {
		c.Labels = map[string]string{}
	}
	maps.Copy(c.Labels, meta)
	img, err = mutate.Config(img, c)
	if err != nil {
		return nil, fmt.Errorf("set labels: %w", err)
	}
	return mutate.Annotations(img, meta).(v1.Image), nil
}

// withBaseLayers replaces each layer of img that has the same diffID as the
// base's layer at the same place with the base's layer itself. A builder
// re-compresses the base's layers into blobs with other digests; the base's
// originals are already in the registry, so a push mounts them rather than
// uploading copies. The config, and so the diffIDs, stay the same.
func withBaseLayers(img, base v1.Image) (v1.Image, error) {
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	baseLayers, err := base.Layers()
	if err != nil {
		return nil, err
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	if len(m.Layers) != len(layers) {
		return nil, fmt.Errorf("manifest lists %d layers, image has %d", len(m.Layers), len(layers))
	}
	manifest := m.DeepCopy()
	changed := false
	for i := range min(len(layers), len(baseLayers)) {
		got, err := layers[i].DiffID()
		if err != nil {
			return nil, err
		}
		want, err := baseLayers[i].DiffID()
		if err != nil {
			return nil, err
		}
		if got != want {
			break
		}
		gotDigest, err := layers[i].Digest()
		if err != nil {
			return nil, err
		}
		desc, err := partial.Descriptor(baseLayers[i])
		if err != nil {
			return nil, err
		}
		if desc.Digest == gotDigest {
			continue
		}
		manifest.Layers[i] = v1.Descriptor{MediaType: desc.MediaType, Size: desc.Size, Digest: desc.Digest}
		layers[i] = baseLayers[i]
		changed = true
	}
	if !changed {
		return img, nil
	}
	raw, err := json.Marshal(manifest)
	if err != nil {
		return nil, err
	}
	return &relayered{Image: img, layers: layers, manifest: manifest, raw: raw}, nil
}

// relayered is an image whose layers partly come from another image.
type relayered struct {
	v1.Image
	layers   []v1.Layer
	manifest *v1.Manifest
	raw      []byte
}

func (r *relayered) Layers() ([]v1.Layer, error)     { return r.layers, nil }
func (r *relayered) Manifest() (*v1.Manifest, error) { return r.manifest.DeepCopy(), nil }
func (r *relayered) RawManifest() ([]byte, error)    { return r.raw, nil }
func (r *relayered) Size() (int64, error)            { return int64(len(r.raw)), nil }

func (r *relayered) Digest() (v1.Hash, error) {
	h, _, err := v1.SHA256(bytes.NewReader(r.raw))
	return h, err
}

func (r *relayered) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	for _, l := range r.layers {
		d, err := l.Digest()
		if err != nil {
			return nil, err
		}
		if d == h {
			return l, nil
		}
	}
	return r.Image.LayerByDigest(h)
}

func (r *relayered) LayerByDiffID(h v1.Hash) (v1.Layer, error) {
	for _, l := range r.layers {
		d, err := l.DiffID()
		if err != nil {
			return nil, err
		}
		if d == h {
			return l, nil
		}
	}
	return r.Image.LayerByDiffID(h)
}
