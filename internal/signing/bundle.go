package signing

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	ssldsse "github.com/secure-systems-lab/go-securesystemslib/dsse"
)

// The bundle format, as cosign v3 writes it (pkg/oci/remote
// WriteAttestationNewBundleFormat).
const (
	bundleMediaType            = "application/vnd.dev.sigstore.bundle.v0.3+json"
	emptyConfigMediaType       = "application/vnd.oci.empty.v1+json"
	bundleContentAnnotation    = "dev.sigstore.bundle.content"
	bundlePredicateAnnotation  = "dev.sigstore.bundle.predicateType"
	createdAnnotation          = "org.opencontainers.image.created"
	maxReferrersCheckedForDupe = 64
)

// sigstoreBundle is the protobuf-JSON form of a Sigstore bundle v0.3 that
// holds a DSSE envelope verified by a public key. With no transparency log
// entry and no timestamp, verifiers must be told to skip both (cosign:
// --insecure-ignore-tlog).
type sigstoreBundle struct {
	MediaType            string           `json:"mediaType"`
	VerificationMaterial bundleMaterial   `json:"verificationMaterial"`
	DSSEEnvelope         ssldsse.Envelope `json:"dsseEnvelope"`
}

type bundleMaterial struct {
	PublicKey struct {
		// Hint is cosign's: base64 of the SHA-256 of the DER public key.
		Hint string `json:"hint"`
	} `json:"publicKey"`
}

func (k *Key) bundle(envelope []byte) ([]byte, error) {
	var b sigstoreBundle
	if err := json.Unmarshal(envelope, &b.DSSEEnvelope); err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	der, err := x509.MarshalPKIXPublicKey(k.pub)
	if err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	sum := sha256.Sum256(der)
	b.MediaType = bundleMediaType
	b.VerificationMaterial.PublicKey.Hint = base64.StdEncoding.EncodeToString(sum[:])
	return json.Marshal(b)
}

// writeBundle signs st and stores it as a referrer of img: an OCI 1.1
// manifest with subject img whose one layer is the bundle. Registries with
// the referrers API index it themselves; on others go-containerregistry
// updates the sha256-<hex> fallback index with a blind read-modify-write,
// so the listing is confirmed like the tag format's entries.
func writeBundle(ctx context.Context, key *Key, img name.Digest, subject *v1.Descriptor, st Statement, extra map[string]string, ropts []remote.Option) (string, error) {
	env, err := key.signStatement(st)
	if err != nil {
		return "", fmt.Errorf("sign %s: %w", img, err)
	}
	repo := img.Context()
	if ref, ok, err := existingBundle(key, img, env, st.PredicateType, ropts); err != nil {
		return "", err
	} else if ok {
		return ref.String(), nil
	}

	raw, err := key.bundle(env)
	if err != nil {
		return "", err
	}
	layer := static.NewLayer(raw, bundleMediaType)
	config := static.NewLayer([]byte("{}"), emptyConfigMediaType)
	ann := maps.Clone(extra)
	if ann == nil {
		ann = map[string]string{}
	}
	ann[createdAnnotation] = time.Now().UTC().Format(time.RFC3339)
	ann[bundleContentAnnotation] = "dsse-envelope"
	ann[bundlePredicateAnnotation] = st.PredicateType
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  bundleMediaType,
		Config:        descriptorOf(config),
		Layers:        []v1.Descriptor{descriptorOf(layer)},
		Subject:       &v1.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size},
		Annotations:   ann,
	}
	manifest, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	h, _, err := v1.SHA256(bytes.NewReader(manifest))
	if err != nil {
		return "", err
	}
	ref := repo.Digest(h.String())

	cw := confirmedWrite{
		what: fmt.Sprintf("referrer %s of %s", h, img),
		present: func() (bool, error) {
			listed, err := listsReferrer(img, h, ropts)
			if err != nil {
				return false, registryError(fmt.Sprintf("list referrers of %s", img), err)
			}
			return listed, nil
		},
		write: func() error {
			// Blobs before the manifest: a refused or interrupted write never
			// leaves a manifest naming a missing blob.
			for _, l := range []v1.Layer{config, layer} {
				if err := remote.WriteLayer(repo, l, ropts...); err != nil {
					return registryError(fmt.Sprintf("write bundle for %s", img), err)
				}
			}
			if err := remote.Put(ref, rawManifest(manifest), ropts...); err != nil {
				return registryError(fmt.Sprintf("write bundle for %s", img), err)
			}
			return nil
		},
	}
	if err := cw.run(ctx); err != nil {
		return "", err
	}
	return ref.String(), nil
}

