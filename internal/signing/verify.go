package signing

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	ssldsse "github.com/secure-systems-lab/go-securesystemslib/dsse"
	ctypes "github.com/sigstore/cosign/v3/pkg/types"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/options"
	"github.com/sigstore/sigstore/pkg/signature/payload"

	"github.com/stepper-cd/stepper/internal/exit"
)

// Verification is the counterpart of Sign and Attest, offline like them: a
// signature counts when it verifies with an approved public key and its
// signed claims name the image's digest. Registry failures never turn into
// a verdict (RELIABILITY.md, "Fail closed"): only a 404 means "nothing
// there"; every other failure to list or read is an error of class Infra,
// never "unsigned" and never "signed".

// PublicKey is a key whose signatures verification accepts: one entry of
// signing.publicKeys. Build it with LoadPublicKey, which checks the PEM
// once; a PublicKey built by hand is checked on every Verify.
type PublicKey struct {
	// ID names the key in policies, in VerifyOptions.Revoked and in results,
	// such as "ehealth-2026".
	ID string
	// PEM is the public key as cosign writes it (cosign.pub): a "PUBLIC
	// KEY" block, or "RSA PUBLIC KEY" for PKCS#1.
	PEM []byte

	// verifiers are set by LoadPublicKey.
	verifiers []signature.Verifier
}

// VerifyOptions say what Verify and VerifyAttestation accept and how they
// reach the registry.
type VerifyOptions struct {
	// Keys are the approved keys. At least one is required.
	Keys []PublicKey
	// Revoked are ids of Keys whose signatures no longer count. A
	// signature by a revoked key is reported as such (ErrRevokedKey), so
	// keep a rotated-out key in Keys and name it here.
	Revoked []string
	// RemoteOptions reach the registry (authentication, transport). The
	// context of the call is added last. One call pings the registry and
	// authenticates once per repository; to share that across many calls,
	// put remote.Reuse of one remote.Puller here.
	RemoteOptions []remote.Option
	// Formats are where to look, in order; both if empty (sig-tag first).
	Formats []Format
	// Annotations are signed claims every accepted signature must carry:
	// the "optional" section of a simple-signing payload, or the annotations
	// of the image's subject in an in-toto statement (cosign verify -a).
	Annotations map[string]string
}

// Verified says which signature or attestation made a verification pass.
type Verified struct {
	// KeyID is the ID of the approved key it verified with.
	KeyID string
	// Format is how it is stored.
	Format Format
	// Ref is where it lives: repo:sha256-<hex>.sig or .att for the sig-tag
	// format, repo@<referrer manifest digest> for the bundle format.
	Ref string
}

// The verdicts other than a pass; errors.Is tells them apart. All are of
// class exit.Failed, and their messages say which keys were involved.
var (
	// ErrUnsigned: there is no signature (or attestation of the type asked
	// for) in any format looked at.
	ErrUnsigned = errors.New("unsigned")
	// ErrRevokedKey: signatures exist and verify, but only with revoked keys.
	ErrRevokedKey = errors.New("signed only by revoked key")
	// ErrNoApprovedKey: signatures exist, but none verifies with a key of
	// VerifyOptions.Keys.
	ErrNoApprovedKey = errors.New("signed, but by no approved key")
	// ErrClaimsMismatch: a signature verifies with an approved key, but what
	// it signed does not fit: another digest or repository, or missing
	// required annotations. A signature copied from another image ends here.
	ErrClaimsMismatch = errors.New("signed by an approved key, but with other claims")
)

// verdict is an error that errors.Is matches against one of the Err values
// above while keeping its own message.
type verdict struct {
	kind error
	msg  string
}

func (v *verdict) Error() string        { return v.msg }
func (v *verdict) Is(target error) bool { return target == v.kind }

// maxEntryBytes bounds what is read of one signature payload or bundle;
// real ones are a few kilobytes.
const maxEntryBytes = 4 << 20

// The in-toto statement versions accepted: cosign has written both.
const statementTypeV01 = "https://in-toto.io/Statement/v0.1"

