package signing

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	ctypes "github.com/sigstore/cosign/v3/pkg/types"
	"github.com/sigstore/sigstore/pkg/signature/dsse"
	"github.com/sigstore/sigstore/pkg/signature/payload"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/logging"
)

// Format is how a signature or attestation is stored in the registry.
type Format string

// The formats. FormatSigTag is the default because Harbor's UI shows it as
// signed and every registry stores it; FormatBundle needs no read-modify-write
// on registries with the OCI referrers API.
const (
	// FormatSigTag is cosign's tag scheme: signatures in an image tagged
	// sha256-<hex>.sig, attestations in sha256-<hex>.att, one layer each.
	FormatSigTag Format = "sig-tag"
	// FormatBundle is an OCI 1.1 referrer whose one layer is a Sigstore
	// bundle v0.3, what cosign v3 writes by default (--new-bundle-format).
	FormatBundle Format = "bundle"
)

// Options say where and how Sign and Attest write. The zero value writes
// the sig-tag format with anonymous registry access.
type Options struct {
	// Format is FormatSigTag if empty.
	Format Format
	// RemoteOptions reach the registry (authentication, transport). The
	// context passed to Sign or Attest is added last.
	RemoteOptions []remote.Option
	// Annotations are signed claims in a signature: the "optional" section of
	// the simple-signing payload, or the subject annotations of a bundle
	// (what cosign verify -a checks). On an attestation they annotate the
	// layer or referrer manifest, unsigned.
	Annotations map[string]string
}

func (o Options) format() (Format, error) {
	switch o.Format {
	case "", FormatSigTag:
		return FormatSigTag, nil
	case FormatBundle:
		return FormatBundle, nil
	}
	return "", exit.Usagef("signature format %q: use %q or %q", o.Format, FormatSigTag, FormatBundle)
}

func (o Options) remote(ctx context.Context) []remote.Option {
	return append(append([]remote.Option(nil), o.RemoteOptions...), remote.WithContext(ctx))
}

// Sign signs img, by digest only, with key and stores the signature next to
// it. It returns where the signature lives: repo:sha256-<hex>.sig for the
// sig-tag format, repo@<referrer manifest digest> for the bundle format.
// Signing what is already signed by the same key with the same claims
// changes nothing. No transparency log, Fulcio or TUF is contacted.
func Sign(ctx context.Context, key *Key, img name.Digest, o Options) (string, error) {
	format, err := o.format()
	if err != nil {
		return "", err
	}
	ropts := o.remote(ctx)
	subject, err := headImage(img, ropts)
	if err != nil {
		return "", err
	}
	log := logging.From(ctx).With().Str(logging.Image, img.Context().Name()).Str(logging.Digest, img.DigestStr()).Str("key", key.id).Logger()
	ctx = log.WithContext(ctx)

	if format == FormatBundle {
		stmt := Statement{
			Type:          StatementType,
			Subject:       []Subject{{Digest: map[string]string{subject.Digest.Algorithm: subject.Digest.Hex}, Annotations: o.Annotations}},
			PredicateType: ctypes.CosignSignPredicateType,
			Predicate:     json.RawMessage("{}"),
		}
		return writeBundle(ctx, key, img, subject, stmt, nil, ropts)
	}

	annotations := make(map[string]any, len(o.Annotations))
	for k, v := range o.Annotations {
		annotations[k] = v
	}
	pl, err := (&payload.Cosign{Image: img, Annotations: annotations}).MarshalJSON()
	if err != nil {
		return "", fmt.Errorf("sign %s: payload: %w", img, err)
	}
	sig, err := key.sv.SignMessage(bytes.NewReader(pl))
	if err != nil {
		return "", exit.Infraf("sign %s with %s: %w", img, key, err)
	}
	e := &tagEntry{
		payload:     pl,
		mediaType:   ctypes.SimpleSigningMediaType,
		annotations: map[string]string{signatureAnnotation: base64.StdEncoding.EncodeToString(sig)},
		sameClaim:   key.sameSimpleSigning,
	}
	return writeTagEntry(ctx, tagFor(img, subject.Digest, "sig"), e, ropts)
}

