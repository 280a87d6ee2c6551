package signing_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/signing"
	"github.com/stepper-cd/stepper/internal/testenv"
)

// publicKey loads k's public key under id.
func (k testKey) publicKey(t testing.TB, id string) signing.PublicKey {
	t.Helper()
	pk, err := signing.LoadPublicKey(id, k.PubPEM)
	if err != nil {
		t.Fatalf("LoadPublicKey: %v", err)
	}
	return pk
}

// cosignSign signs img with the official CLI, offline, in the sig-tag
// format or (bundle) the new bundle format.
func cosignSign(t testing.TB, k testKey, img name.Digest, bundle bool, extra ...string) {
	t.Helper()
	args := append([]string{"sign", "--key", k.Private, "--tlog-upload=false", "--use-signing-config=false",
		fmt.Sprintf("--new-bundle-format=%v", bundle), "--allow-http-registry"}, extra...)
	out, err := cosign(t, []string{"COSIGN_PASSWORD=" + testOnlyPassword}, append(args, img.String())...)
	if err != nil {
		t.Fatalf("cosign %s %s: %v\n%s", strings.Join(args, " "), img, err, out)
	}
}

// cosignAttest attests img with an SLSA provenance v1 predicate with the
// official CLI, offline.
func cosignAttest(t testing.TB, k testKey, img name.Digest, bundle bool) {
	t.Helper()
	predicate := filepath.Join(t.TempDir(), "predicate.json")
	writeFile(t, predicate, []byte(`{"buildDefinition":{"buildType":"https://example.test/cosign-cli","externalParameters":{}},"runDetails":{"builder":{"id":"https://example.test/cosign-cli-builder"}}}`))
	args := []string{"attest", "--key", k.Private, "--predicate", predicate, "--type", "slsaprovenance1", "--tlog-upload=false",
		"--use-signing-config=false", fmt.Sprintf("--new-bundle-format=%v", bundle), "--allow-http-registry"}
	out, err := cosign(t, []string{"COSIGN_PASSWORD=" + testOnlyPassword}, append(args, img.String())...)
	if err != nil {
		t.Fatalf("cosign %s %s: %v\n%s", strings.Join(args, " "), img, err, out)
	}
}

// fastRetries keeps go-containerregistry's retries of 429, 500 and resets
// (1 s, then 3 s by default) short in tests that inject them.
var fastRetries = remote.WithRetryBackoff(remote.Backoff{Duration: time.Millisecond, Factor: 1, Steps: 2})

func registries(p *testenv.Platform) []*testenv.Registry {
	return []*testenv.Registry{p.Registry, p.ReferrersRegistry}
}

// wantVerdict fails unless err is the verdict want, of class Failed.
func wantVerdict(t testing.TB, err, want error, contains string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error = %v, want %q", err, want)
	}
	if c := exit.ClassOf(err); c != exit.Failed {
		t.Errorf("class = %v, want failed: %v", c, err)
	}
	for _, other := range []error{signing.ErrUnsigned, signing.ErrRevokedKey, signing.ErrNoApprovedKey, signing.ErrClaimsMismatch} {
		if other != want && errors.Is(err, other) {
			t.Errorf("error %v is also %q", err, other)
		}
	}
	if !strings.Contains(err.Error(), contains) {
		t.Errorf("error = %q, want it to contain %q", err, contains)
	}
}

