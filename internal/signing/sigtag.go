package signing

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/stepper-cd/stepper/internal/retry"
	"io"
	"maps"
	"net/http"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	ssldsse "github.com/secure-systems-lab/go-securesystemslib/dsse"

	"github.com/stepper-cd/stepper/internal/exit"
)

// Layer annotations of cosign's tag format.
const (
	signatureAnnotation     = "dev.cosignproject.cosign/signature"
	predicateTypeAnnotation = "predicateType"
)

// maxLayers is cosign's limit on entries in one .sig or .att image.
const maxLayers = 1000

// tagFor is cosign's tag for an image's signatures or attestations:
// sha256-<hex>.sig or sha256-<hex>.att in the image's repository.
func tagFor(img name.Digest, h v1.Hash, suffix string) name.Tag {
	return img.Context().Tag(fmt.Sprintf("%s-%s.%s", h.Algorithm, h.Hex, suffix))
}

// tagEntry is one layer of a .sig or .att image.
type tagEntry struct {
	payload     []byte
	mediaType   types.MediaType
	annotations map[string]string
	// sameClaim reports whether an existing layer holds the same claim,
	// signed by the same key, as this entry; blob fetches its content.
	sameClaim func(e *tagEntry, desc v1.Descriptor, blob func() ([]byte, error)) bool

	digest v1.Hash
	// seen caches sameClaim's verdicts across attempts.
	seen map[v1.Hash]bool
}

// writeTagEntry adds e to the image at tag unless an equal claim is there,
// and confirms it stayed (see confirmedWrite). It returns the tag.
func writeTagEntry(ctx context.Context, tag name.Tag, e *tagEntry, ropts []remote.Option) (string, error) {
	layer := static.NewLayer(e.payload, e.mediaType)
	h, err := layer.Digest()
	if err != nil {
		return "", err
	}
	e.digest, e.seen = h, map[v1.Hash]bool{}

	var (
		current v1.Image
		// base is the digest of the manifest current came from; zero when
		// the tag did not exist.
		base v1.Hash
		// seen tells a real "no such tag" from a glitch once the tag existed.
		seen bool
		// window is how long the last write was exposed to other writers.
		window time.Duration
	)
	cw := confirmedWrite{
		what:   tag.String(),
		window: &window,
		present: func() (bool, error) {
			img, m, h, err := readTagImage(ctx, tag, seen, ropts)
			if err != nil {
				return false, registryError(fmt.Sprintf("read %s", tag), err)
			}
			current, base, seen = img, h, seen || h != (v1.Hash{})
			return e.in(img, m), nil
		},
		write: func() error {
			m, err := current.Manifest()
			if err != nil {
				return registryError(fmt.Sprintf("read %s", tag), err)
			}
			if len(m.Layers) >= maxLayers {
				return exit.Failedf("write %s: it already holds %d entries, cosign's limit; remove stale ones", tag, len(m.Layers))
			}
			next, err := mutate.Append(current, mutate.Addendum{Layer: layer, Annotations: e.annotations})
			if err != nil {
				return fmt.Errorf("write %s: %w", tag, err)
			}
			// Blobs first, so a refused or interrupted write never leaves a
			// manifest that names a missing blob. The base's layers are in
			// the repository already.
			config, err := partial.ConfigLayer(next)
			if err != nil {
				return fmt.Errorf("write %s: %w", tag, err)
			}
			for _, l := range []v1.Layer{layer, config} {
				if err := remote.WriteLayer(tag.Context(), l, ropts...); err != nil {
					return registryError(fmt.Sprintf("write %s", tag), err)
				}
			}
			// Uploads can be slow and are retried; check the base is still
			// current right before the PUT, which shrinks the window in
			// which another writer's change is lost to two quick requests.
			checked := time.Now()
			now, err := tagDigest(tag, ropts)
			if err != nil {
				return registryError(fmt.Sprintf("read %s", tag), err)
			}
			if now != base {
				return errConflict
			}
			if err := remote.Put(tag, next, ropts...); err != nil {
				return registryError(fmt.Sprintf("write %s", tag), err)
			}
			window = time.Since(checked)
			return nil
		},
	}
	if err := cw.run(ctx); err != nil {
		return "", err
	}
	return tag.String(), nil
}

// readTagImage returns the image at tag and its manifest digest, or an
// empty signature image and a zero digest when the tag does not exist.
// docker-registry rewrites a tag's link file in place, so a reader can
// glimpse it missing: once the tag was seen, a 404 is asked again.
func readTagImage(ctx context.Context, tag name.Tag, seen bool, ropts []remote.Option) (v1.Image, *v1.Manifest, v1.Hash, error) {
	for try := 0; ; try++ {
		img, err := remote.Image(tag, ropts...)
		if err == nil {
			m, err := img.Manifest()
			if err != nil {
				return nil, nil, v1.Hash{}, err
			}
			h, err := img.Digest()
			if err != nil {
				return nil, nil, v1.Hash{}, err
			}
			return img, m, h, nil
		}
		if !isNotFound(err) {
			return nil, nil, v1.Hash{}, err
		}
		if !seen || try >= 3 {
			img := emptySignatures()
			m, err := img.Manifest()
			return img, m, v1.Hash{}, err
		}
		if err := retry.Sleep(ctx, 100*time.Millisecond); err != nil {
			return nil, nil, v1.Hash{}, err
		}
	}
}