// LoadPublicKey checks that pem holds a public key cosign can verify with
// (ECDSA P-256, P-384 or P-521, RSA of at least 2048 bits, Ed25519) and
// returns it under id. Anything else is a usage error that names id and
// never quotes the PEM.
func LoadPublicKey(id string, pem []byte) (PublicKey, error) {
	if strings.TrimSpace(id) == "" {
		return PublicKey{}, exit.Usagef("public key: no id")
	}
	vs, err := parsePublicKey(pem)
	if err != nil {
		return PublicKey{}, exit.Usagef("public key %s: %v", id, err)
	}
	return PublicKey{ID: id, PEM: pem, verifiers: vs}, nil
}

func parsePublicKey(data []byte) ([]signature.Verifier, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("not PEM (expected a \"PUBLIC KEY\" block as in cosign.pub)")
	}
	if strings.Contains(block.Type, "PRIVATE KEY") {
		return nil, fmt.Errorf("this is a private key (%q); give the public key, cosign.pub", block.Type)
	}
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(data)
	if err != nil {
		return nil, fmt.Errorf("PEM block %q is not a public key (expected \"PUBLIC KEY\" as in cosign.pub)", block.Type)
	}
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() && k.Curve != elliptic.P521() {
			return nil, fmt.Errorf("ECDSA curve %s is not supported (use P-256, P-384 or P-521)", k.Curve.Params().Name)
		}
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("RSA key of %d bits is too short (at least 2048)", k.N.BitLen())
		}
	case ed25519.PublicKey:
	default:
		return nil, fmt.Errorf("key type %T is not supported (use ECDSA, RSA or Ed25519)", pub)
	}
	return verifiersFor(pub)
}

// verifiersFor returns the ways signatures by pub are checked. cosign signs
// with the key's default hash and Ed25519ph, as LoadKey does; cosign
// verify --key hashes with SHA-256 and older cosign signed pure Ed25519.
// Both variants are strong, so a signature passes with either.
func verifiersFor(pub crypto.PublicKey) ([]signature.Verifier, error) {
	def, err := signature.LoadDefaultVerifier(pub, options.WithED25519ph())
	if err != nil {
		return nil, fmt.Errorf("unsupported key: %w", err)
	}
	vs := []signature.Verifier{def}
	var alt signature.Verifier
	switch k := pub.(type) {
	case ed25519.PublicKey:
		alt, err = signature.LoadED25519Verifier(k)
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			alt, err = signature.LoadVerifier(pub, crypto.SHA256)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("unsupported key: %w", err)
	}
	if alt != nil {
		vs = append(vs, alt)
	}
	return vs, nil
}

// Verify checks that img is signed by an approved key: a simple-signing
// payload in the .sig image, or a bundle referrer of predicate type
// https://sigstore.dev/cosign/sign/v1, whose signed claims name img's
// digest and repository and carry o.Annotations. Entries are checked
// newest first and the first that passes is returned.
//
// The failures are ErrUnsigned, ErrRevokedKey, ErrNoApprovedKey and
// ErrClaimsMismatch (class Failed); bad options or keys are usage errors;
// any registry failure other than a 404 is an infrastructure error. Verify
// does not check that img itself is still in the registry.
func Verify(ctx context.Context, img name.Digest, o VerifyOptions) (*Verified, error) {
	passed, err := verify(ctx, img, "", o, 1)
	if err != nil {
		return nil, err
	}
	return &passed[0].Verified, nil
}

// VerifyAttestation checks that img has an attestation of predicateType
// (such as ProvenancePredicateType) signed by an approved key, in the .att
// image or as a bundle referrer, whose statement names img's digest among
// its subjects; o.Annotations must be annotations of that subject. It
// returns the newest such statement; failures are Verify's.
func VerifyAttestation(ctx context.Context, img name.Digest, predicateType string, o VerifyOptions) (*Verified, *Statement, error) {
	passed, err := verifyAttestations(ctx, img, predicateType, o, 1)
	if err != nil {
		return nil, nil, err
	}
	return &passed[0].Verified, &passed[0].Statement, nil
}

// VerifiedStatement is one attestation that verified with an approved,
// unrevoked key and whose claims fit the image.
type VerifiedStatement struct {
	Verified
	Statement Statement
}