func TestVerifyCosignCLISignatures(t *testing.T) {
	p := platform.Get(t)
	tests := []struct {
		name   string
		reg    *testenv.Registry
		bundle bool
		want   signing.Format
	}{
		{"sig-tag", p.Registry, false, signing.FormatSigTag},
		{"sig-tag on referrers registry", p.ReferrersRegistry, false, signing.FormatSigTag},
		{"bundle", p.ReferrersRegistry, true, signing.FormatBundle},
		{"bundle in fallback index", p.Registry, true, signing.FormatBundle},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := newTestKey(t)
			img := pushImage(t, tt.reg.Host, fmt.Sprintf("verify/cosign%d", i))
			cosignSign(t, k, img, tt.bundle, "-a", "env=prod")
			o := signing.VerifyOptions{Keys: []signing.PublicKey{k.publicKey(t, "ci-2026")}, Annotations: map[string]string{"env": "prod"}}
			v, err := signing.Verify(t.Context(), img, o)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if v.KeyID != "ci-2026" || v.Format != tt.want {
				t.Errorf("Verified = %+v, want key ci-2026 and format %s", v, tt.want)
			}
			if tt.want == signing.FormatSigTag && !strings.HasSuffix(v.Ref, ".sig") || tt.want == signing.FormatBundle && !strings.HasPrefix(v.Ref, img.Context().Name()+"@sha256:") {
				t.Errorf("Ref = %q", v.Ref)
			}

			o.Annotations = map[string]string{"env": "dev"}
			_, err = signing.Verify(t.Context(), img, o)
			wantVerdict(t, err, signing.ErrClaimsMismatch, "without the signed annotation env=dev")

			// Only the format asked for is looked at.
			other := signing.FormatBundle
			if tt.bundle {
				other = signing.FormatSigTag
			}
			_, err = signing.Verify(t.Context(), img, signing.VerifyOptions{Keys: o.Keys, Formats: []signing.Format{other}})
			wantVerdict(t, err, signing.ErrUnsigned, "unsigned: no signature in ")
		})
	}
}

func TestVerifyCosignCLIAttestations(t *testing.T) {
	p := platform.Get(t)
	for i, bundle := range []bool{false, true} {
		t.Run(fmt.Sprintf("bundle=%v", bundle), func(t *testing.T) {
			k := newTestKey(t)
			img := pushImage(t, p.ReferrersRegistry.Host, fmt.Sprintf("verify/cosign-attest%d", i))
			cosignAttest(t, k, img, bundle)
			o := signing.VerifyOptions{Keys: []signing.PublicKey{k.publicKey(t, "ci")}}
			v, st, err := signing.VerifyAttestation(t.Context(), img, signing.ProvenancePredicateType, o)
			if err != nil {
				t.Fatalf("VerifyAttestation: %v", err)
			}
			if v.KeyID != "ci" {
				t.Errorf("KeyID = %q", v.KeyID)
			}
			checkProvenance(t, st, img, "https://example.test/cosign-cli-builder")

			// An attestation is no signature, and no attestation of another type.
			_, err = signing.Verify(t.Context(), img, o)
			wantVerdict(t, err, signing.ErrUnsigned, "unsigned")
			_, _, err = signing.VerifyAttestation(t.Context(), img, "https://spdx.dev/Document", o)
			wantVerdict(t, err, signing.ErrUnsigned, "no https://spdx.dev/Document attestation")
		})
	}
}

func checkProvenance(t testing.TB, st *signing.Statement, img name.Digest, builder string) {
	t.Helper()
	if st == nil {
		t.Fatal("no statement returned")
	}
	if st.PredicateType != signing.ProvenancePredicateType {
		t.Errorf("predicateType = %q", st.PredicateType)
	}
	found := false
	for _, s := range st.Subject {
		found = found || "sha256:"+s.Digest["sha256"] == img.DigestStr()
	}
	if !found {
		t.Errorf("subjects %+v do not name %s", st.Subject, img.DigestStr())
	}
	var pred struct {
		RunDetails struct {
			Builder struct {
				ID string `json:"id"`
			} `json:"builder"`
		} `json:"runDetails"`
	}
	if err := json.Unmarshal(st.Predicate, &pred); err != nil || pred.RunDetails.Builder.ID != builder {
		t.Errorf("predicate builder = %q (%v), want %q", pred.RunDetails.Builder.ID, err, builder)
	}
}