// tagDigest is the digest the tag points to now, zero if it does not exist.
func tagDigest(tag name.Tag, ropts []remote.Option) (v1.Hash, error) {
	desc, err := remote.Head(tag, ropts...)
	if isNotFound(err) {
		return v1.Hash{}, nil
	}
	if err != nil {
		return v1.Hash{}, err
	}
	return desc.Digest, nil
}

func isNotFound(err error) bool {
	var terr *transport.Error
	return errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound
}

// emptySignatures is the base of a new .sig or .att image, as cosign makes
// it: an OCI manifest with an OCI config and no layers.
func emptySignatures() v1.Image {
	return mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
}

// in reports whether img, whose manifest is m, holds e or an equal claim.
func (e *tagEntry) in(img v1.Image, m *v1.Manifest) bool {
	for _, desc := range m.Layers {
		if desc.Digest == e.digest && maps.Equal(desc.Annotations, e.annotations) {
			return true
		}
		same, ok := e.seen[desc.Digest]
		if !ok {
			same = e.sameClaim(e, desc, func() ([]byte, error) { return layerBytes(img, desc.Digest) })
			e.seen[desc.Digest] = same
		}
		if same {
			return true
		}
	}
	return false
}

func layerBytes(img v1.Image, h v1.Hash) ([]byte, error) {
	l, err := img.LayerByDigest(h)
	if err != nil {
		return nil, err
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(io.LimitReader(rc, 4<<20))
}

// sameSimpleSigning: the same payload (so the same digest) with the same
// annotations, and a signature that verifies with this key. ECDSA
// signatures differ on every signing, so comparing them would not do.
func (k *Key) sameSimpleSigning(e *tagEntry, desc v1.Descriptor, _ func() ([]byte, error)) bool {
	if desc.Digest != e.digest || !equalExcept(desc.Annotations, e.annotations, signatureAnnotation) {
		return false
	}
	sig, err := base64.StdEncoding.DecodeString(desc.Annotations[signatureAnnotation])
	return err == nil && k.verifier.VerifySignature(bytes.NewReader(sig), bytes.NewReader(e.payload)) == nil
}

// sameEnvelope: a DSSE envelope with the same payload, one of whose
// signatures verifies with this key. Only layers of the same predicate type
// and about the same size are fetched.
func (k *Key) sameEnvelope(e *tagEntry, desc v1.Descriptor, blob func() ([]byte, error)) bool {
	if desc.MediaType != e.mediaType || !maps.Equal(desc.Annotations, e.annotations) {
		return false
	}
	if d := desc.Size - int64(len(e.payload)); d < -64 || d > 64 {
		return false
	}
	raw, err := blob()
	if err != nil {
		return false
	}
	var ours, theirs ssldsse.Envelope
	if json.Unmarshal(e.payload, &ours) != nil || json.Unmarshal(raw, &theirs) != nil {
		return false
	}
	if theirs.PayloadType != ours.PayloadType || theirs.Payload != ours.Payload {
		return false
	}
	return k.verifiesEnvelope(theirs)
}

// verifiesEnvelope reports whether one of env's signatures verifies with
// this key.
func (k *Key) verifiesEnvelope(env ssldsse.Envelope) bool {
	return envelopeVerifies(env, func(sig, msg []byte) bool {
		return k.verifier.VerifySignature(bytes.NewReader(sig), bytes.NewReader(msg)) == nil
	})
}

// envelopeVerifies reports whether one of env's signatures over its
// pre-authentication encoding passes verifies.
func envelopeVerifies(env ssldsse.Envelope, verifies func(sig, msg []byte) bool) bool {
	body, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		return false
	}
	pae := ssldsse.PAE(env.PayloadType, body)
	for _, s := range env.Signatures {
		sig, err := base64.StdEncoding.DecodeString(s.Sig)
		if err == nil && verifies(sig, pae) {
			return true
		}
	}
	return false
}

func equalExcept(a, b map[string]string, skip string) bool {
	count := func(m map[string]string) int {
		n := len(m)
		if _, ok := m[skip]; ok {
			n--
		}
		return n
	}
	if count(a) != count(b) {
		return false
	}
	for k, v := range b {
		if k == skip {
			continue
		}
		if av, ok := a[k]; !ok || av != v {
			return false
		}
	}
	return true
}