// VerifyAttestations returns every attestation of predicateType about img
// that VerifyAttestation would accept, for a caller that must choose among
// several of one type (a smoke test per environment, say). They come in the
// order of o.Formats (sig-tag, then bundle, by default), newest first within
// each where the storage tells: later layers of the .att image are newer,
// and bundle referrers go by their org.opencontainers.image.created
// annotation. A statement stored more than once (in both formats, or signed
// again) is returned once, where it is newest. When none passes, the error
// is VerifyAttestation's verdict (ErrUnsigned, ErrRevokedKey, ...).
func VerifyAttestations(ctx context.Context, img name.Digest, predicateType string, o VerifyOptions) ([]VerifiedStatement, error) {
	return verifyAttestations(ctx, img, predicateType, o, 0)
}

func verifyAttestations(ctx context.Context, img name.Digest, predicateType string, o VerifyOptions, limit int) ([]VerifiedStatement, error) {
	if predicateType == "" {
		return nil, exit.Usagef("verify attestation of %s: no predicate type", img)
	}
	return verify(ctx, img, predicateType, o, limit)
}

// query is one verification: what to look for about which image, and with
// which keys.
type query struct {
	ctx  context.Context
	img  name.Digest
	hash v1.Hash
	// predicateType is the attestation looked for; empty for signatures.
	predicateType string
	annotations   map[string]string
	keys          []verifyKey
	puller        *remote.Puller
	ropts         []remote.Option
}

// verifyKey is a key of VerifyOptions.Keys, ready to check signatures.
type verifyKey struct {
	id        string
	revoked   bool
	verifiers []signature.Verifier
}

// candidate is one signature or attestation found next to the image, not
// yet checked.
type candidate struct {
	format Format
	ref    string
	check  func() (finding, error)
}

// finding is what checking a candidate found out.
type finding struct {
	// relevant is false for entries of another kind (another predicate
	// type); they count as nothing at all.
	relevant bool
	// key verified the signature; nil if no key did.
	key *verifyKey
	// mismatch, when key is set, says why the signed claims do not fit.
	mismatch  string
	statement *Statement
	// payload is the signed statement (base64, as in its envelope); it
	// tells the same attestation stored twice.
	payload string
}