func TestVerifyStepperSigned(t *testing.T) {
	p := platform.Get(t)
	for _, reg := range registries(p) {
		for _, format := range []signing.Format{signing.FormatSigTag, signing.FormatBundle} {
			t.Run(fmt.Sprintf("%s/referrers=%v", format, reg.Referrers), func(t *testing.T) {
				k := newTestKey(t)
				key := k.load(t)
				img := pushImage(t, reg.Host, "verify/stepper-"+string(format))
				ref, err := signing.Sign(t.Context(), key, img, signing.Options{Format: format, Annotations: map[string]string{"env": "prod"}})
				if err != nil {
					t.Fatal(err)
				}
				st, err := provenance().Statement(img)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := signing.Attest(t.Context(), key, img, st, signing.Options{Format: format}); err != nil {
					t.Fatal(err)
				}

				o := signing.VerifyOptions{Keys: []signing.PublicKey{k.publicKey(t, "stepper")}, Annotations: map[string]string{"env": "prod"}}
				v, err := signing.Verify(t.Context(), img, o)
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if *v != (signing.Verified{KeyID: "stepper", Format: format, Ref: ref}) {
					t.Errorf("Verified = %+v, want key stepper, format %s, ref %s", v, format, ref)
				}
				o.Annotations = nil
				v, got, err := signing.VerifyAttestation(t.Context(), img, signing.ProvenancePredicateType, o)
				if err != nil {
					t.Fatalf("VerifyAttestation: %v", err)
				}
				if v.Format != format {
					t.Errorf("attestation format = %s, want %s", v.Format, format)
				}
				checkProvenance(t, got, img, provenance().BuilderID)
			})
		}
	}
}

// TestVerifyKeyRotation: keys {old, new} with old revoked.
func TestVerifyKeyRotation(t *testing.T) {
	p := platform.Get(t)
	old, current := newTestKey(t), newTestKey(t)
	oldKey, currentKey := old.load(t), current.load(t)
	o := signing.VerifyOptions{
		Keys:    []signing.PublicKey{old.publicKey(t, "ehealth-2024"), current.publicKey(t, "ehealth-2026")},
		Revoked: []string{"ehealth-2024"},
	}
	for _, format := range []signing.Format{signing.FormatSigTag, signing.FormatBundle} {
		tests := []struct {
			name    string
			signers []*signing.Key
			wantKey string
			wantErr error
		}{
			{"new", []*signing.Key{currentKey}, "ehealth-2026", nil},
			{"old only", []*signing.Key{oldKey}, "", signing.ErrRevokedKey},
			{"old then new", []*signing.Key{oldKey, currentKey}, "ehealth-2026", nil},
			{"new then old", []*signing.Key{currentKey, oldKey}, "ehealth-2026", nil},
			{"nobody", nil, "", signing.ErrUnsigned},
		}
		for i, tt := range tests {
			t.Run(fmt.Sprintf("%s/%s", format, tt.name), func(t *testing.T) {
				img := pushImage(t, p.Registry.Host, fmt.Sprintf("verify/rotation-%s-%d", format, i))
				for _, key := range tt.signers {
					if _, err := signing.Sign(t.Context(), key, img, signing.Options{Format: format}); err != nil {
						t.Fatal(err)
					}
				}
				v, err := signing.Verify(t.Context(), img, o)
				if tt.wantErr != nil {
					if v != nil {
						t.Errorf("Verify passed with %+v", v)
					}
					want := map[error]string{signing.ErrRevokedKey: "signed only by revoked key ehealth-2024", signing.ErrUnsigned: "unsigned"}[tt.wantErr]
					wantVerdict(t, err, tt.wantErr, want)
					return
				}
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if v.KeyID != tt.wantKey {
					t.Errorf("KeyID = %q, want %q", v.KeyID, tt.wantKey)
				}
			})
		}
	}

	// Revoking the only key of an attestation fails it the same way.
	img := pushImage(t, p.Registry.Host, "verify/rotation-attest")
	st, err := provenance().Statement(img)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := signing.Attest(t.Context(), oldKey, img, st, signing.Options{}); err != nil {
		t.Fatal(err)
	}
	_, got, err := signing.VerifyAttestation(t.Context(), img, signing.ProvenancePredicateType, o)
	if got != nil {
		t.Errorf("a statement was returned for a revoked key")
	}
	wantVerdict(t, err, signing.ErrRevokedKey, "signed only by revoked key ehealth-2024")
}