// existingBundle finds a referrer of img holding the same statement signed
// by key, so signing twice adds nothing.
func existingBundle(key *Key, img name.Digest, envelope []byte, predicateType string, ropts []remote.Option) (name.Digest, bool, error) {
	var ours ssldsse.Envelope
	if err := json.Unmarshal(envelope, &ours); err != nil {
		return name.Digest{}, false, err
	}
	listed, err := referrers(img, ropts)
	if err != nil {
		return name.Digest{}, false, registryError(fmt.Sprintf("list referrers of %s", img), err)
	}
	checked := 0
	for _, d := range listed {
		// Registries fill artifactType and annotations of the listing
		// differently (go-containerregistry's from the config media type);
		// skip only what is clearly something else. Comparing payloads
		// below is what decides.
		if pt, ok := d.Annotations[bundlePredicateAnnotation]; ok && pt != predicateType {
			continue
		}
		if d.ArtifactType != "" && d.ArtifactType != bundleMediaType && d.ArtifactType != emptyConfigMediaType {
			continue
		}
		if checked++; checked > maxReferrersCheckedForDupe {
			break
		}
		ref := img.Context().Digest(d.Digest.String())
		theirs, err := fetchBundle(ref, ropts)
		if err != nil {
			continue // not ours to judge; a broken referrer is no duplicate
		}
		if theirs.DSSEEnvelope.PayloadType == ours.PayloadType && theirs.DSSEEnvelope.Payload == ours.Payload && key.verifiesEnvelope(theirs.DSSEEnvelope) {
			return ref, true, nil
		}
	}
	return name.Digest{}, false, nil
}

func fetchBundle(ref name.Digest, ropts []remote.Option) (*sigstoreBundle, error) {
	img, err := remote.Image(ref, ropts...)
	if err != nil {
		return nil, err
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	if len(m.Layers) != 1 || m.Layers[0].MediaType != bundleMediaType {
		return nil, fmt.Errorf("%s is not a bundle", ref)
	}
	raw, err := layerBytes(img, m.Layers[0].Digest)
	if err != nil {
		return nil, err
	}
	var b sigstoreBundle
	if err := json.Unmarshal(raw, &b); err != nil {
		return nil, err
	}
	return &b, nil
}

func listsReferrer(img name.Digest, h v1.Hash, ropts []remote.Option) (bool, error) {
	listed, err := referrers(img, ropts)
	if err != nil {
		return false, err
	}
	for _, d := range listed {
		if d.Digest == h {
			return true, nil
		}
	}
	return false, nil
}

// referrers lists img's referrers: from the referrers API, or from the
// sha256-<hex> fallback index on registries without it.
func referrers(img name.Digest, ropts []remote.Option) ([]v1.Descriptor, error) {
	idx, err := remote.Referrers(img, ropts...)
	if err != nil {
		return nil, err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	return im.Manifests, nil
}

func descriptorOf(l v1.Layer) v1.Descriptor {
	// static layers compute these from bytes in memory and cannot fail.
	mt, _ := l.MediaType()
	h, _ := l.Digest()
	size, _ := l.Size()
	return v1.Descriptor{MediaType: mt, Digest: h, Size: size}
}

// rawManifest is a manifest to PUT exactly as serialized.
type rawManifest []byte

func (r rawManifest) RawManifest() ([]byte, error)        { return r, nil }
func (r rawManifest) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