// verify checks the entries of both formats (signatures if predicateType
// is empty) and returns those that pass, at most limit of them (0: all),
// or the verdict when none does.
func verify(ctx context.Context, img name.Digest, predicateType string, o VerifyOptions, limit int) ([]VerifiedStatement, error) {
	what := "verify " + img.String()
	if predicateType != "" {
		what = fmt.Sprintf("verify %s attestation of %s", predicateType, img)
	}
	formats, err := o.formats()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	keys, err := o.keys()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	h, err := v1.NewHash(img.DigestStr())
	if err != nil {
		return nil, exit.Usagef("%s: %v", what, err)
	}
	ropts := append(append([]remote.Option(nil), o.RemoteOptions...), remote.WithContext(ctx))
	// One puller for every request of this call: the registry is pinged
	// and the token fetched once per repository, not once per request.
	// NewPuller returns the caller's own if RemoteOptions has remote.Reuse.
	puller, err := remote.NewPuller(ropts...)
	if err != nil {
		return nil, exit.Usagef("%s: registry options: %v", what, err)
	}
	q := &query{
		ctx: ctx, img: img, hash: h, predicateType: predicateType, annotations: o.Annotations,
		keys: keys, puller: puller, ropts: append(ropts, remote.Reuse(puller)),
	}

	// List every format before judging any: a listing that fails is an
	// error even if another format holds a good signature.
	lists := make([][]candidate, len(formats))
	errs := make([]error, len(formats))
	var wg sync.WaitGroup
	for i, f := range formats {
		wg.Go(func() { lists[i], errs[i] = q.candidates(f) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
	}
	return q.judge(what, formats, lists, limit)
}

// judge checks the listed entries of each format in order and returns
// those that pass, at most limit (0: all), or the verdict when none does.
func (q *query) judge(what string, formats []Format, lists [][]candidate, limit int) ([]VerifiedStatement, error) {
	var (
		passed   []VerifiedStatement
		seen     = map[string]bool{}
		found    int
		revoked  []string
		mismatch []string
		places   []string
	)
	for i, list := range lists {
		places = append(places, q.place(formats[i]))
		for _, c := range list {
			f, err := c.check()
			if err != nil {
				return nil, fmt.Errorf("%s: %w", what, err)
			}
			if !f.relevant {
				continue
			}
			found++
			switch {
			case f.key == nil:
			case f.key.revoked:
				// A revoked key's signature with other claims is just noise.
				if f.mismatch == "" {
					revoked = append(revoked, f.key.id)
				}
			case f.mismatch != "":
				mismatch = append(mismatch, fmt.Sprintf("key %s signed %s %s", f.key.id, c.ref, f.mismatch))
			case f.payload != "" && seen[f.payload]:
				// The same statement again, older: it adds nothing.
			default:
				seen[f.payload] = true
				vs := VerifiedStatement{Verified: Verified{KeyID: f.key.id, Format: c.format, Ref: c.ref}}
				if f.statement != nil {
					vs.Statement = *f.statement
				}
				if passed = append(passed, vs); len(passed) == limit {
					return passed, nil
				}
			}
		}
	}
	if len(passed) > 0 {
		return passed, nil
	}
	return nil, exit.Mark(exit.Failed, fmt.Errorf("%s: %w", what, q.failure(found, revoked, mismatch, places)))
}

// failure is the verdict when no entry passed: found relevant entries,
// the ids of revoked keys that signed them with fitting claims, the
// mismatches of entries by keys, and the places looked at.
func (q *query) failure(found int, revoked, mismatch, places []string) *verdict {
	noun := "signature"
	if q.predicateType != "" {
		noun = q.predicateType + " attestation"
	}
	switch {
	case len(revoked) > 0:
		return &verdict{ErrRevokedKey, fmt.Sprintf("%s %s: sign it again with an approved key", ErrRevokedKey, strings.Join(uniq(revoked), ", "))}
	case len(mismatch) > 0:
		return &verdict{ErrClaimsMismatch, fmt.Sprintf("%s: %s", ErrClaimsMismatch, strings.Join(mismatch, "; "))}
	case found > 0:
		return &verdict{ErrNoApprovedKey, fmt.Sprintf("%s: %d %s(s) found, none verifies with the keys %s", ErrNoApprovedKey, found, noun, strings.Join(q.approvedIDs(), ", "))}
	}
	return &verdict{ErrUnsigned, fmt.Sprintf("%s: no %s in %s", ErrUnsigned, noun, strings.Join(places, " or "))}
}

func uniq(s []string) []string {
	slices.Sort(s)
	return slices.Compact(s)
}

func (o VerifyOptions) formats() ([]Format, error) {
	if len(o.Formats) == 0 {
		return []Format{FormatSigTag, FormatBundle}, nil
	}
	var fs []Format
	for _, f := range o.Formats {
		format, err := Options{Format: f}.format()
		if err != nil || f == "" {
			return nil, exit.Usagef("signature format %q: use %q or %q", f, FormatSigTag, FormatBundle)
		}
		if !slices.Contains(fs, format) {
			fs = append(fs, format)
		}
	}
	return fs, nil
}

// keys returns the keys to check with, approved ones first, so a signature
// that verifies with the same key material under two ids counts as
// approved if either id is.
func (o VerifyOptions) keys() ([]verifyKey, error) {
	if len(o.Keys) == 0 {
		return nil, exit.Usagef("no public keys to verify with (set signing.publicKeys)")
	}
	var approved, revoked []verifyKey
	seen := map[string]bool{}
	for _, k := range o.Keys {
		if seen[k.ID] {
			return nil, exit.Usagef("public key %s is listed twice", k.ID)
		}
		seen[k.ID] = true
		vs := k.verifiers
		if vs == nil {
			loaded, err := LoadPublicKey(k.ID, k.PEM)
			if err != nil {
				return nil, err
			}
			vs = loaded.verifiers
		}
		vk := verifyKey{id: k.ID, revoked: slices.Contains(o.Revoked, k.ID), verifiers: vs}
		if vk.revoked {
			revoked = append(revoked, vk)
		} else {
			approved = append(approved, vk)
		}
	}
	return append(approved, revoked...), nil
}

func (q *query) approvedIDs() []string {
	var ids []string
	for _, k := range q.keys {
		if !k.revoked {
			ids = append(ids, k.id)
		}
	}
	if len(ids) == 0 {
		return []string{"(none: every key is revoked)"}
	}
	return ids
}

// keyFor returns the first key under which verifies passes.
func (q *query) keyFor(verifies func(v signature.Verifier) bool) *verifyKey {
	for i := range q.keys {
		for _, v := range q.keys[i].verifiers {
			if verifies(v) {
				return &q.keys[i]
			}
		}
	}
	return nil
}

func (q *query) keyForMessage(sig, msg []byte) *verifyKey {
	return q.keyFor(func(v signature.Verifier) bool {
		return v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(msg)) == nil
	})
}

func (q *query) keyForEnvelope(env ssldsse.Envelope) *verifyKey {
	return q.keyFor(func(v signature.Verifier) bool {
		return envelopeVerifies(env, func(sig, msg []byte) bool {
			return v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(msg)) == nil
		})
	})
}