func TestVerifyWrongKey(t *testing.T) {
	p := platform.Get(t)
	signer, other := newTestKey(t), newTestKey(t)
	for _, format := range []signing.Format{signing.FormatSigTag, signing.FormatBundle} {
		t.Run(string(format), func(t *testing.T) {
			img := pushImage(t, p.ReferrersRegistry.Host, "verify/wrong-key-"+string(format))
			if _, err := signing.Sign(t.Context(), signer.load(t), img, signing.Options{Format: format}); err != nil {
				t.Fatal(err)
			}
			v, err := signing.Verify(t.Context(), img, signing.VerifyOptions{Keys: []signing.PublicKey{other.publicKey(t, "other")}})
			if v != nil {
				t.Errorf("Verify passed with %+v", v)
			}
			wantVerdict(t, err, signing.ErrNoApprovedKey, "signed, but by no approved key: 1 signature(s) found, none verifies with the keys other")
		})
	}
}

// TestVerifyCopiedSignature copies a valid .sig image to the signature tag
// of another digest, and of the same digest in another repository.
func TestVerifyCopiedSignature(t *testing.T) {
	p := platform.Get(t)
	k := newTestKey(t)
	signed := pushImage(t, p.Registry.Host, "verify/copied")
	if _, err := signing.Sign(t.Context(), k.load(t), signed, signing.Options{}); err != nil {
		t.Fatal(err)
	}
	sig, err := remote.Image(sigTag(signed), remote.WithContext(t.Context()))
	if err != nil {
		t.Fatal(err)
	}
	o := signing.VerifyOptions{Keys: []signing.PublicKey{k.publicKey(t, "k")}}
	if _, err := signing.Verify(t.Context(), signed, o); err != nil {
		t.Fatalf("the original does not verify: %v", err)
	}

	otherDigest := pushImage(t, p.Registry.Host, "verify/copied")
	sameDigestElsewhere, err := name.NewDigest(p.Registry.Host+"/verify/copied-elsewhere@"+signed.DigestStr(), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	src, err := remote.Image(signed, remote.WithContext(t.Context()))
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(sameDigestElsewhere, src, remote.WithContext(t.Context())); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		img  name.Digest
		want string
	}{
		{"another digest", otherDigest, "for another image (" + signed.DigestStr() + ")"},
		{"another repository", sameDigestElsewhere, fmt.Sprintf("for repository %q", signed.Context().Name())},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := remote.Write(sigTag(tt.img), sig, remote.WithContext(t.Context())); err != nil {
				t.Fatal(err)
			}
			v, err := signing.Verify(t.Context(), tt.img, o)
			if v != nil {
				t.Fatalf("a copied signature verified: %+v", v)
			}
			wantVerdict(t, err, signing.ErrClaimsMismatch, tt.want)
		})
	}
}

func sigTag(img name.Digest) name.Tag {
	return img.Context().Tag(strings.Replace(img.DigestStr(), ":", "-", 1) + ".sig")
}

