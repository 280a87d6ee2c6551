package signing

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	ssldsse "github.com/secure-systems-lab/go-securesystemslib/dsse"
	ctypes "github.com/sigstore/cosign/v3/pkg/types"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/payload"
)

// The parsers of what a registry hands back (public keys, simple-signing
// payloads, DSSE envelopes, sigstore bundles) read input an attacker may
// write. Each fuzz target feeds one of them arbitrary bytes: it decides, it
// never panics, and it never credits a key whose signature does not verify.

const fuzzImage = "registry.example/vendor/app@sha256:4f1c3b6f5d8e0a7b9c2d1e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b"

// fuzzSigner is a P-256 key made for the fuzz run and a query that trusts it.
type fuzzSigner struct {
	sv     signature.SignerVerifier
	pubPEM []byte
	q      *query
}

func newFuzzSigner(f testing.TB, predicateType string) fuzzSigner {
	f.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	sv, err := signature.LoadECDSASignerVerifier(priv, crypto.SHA256)
	if err != nil {
		f.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		f.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	pub, err := LoadPublicKey("fuzz", pubPEM)
	if err != nil {
		f.Fatal(err)
	}
	img, err := name.NewDigest(fuzzImage)
	if err != nil {
		f.Fatal(err)
	}
	h, err := v1.NewHash(img.DigestStr())
	if err != nil {
		f.Fatal(err)
	}
	q := &query{ctx: context.Background(), img: img, hash: h, predicateType: predicateType,
		annotations: map[string]string{"env": "staging"},
		keys:        []verifyKey{{id: "fuzz", verifiers: pub.verifiers}}}
	return fuzzSigner{sv: sv, pubPEM: pubPEM, q: q}
}

// envelope signs statement as a DSSE envelope of in-toto type.
func (s fuzzSigner) envelope(f testing.TB, statement string) ssldsse.Envelope {
	f.Helper()
	sig, err := s.sv.SignMessage(bytes.NewReader(ssldsse.PAE(ctypes.IntotoPayloadType, []byte(statement))))
	if err != nil {
		f.Fatal(err)
	}
	return ssldsse.Envelope{PayloadType: ctypes.IntotoPayloadType, Payload: base64.StdEncoding.EncodeToString([]byte(statement)),
		Signatures: []ssldsse.Signature{{Sig: base64.StdEncoding.EncodeToString(sig)}}}
}

func (s fuzzSigner) statement(predicateType string) string {
	return `{"_type":"` + StatementType + `","subject":[{"digest":{"sha256":"` + s.q.hash.Hex + `"},"annotations":{"env":"staging"}}],` +
		`"predicateType":"` + predicateType + `","predicate":{}}`
}

// checkFinding holds what every check must keep: credit only for a key
// whose signature verifies over exactly the bytes given.
func checkFinding(t *testing.T, q *query, env ssldsse.Envelope, f finding) {
	if f.key != nil && q.keyForEnvelope(env) == nil {
		t.Fatalf("finding credits key %s for an envelope no key verifies", f.key.id)
	}
	if f.key != nil && f.mismatch == "" && f.statement == nil && q.predicateType != "" {
		t.Fatal("an attestation passed without its statement")
	}
}

func FuzzParsePublicKey(f *testing.F) {
	s := newFuzzSigner(f, "")
	f.Add(s.pubPEM)
	f.Add([]byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"))
	f.Add([]byte("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"))
	f.Add([]byte("not pem"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		vs, err := parsePublicKey(data)
		if err == nil && len(vs) == 0 {
			t.Fatal("a key was accepted without a way to verify")
		}
	})
}

func FuzzDSSEEnvelope(f *testing.F) {
	for _, predicateType := range []string{"", ProvenancePredicateType} {
		s := newFuzzSigner(f, predicateType)
		pt := s.q.bundlePredicateType()
		good, _ := json.Marshal(s.envelope(f, s.statement(pt)))
		f.Add(good, predicateType != "")
		other, _ := json.Marshal(s.envelope(f, `{"_type":"x","subject":[{"digest":null}],"predicateType":"`+pt+`"}`))
		f.Add(other, predicateType != "")
	}
	f.Add([]byte(`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"sig":"AA=="}]}`), false)
	f.Add([]byte(`{"payload":"!!!","signatures":null}`), true)
	f.Add([]byte(`[]`), false)
	signers := map[bool]fuzzSigner{false: newFuzzSigner(f, ""), true: newFuzzSigner(f, ProvenancePredicateType)}
	f.Fuzz(func(t *testing.T, raw []byte, attestation bool) {
		q := signers[attestation].q
		fd := q.checkEnvelope(raw)
		var env ssldsse.Envelope
		if json.Unmarshal(raw, &env) == nil {
			checkFinding(t, q, env, fd)
		} else if fd.key != nil {
			t.Fatal("an envelope that is not JSON was credited")
		}
	})
}

func FuzzBundle(f *testing.F) {
	s := newFuzzSigner(f, "")
	b, _ := json.Marshal(sigstoreBundle{MediaType: bundleMediaType, DSSEEnvelope: s.envelope(f, s.statement(s.q.bundlePredicateType()))})
	f.Add(b)
	f.Add([]byte(`{"mediaType":"` + bundleMediaType + `","dsseEnvelope":{"payload":"e30=","signatures":[{}]}}`))
	f.Add([]byte(`{"mediaType":"` + bundleMediaType + `","verificationMaterial":{"publicKey":{"hint":7}}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		// As checkBundle reads a bundle layer.
		var bundle sigstoreBundle
		if err := json.Unmarshal(raw, &bundle); err != nil || bundle.MediaType != bundleMediaType {
			return
		}
		checkFinding(t, s.q, bundle.DSSEEnvelope, s.q.checkStatement(bundle.DSSEEnvelope))
	})
}

func FuzzSimpleSigningPayload(f *testing.F) {
	s := newFuzzSigner(f, "")
	good, _ := json.Marshal(payload.SimpleContainerImage{
		Critical: payload.Critical{Identity: payload.Identity{DockerReference: "registry.example/vendor/app"},
			Image: payload.Image{DockerManifestDigest: s.q.hash.String()}, Type: payload.CosignSignatureType},
		Optional: map[string]any{"env": "staging"},
	})
	f.Add(good, "registry.example/vendor/app:1.0")
	f.Add([]byte(`{"critical":{"identity":{"docker-reference":"@@"}},"optional":{"env":1}}`), "registry.example/vendor/app@sha256:zz")
	f.Add([]byte(`{}`), "")
	f.Fuzz(func(t *testing.T, pl []byte, claimed string) {
		// As checkSimpleSigning reads a payload whose signature verified.
		var ss payload.SimpleContainerImage
		if json.Unmarshal(pl, &ss) == nil {
			sameRepository(ss.Critical.Identity.DockerReference, s.q.img.Context())
			missingClaim(s.q.annotations, ss.Optional)
		}
		if sameRepository(claimed, s.q.img.Context()) {
			if ref, err := name.ParseReference(claimed); err != nil || ref.Context().Name() != s.q.img.Context().Name() {
				t.Fatalf("sameRepository(%q) passed for another repository", claimed)
			}
		}
	})
}

// The fuzz seeds reach the deep path: a good envelope is credited, and the
// same envelope with its payload changed is not.
func TestFuzzSeedEnvelopeVerifies(t *testing.T) {
	for _, predicateType := range []string{"", ProvenancePredicateType} {
		s := newFuzzSigner(t, predicateType)
		env := s.envelope(t, s.statement(s.q.bundlePredicateType()))
		raw, _ := json.Marshal(env)
		if fd := s.q.checkEnvelope(raw); fd.key == nil || fd.mismatch != "" {
			t.Fatalf("%q: good envelope: %+v", predicateType, fd)
		}
		env.Payload = base64.StdEncoding.EncodeToString([]byte(s.statement("other")))
		raw, _ = json.Marshal(env)
		if fd := s.q.checkEnvelope(raw); fd.key != nil {
			t.Fatalf("%q: a changed payload was credited", predicateType)
		}
	}
}