// place names where a format keeps what the query looks for, for messages.
func (q *query) place(f Format) string {
	if f == FormatBundle {
		return fmt.Sprintf("the bundle referrers of %s", q.hash)
	}
	return tagFor(q.img, q.hash, q.tagSuffix()).String()
}

func (q *query) tagSuffix() string {
	if q.predicateType == "" {
		return "sig"
	}
	return "att"
}

// bundlePredicateType is the predicate type of the bundles looked for:
// cosign's for signatures.
func (q *query) bundlePredicateType() string {
	if q.predicateType == "" {
		return ctypes.CosignSignPredicateType
	}
	return q.predicateType
}

func (q *query) candidates(f Format) ([]candidate, error) {
	if f == FormatBundle {
		return q.bundleCandidates()
	}
	return q.tagCandidates()
}

// readError classifies a failed read: only "not found" is an answer, and
// callers check for it before.
func readError(what string, err error) error { return accessError(what, "pull from", err) }

// tagCandidates lists the layers of the .sig or .att image, newest
// (appended last) first. A missing tag is an empty list.
func (q *query) tagCandidates() ([]candidate, error) {
	tag := tagFor(q.img, q.hash, q.tagSuffix())
	desc, err := q.puller.Get(q.ctx, tag)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, readError(fmt.Sprintf("read %s", tag), err)
	}
	if !desc.MediaType.IsImage() {
		return nil, exit.Infraf("read %s: a %s, not a signature image", tag, desc.MediaType)
	}
	m, err := v1.ParseManifest(bytes.NewReader(desc.Manifest))
	if err != nil {
		return nil, exit.Infraf("read %s: malformed manifest: %w", tag, err)
	}
	layers := m.Layers
	if len(layers) > maxLayers {
		layers = layers[len(layers)-maxLayers:]
	}
	var cs []candidate
	for _, l := range slices.Backward(layers) {
		c := candidate{format: FormatSigTag, ref: tag.String()}
		if q.predicateType == "" {
			c.check = func() (finding, error) { return q.checkSimpleSigning(l) }
		} else {
			// cosign attest names the predicate type beside each layer; it
			// is unsigned, so it only spares reading other kinds.
			if pt, ok := l.Annotations[predicateTypeAnnotation]; ok && pt != q.predicateType {
				continue
			}
			c.check = func() (finding, error) {
				raw, err := q.blob(l)
				if raw == nil || err != nil {
					return finding{relevant: true}, err
				}
				return q.checkEnvelope(raw), nil
			}
		}
		cs = append(cs, c)
	}
	return cs, nil
}