// TestVerifyFailsClosed puts a proxy in front of the registries that fails
// one kind of request every time. Whether the image is signed or not, the
// answer must be an infrastructure error: never a pass, never "unsigned".
// The images are signed through the proxy, since the signed
// docker-reference names the registry host, and verify through it while
// no fault is switched on.
func TestVerifyFailsClosed(t *testing.T) {
	p := platform.Get(t)
	k := newTestKey(t)
	key := k.load(t)
	path := func(part string) func(*http.Request) bool {
		return func(r *http.Request) bool { return strings.Contains(r.URL.Path, part) }
	}
	requests := []struct {
		name string
		only func(*http.Request) bool
		// registryWithReferrers: false if only the other registry gets it.
		registryWithReferrers bool
	}{
		{"ping", func(r *http.Request) bool { return r.URL.Path == "/v2/" }, true},
		{"sig tag", path(".sig"), true},
		{"att tag", path(".att"), true},
		{"referrers", path("/referrers/"), true},
		{"fallback index", func(r *http.Request) bool {
			return strings.Contains(r.URL.Path, "/manifests/sha256-") && !strings.Contains(r.URL.Path, ".")
		}, false},
		{"blob", path("/blobs/"), true},
		{"referrer manifest", path("/manifests/sha256:"), true},
	}
	o := signing.VerifyOptions{Keys: []signing.PublicKey{k.publicKey(t, "k")}, RemoteOptions: []remote.Option{fastRetries}}

	for _, reg := range registries(p) {
		for _, fault := range []testenv.Fault{testenv.FaultStatus500, testenv.FaultStatus429, testenv.FaultReset} {
			var filter atomic.Pointer[func(*http.Request) bool]
			proxy, err := testenv.StartFaultProxy(reg.Host, testenv.FaultOptions{Rate: 1, Faults: []testenv.Fault{fault}, Only: func(r *http.Request) bool {
				f := filter.Load()
				return f != nil && (*f)(r)
			}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(proxy.Stop)
			// One image signed and attested both ways, one not at all.
			signed := pushImage(t, proxy.Host, "verify/fail-closed-signed")
			unsigned := pushImage(t, proxy.Host, "verify/fail-closed-unsigned")
			st, err := provenance().Statement(signed)
			if err != nil {
				t.Fatal(err)
			}
			for _, format := range []signing.Format{signing.FormatSigTag, signing.FormatBundle} {
				if _, err := signing.Sign(t.Context(), key, signed, signing.Options{Format: format}); err != nil {
					t.Fatal(err)
				}
				if _, err := signing.Attest(t.Context(), key, signed, st, signing.Options{Format: format}); err != nil {
					t.Fatal(err)
				}
			}
			// Without faults, the verdicts are the real ones.
			if _, err := signing.Verify(t.Context(), signed, o); err != nil {
				t.Fatalf("Verify through the proxy: %v", err)
			}
			if _, _, err := signing.VerifyAttestation(t.Context(), signed, signing.ProvenancePredicateType, o); err != nil {
				t.Fatalf("VerifyAttestation through the proxy: %v", err)
			}
			_, err = signing.Verify(t.Context(), unsigned, o)
			wantVerdict(t, err, signing.ErrUnsigned, "unsigned")

			for _, req := range requests {
				if reg.Referrers && !req.registryWithReferrers {
					continue
				}
				t.Run(fmt.Sprintf("referrers=%v/%s/%s", reg.Referrers, req.name, fault), func(t *testing.T) {
					filter.Store(&req.only)
					defer filter.Store(nil)
					injected := 0
					check := func(what string, img name.Digest, v *signing.Verified, err error, before int) {
						t.Helper()
						if proxy.Stats().Injected[fault] == before {
							return // this lookup made no such request
						}
						injected++
						if v != nil {
							t.Errorf("%s %s passed through a failing registry: %+v", what, img.Context().RepositoryStr(), v)
						}
						if c := exit.ClassOf(err); c != exit.Infra {
							t.Errorf("%s %s: class %v, want infrastructure: %v", what, img.Context().RepositoryStr(), c, err)
						}
						if errors.Is(err, signing.ErrUnsigned) {
							t.Errorf("%s %s: reported unsigned: %v", what, img.Context().RepositoryStr(), err)
						}
					}
					// A pass in the sig-tag format spares reading the bundles, so
					// look at the bundles alone too.
					bundleOnly := o
					bundleOnly.Formats = []signing.Format{signing.FormatBundle}
					for _, o := range []signing.VerifyOptions{o, bundleOnly} {
						for _, img := range []name.Digest{signed, unsigned} {
							before := proxy.Stats().Injected[fault]
							v, err := signing.Verify(t.Context(), img, o)
							check("Verify", img, v, err, before)
							before = proxy.Stats().Injected[fault]
							v, _, err = signing.VerifyAttestation(t.Context(), img, signing.ProvenancePredicateType, o)
							check("VerifyAttestation", img, v, err, before)
						}
					}
					if injected == 0 {
						t.Errorf("no request failed; the filter matches nothing")
					}
				})
			}
		}
	}
}

// TestVerifyMalformedSignatureImage answers the .sig tag with a manifest
// that does not parse; a registry glitch, not "unsigned".
func TestVerifyMalformedSignatureImage(t *testing.T) {
	p := platform.Get(t)
	k := newTestKey(t)
	direct := pushImage(t, p.Registry.Host, "verify/malformed")
	proxy := answeringProxy(t, p.Registry.Host, func(r *http.Request) bool {
		return strings.HasSuffix(r.URL.Path, ".sig")
	}, "application/vnd.oci.image.manifest.v1+json", `{"schemaVersion":2,"layers":{"not":"a list"}}`)
	img, err := name.NewDigest(proxy+"/verify/malformed@"+direct.DigestStr(), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	v, err := signing.Verify(t.Context(), img, signing.VerifyOptions{Keys: []signing.PublicKey{k.publicKey(t, "k")}})
	if v != nil || exit.ClassOf(err) != exit.Infra || !strings.Contains(fmt.Sprint(err), "malformed manifest") {
		t.Fatalf("Verify = %+v, %v; want an infrastructure error about a malformed manifest", v, err)
	}
}

func TestVerifyUnsigned(t *testing.T) {
	p := platform.Get(t)
	k := newTestKey(t)
	for _, reg := range registries(p) {
		img := pushImage(t, reg.Host, "verify/unsigned")
		_, err := signing.Verify(t.Context(), img, signing.VerifyOptions{Keys: []signing.PublicKey{k.publicKey(t, "k")}})
		wantVerdict(t, err, signing.ErrUnsigned, "unsigned: no signature in "+sigTag(img).String()+" or the bundle referrers of "+img.DigestStr())
	}
}

// TestVerifyRequestCount checks that many verifications sharing a puller
// ping and authenticate once and read only what they need: the .sig
// manifest, its one payload blob, and the referrers listing (with its
// fallback tag on a registry without the API).
func TestVerifyRequestCount(t *testing.T) {
	p := platform.Get(t)
	k := newTestKey(t)
	key := k.load(t)
	proxy, err := testenv.StartFaultProxy(p.Registry.Host, testenv.FaultOptions{Only: func(*http.Request) bool { return false }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Stop)
	const n, repos = 10, 2
	var imgs []name.Digest
	for i := range n {
		img := pushImage(t, proxy.Host, fmt.Sprintf("verify/count%d", i%repos))
		if _, err := signing.Sign(t.Context(), key, img, signing.Options{}); err != nil {
			t.Fatal(err)
		}
		imgs = append(imgs, img)
	}
	puller, err := remote.NewPuller(remote.WithContext(t.Context()))
	if err != nil {
		t.Fatal(err)
	}
	o := signing.VerifyOptions{Keys: []signing.PublicKey{k.publicKey(t, "k")}, RemoteOptions: []remote.Option{remote.Reuse(puller)}}
	before := proxy.Stats().Requests
	for _, img := range imgs {
		if _, err := signing.Verify(t.Context(), img, o); err != nil {
			t.Fatal(err)
		}
	}
	// Per image: .sig manifest, payload blob, referrers (404), fallback tag
	// (404). Per repository: go-containerregistry's ping (and the token on a
	// registry with authentication, whose scope is the repository).
	if got, most := proxy.Stats().Requests-before, 4*n+repos; got > most {
		t.Errorf("%d requests for %d verifications, want at most %d", got, n, most)
	}
}

func BenchmarkVerify(b *testing.B) {
	p := platform.Get(b)
	k := newTestKey(b)
	img := pushImage(b, p.Registry.Host, "verify/bench")
	if _, err := signing.Sign(b.Context(), k.load(b), img, signing.Options{}); err != nil {
		b.Fatal(err)
	}
	puller, err := remote.NewPuller()
	if err != nil {
		b.Fatal(err)
	}
	o := signing.VerifyOptions{Keys: []signing.PublicKey{k.publicKey(b, "k")}, RemoteOptions: []remote.Option{remote.Reuse(puller)}}
	for b.Loop() {
		if _, err := signing.Verify(b.Context(), img, o); err != nil {
			b.Fatal(err)
		}
	}
}

func TestLoadPublicKey(t *testing.T) {
	k := newTestKey(t)
	pubPEM := func(pub any) []byte {
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	rsa2048, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)

	good := map[string][]byte{
		"cosign P-256": k.PubPEM,
		"P-384":        pubPEM(&p384.PublicKey),
		"ed25519":      pubPEM(edPub),
		"RSA 2048":     pubPEM(&rsa2048.PublicKey),
		"RSA PKCS#1":   pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&rsa2048.PublicKey)}),
	}
	for name, data := range good {
		if _, err := signing.LoadPublicKey("k", data); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	bad := []struct {
		name, id string
		pem      []byte
		want     string
	}{
		{"no id", "", k.PubPEM, "public key: no id"},
		{"garbage", "k1", []byte("canary-not-a-key"), "public key k1: not PEM"},
		{"private key", "k1", k.PEM, "public key k1: this is a private key"},
		{"certificate", "k1", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("canary")}), `PEM block "CERTIFICATE" is not a public key`},
		{"P-224", "k1", pubPEM(&p224.PublicKey), "curve P-224 is not supported"},
		{"RSA 1024", "k1", pubPEM(&rsa1024.PublicKey), "RSA key of 1024 bits is too short"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := signing.LoadPublicKey(tt.id, tt.pem)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want %q", err, tt.want)
			}
			if exit.ClassOf(err) != exit.Usage {
				t.Errorf("class = %v, want usage", exit.ClassOf(err))
			}
			for _, secret := range append(pemBodyLines(k.PEM), "canary") {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q quotes the key", err)
				}
			}
		})
	}
}