// Attest signs the in-toto statement st about img as a DSSE envelope and
// stores it next to img: in the sha256-<hex>.att image for the sig-tag
// format, as a bundle referrer otherwise. st must name img's digest among
// its subjects.
func Attest(ctx context.Context, key *Key, img name.Digest, st Statement, o Options) (string, error) {
	format, err := o.format()
	if err != nil {
		return "", err
	}
	if st.Type == "" {
		st.Type = StatementType
	}
	if st.PredicateType == "" || len(st.Predicate) == 0 {
		return "", exit.Usagef("attest %s: the statement has no predicate type or predicate", img)
	}
	ropts := o.remote(ctx)
	subject, err := headImage(img, ropts)
	if err != nil {
		return "", err
	}
	if !st.covers(subject.Digest) {
		return "", exit.Usagef("attest %s: the statement is about other subjects, not %s", img, subject.Digest)
	}
	log := logging.From(ctx).With().Str(logging.Image, img.Context().Name()).Str(logging.Digest, img.DigestStr()).Str("key", key.id).Str("predicate_type", st.PredicateType).Logger()
	ctx = log.WithContext(ctx)

	if format == FormatBundle {
		return writeBundle(ctx, key, img, subject, st, o.Annotations, ropts)
	}
	env, err := key.signStatement(st)
	if err != nil {
		return "", fmt.Errorf("attest %s: %w", img, err)
	}
	ann := maps.Clone(o.Annotations)
	if ann == nil {
		ann = map[string]string{}
	}
	// What cosign attest writes: the signature is inside the envelope, and
	// the predicate type lets verifiers skip what they do not look for.
	ann[signatureAnnotation] = ""
	ann[predicateTypeAnnotation] = st.PredicateType
	e := &tagEntry{
		payload:     env,
		mediaType:   ctypes.DssePayloadType,
		annotations: ann,
		sameClaim:   key.sameEnvelope,
	}
	return writeTagEntry(ctx, tagFor(img, subject.Digest, "att"), e, ropts)
}

// signStatement returns st signed by the key as a DSSE envelope (JSON).
func (k *Key) signStatement(st Statement) ([]byte, error) {
	raw, err := json.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("statement: %w", err)
	}
	env, err := dsse.WrapSigner(k.sv, ctypes.IntotoPayloadType).SignMessage(bytes.NewReader(raw))
	if err != nil {
		return nil, exit.Infraf("sign statement with %s: %w", k, err)
	}
	return env, nil
}

// headImage returns the descriptor of the image to sign; it must exist.
func headImage(img name.Digest, ropts []remote.Option) (*v1.Descriptor, error) {
	desc, err := remote.Head(img, ropts...)
	if err != nil {
		if isNotFound(err) {
			return nil, exit.Usagef("sign %s: no such image in the registry (push it first)", img)
		}
		return nil, registryError(fmt.Sprintf("sign %s: look up the image", img), err)
	}
	if desc.Digest.String() != img.DigestStr() {
		return nil, exit.Infraf("sign %s: the registry answered for %s", img, desc.Digest)
	}
	return desc, nil
}

// registryError classifies a registry failure of a write; see
// accessError.
func registryError(what string, err error) error { return accessError(what, "push to", err) }

// accessError classifies a registry failure: refused credentials are a
// configuration problem the user fixes, everything else is the registry's.
// access says what the credentials must allow ("push to", "pull from").
func accessError(what, access string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", what, err)
	}
	var terr *transport.Error
	if errors.As(err, &terr) && (terr.StatusCode == http.StatusUnauthorized || terr.StatusCode == http.StatusForbidden) {
		return exit.Usagef("%s: the registry refused the credentials (HTTP %d): check that they may %s this repository: %w", what, terr.StatusCode, access, err)
	}
	return exit.Mark(exit.Infra, fmt.Errorf("%s: %w", what, err))
}