// blob reads a small blob of the image's repository. It returns nil and no
// error for a blob too big to be a signature, which is no valid entry.
func (q *query) blob(d v1.Descriptor) ([]byte, error) {
	if d.Size > maxEntryBytes {
		return nil, nil
	}
	ref := q.img.Context().Digest(d.Digest.String())
	l, err := q.puller.Layer(q.ctx, ref)
	if err != nil {
		return nil, readError(fmt.Sprintf("read %s", ref), err)
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, readError(fmt.Sprintf("read %s", ref), err)
	}
	defer rc.Close()
	// Reading to the end lets go-containerregistry check the digest.
	raw, err := io.ReadAll(io.LimitReader(rc, maxEntryBytes+1))
	if err != nil {
		return nil, readError(fmt.Sprintf("read %s", ref), err)
	}
	if len(raw) > maxEntryBytes {
		return nil, nil
	}
	return raw, nil
}

// checkSimpleSigning checks one layer of a .sig image: the signature in
// its annotation over the payload in its blob, then the payload's claims.
func (q *query) checkSimpleSigning(l v1.Descriptor) (finding, error) {
	sig, err := base64.StdEncoding.DecodeString(l.Annotations[signatureAnnotation])
	if err != nil || len(sig) == 0 {
		return finding{relevant: true}, nil
	}
	pl, err := q.blob(l)
	if pl == nil || err != nil {
		return finding{relevant: true}, err
	}
	key := q.keyForMessage(sig, pl)
	if key == nil {
		return finding{relevant: true}, nil
	}
	f := finding{relevant: true, key: key}
	var ss payload.SimpleContainerImage
	switch err := json.Unmarshal(pl, &ss); {
	case err != nil:
		f.mismatch = "a payload that is not simple-signing JSON"
	case ss.Critical.Type != payload.CosignSignatureType:
		f.mismatch = fmt.Sprintf("a payload of type %q, not %q", ss.Critical.Type, payload.CosignSignatureType)
	case ss.Critical.Image.DockerManifestDigest != q.hash.String():
		f.mismatch = fmt.Sprintf("for another image (%s)", ss.Critical.Image.DockerManifestDigest)
	case !sameRepository(ss.Critical.Identity.DockerReference, q.img.Context()):
		f.mismatch = fmt.Sprintf("for repository %q", ss.Critical.Identity.DockerReference)
	default:
		f.mismatch = missingClaim(q.annotations, ss.Optional)
	}
	return f, nil
}

// sameRepository reports whether a signed docker-reference names repo.
// cosign v3 itself checks only the digest (SimpleClaimVerifier); sigstore's
// payload package asks consumers to check the reference too, with the
// repository matching when the image is referred to by digest. cosign sign
// writes the bare repository, --sign-container-identity may add a tag or a
// digest; all name the same repository here.
func sameRepository(claimed string, repo name.Repository) bool {
	if claimed == "" {
		return false
	}
	ref, err := name.ParseReference(claimed)
	return err == nil && ref.Context().Name() == repo.Name()
}

// missingClaim returns "" if have carries every annotation of want, as
// cosign compares them (equal JSON strings), and says what is missing
// otherwise.
func missingClaim(want map[string]string, have map[string]any) string {
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if s, ok := have[k].(string); !ok || s != want[k] {
			return fmt.Sprintf("without the signed annotation %s=%s", k, want[k])
		}
	}
	return ""
}

// signedStatement is an in-toto statement read for checking; subject
// annotations may hold any JSON (cosign writes a protobuf Struct).
type signedStatement struct {
	Type          string          `json:"_type"`
	Subject       []signedSubject `json:"subject"`
	PredicateType string          `json:"predicateType"`
}

type signedSubject struct {
	Digest      map[string]string `json:"digest"`
	Annotations map[string]any    `json:"annotations"`
}

// checkEnvelope checks a DSSE envelope holding an in-toto statement: from
// a .att layer or a bundle.
func (q *query) checkEnvelope(raw []byte) finding {
	var env ssldsse.Envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		return finding{relevant: true}
	}
	return q.checkStatement(env)
}