func TestVerifyOptionErrors(t *testing.T) {
	p := platform.Get(t)
	k := newTestKey(t)
	img := pushImage(t, p.Registry.Host, "verify/options")
	good := k.publicKey(t, "k")
	tests := []struct {
		name string
		o    signing.VerifyOptions
		want string
	}{
		{"no keys", signing.VerifyOptions{}, "no public keys"},
		{"bad PEM", signing.VerifyOptions{Keys: []signing.PublicKey{{ID: "broken", PEM: []byte("nope")}}}, "public key broken: not PEM"},
		{"duplicate id", signing.VerifyOptions{Keys: []signing.PublicKey{good, good}}, "listed twice"},
		{"bad format", signing.VerifyOptions{Keys: []signing.PublicKey{good}, Formats: []signing.Format{"notation"}}, `signature format "notation"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := signing.Verify(t.Context(), img, tt.o)
			if exit.ClassOf(err) != exit.Usage || !strings.Contains(fmt.Sprint(err), tt.want) {
				t.Fatalf("Verify: %v, want a usage error containing %q", err, tt.want)
			}
		})
	}
	// A key built by hand, not by LoadPublicKey, works as well.
	if _, err := signing.Sign(t.Context(), k.load(t), img, signing.Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := signing.Verify(t.Context(), img, signing.VerifyOptions{Keys: []signing.PublicKey{{ID: "k", PEM: k.PubPEM}}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := signing.VerifyAttestation(t.Context(), img, "", signing.VerifyOptions{Keys: []signing.PublicKey{good}}); exit.ClassOf(err) != exit.Usage {
		t.Errorf("VerifyAttestation without a predicate type: %v, want a usage error", err)
	}
}