func (q *query) checkStatement(env ssldsse.Envelope) finding {
	body, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil || env.PayloadType != ctypes.IntotoPayloadType {
		return finding{relevant: true}
	}
	var st signedStatement
	if err := json.Unmarshal(body, &st); err != nil {
		return finding{relevant: true}
	}
	// Read before the signature is checked only to skip other kinds of
	// attestations; whether it counts is decided after.
	if st.PredicateType != q.bundlePredicateType() {
		return finding{}
	}
	key := q.keyForEnvelope(env)
	if key == nil {
		return finding{relevant: true}
	}
	f := finding{relevant: true, key: key}
	if st.Type != StatementType && st.Type != statementTypeV01 {
		f.mismatch = fmt.Sprintf("a statement of type %q", st.Type)
		return f
	}
	i := slices.IndexFunc(st.Subject, func(s signedSubject) bool { return s.Digest[q.hash.Algorithm] == q.hash.Hex })
	if i < 0 {
		f.mismatch = "a statement about other images"
		return f
	}
	if f.mismatch = missingClaim(q.annotations, st.Subject[i].Annotations); f.mismatch != "" {
		return f
	}
	if q.predicateType != "" {
		var full Statement
		if err := json.Unmarshal(body, &full); err != nil {
			f.mismatch = fmt.Sprintf("a statement stepper cannot read (%v)", err)
			return f
		}
		f.statement, f.payload = &full, env.Payload
	}
	return f
}

// bundleCandidates lists the bundle referrers of the image, newest first.
// go-containerregistry falls back to the sha256-<hex> tag index only when
// the registry answers the referrers API with 404, 400 or 406; a 429, 500
// or broken connection is an error here, never an empty list (cosign v3
// falls back on those too and reports "unsigned").
func (q *query) bundleCandidates() ([]candidate, error) {
	idx, err := remote.Referrers(q.img, q.ropts...)
	if err != nil {
		return nil, readError(fmt.Sprintf("list referrers of %s", q.img), err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, exit.Infraf("list referrers of %s: malformed index: %w", q.img, err)
	}
	var listed []v1.Descriptor
	for _, d := range im.Manifests {
		// Registries fill artifactType of the listing differently (the
		// config media type for some); skip only what is clearly something
		// else. The annotation is unsigned and only spares reading.
		if d.ArtifactType != "" && d.ArtifactType != bundleMediaType && d.ArtifactType != emptyConfigMediaType {
			continue
		}
		if pt, ok := d.Annotations[bundlePredicateAnnotation]; ok && pt != q.bundlePredicateType() {
			continue
		}
		listed = append(listed, d)
	}
	// Newest first: by creation time where annotated, else the later in the
	// listing (the fallback index appends). Referrers made in the same
	// second come in the registry's order, which may change between two
	// listings; the digest breaks the tie, so every call sees one order.
	slices.Reverse(listed)
	slices.SortStableFunc(listed, func(a, b v1.Descriptor) int {
		if c := strings.Compare(b.Annotations[createdAnnotation], a.Annotations[createdAnnotation]); c != 0 || a.Annotations[createdAnnotation] == "" {
			return c
		}
		return strings.Compare(a.Digest.String(), b.Digest.String())
	})
	if len(listed) > maxLayers {
		listed = listed[:maxLayers]
	}
	cs := make([]candidate, 0, len(listed))
	for _, d := range listed {
		ref := q.img.Context().Digest(d.Digest.String())
		cs = append(cs, candidate{format: FormatBundle, ref: ref.String(), check: func() (finding, error) { return q.checkBundle(ref) }})
	}
	return cs, nil
}

// checkBundle reads a referrer and checks it if it holds a bundle.
func (q *query) checkBundle(ref name.Digest) (finding, error) {
	desc, err := q.puller.Get(q.ctx, ref)
	if err != nil {
		return finding{}, readError(fmt.Sprintf("read referrer %s", ref), err)
	}
	m, err := v1.ParseManifest(bytes.NewReader(desc.Manifest))
	if err != nil || !desc.MediaType.IsImage() {
		return finding{}, nil // an index or other artifact: not a bundle
	}
	if len(m.Layers) != 1 || m.Layers[0].MediaType != bundleMediaType {
		return finding{}, nil
	}
	raw, err := q.blob(m.Layers[0])
	if raw == nil || err != nil {
		return finding{relevant: true}, err
	}
	var b sigstoreBundle
	if err := json.Unmarshal(raw, &b); err != nil || b.MediaType != bundleMediaType {
		return finding{relevant: true}, nil
	}
	return q.checkStatement(b.DSSEEnvelope), nil
}
