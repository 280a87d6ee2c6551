package signing_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/stepper-cd/stepper/internal/signing"
)

// smokeType stands for an attestation an image gets once per environment,
// as smoke-test's does.
const smokeType = "https://example.test/attestations/smoke-test/v1"

// smokeStatement is a smoke-style statement about img, tested in env.
func smokeStatement(t testing.TB, img name.Digest, env string) signing.Statement {
	t.Helper()
	pred, err := json.Marshal(map[string]string{"environment": env, "digest": img.DigestStr()})
	if err != nil {
		t.Fatal(err)
	}
	algorithm, hex, _ := strings.Cut(img.DigestStr(), ":")
	return signing.Statement{
		Type:          signing.StatementType,
		Subject:       []signing.Subject{{Name: img.Context().Name(), Digest: map[string]string{algorithm: hex}}},
		PredicateType: smokeType,
		Predicate:     pred,
	}
}

// environments are the environments the statements name, in order.
func environments(t testing.TB, vs []signing.VerifiedStatement) []string {
	t.Helper()
	var envs []string
	for _, v := range vs {
		var pred struct{ Environment string }
		if err := json.Unmarshal(v.Statement.Predicate, &pred); err != nil {
			t.Fatalf("predicate of %s: %v", v.Ref, err)
		}
		envs = append(envs, pred.Environment)
	}
	return envs
}

// Two environments' attestations by the approved key are both returned,
// newest first; one by a key that is not approved, and one of another
// predicate type, are left out.
func TestVerifyAttestationsReturnsEvery(t *testing.T) {
	p := platform.Get(t)
	approved, stranger := newTestKey(t), newTestKey(t)
	approvedKey, strangerKey := approved.load(t), stranger.load(t)
	o := signing.VerifyOptions{Keys: []signing.PublicKey{approved.publicKey(t, "approved")}}
	for _, reg := range registries(p) {
		for _, format := range []signing.Format{signing.FormatSigTag, signing.FormatBundle} {
			t.Run(fmt.Sprintf("%s/referrers=%v", format, reg.Referrers), func(t *testing.T) {
				img := pushImage(t, reg.Host, "verify/all-"+string(format))
				attest := func(key *signing.Key, st signing.Statement) string {
					t.Helper()
					ref, err := signing.Attest(t.Context(), key, img, st, signing.Options{Format: format})
					if err != nil {
						t.Fatal(err)
					}
					return ref
				}
				ref := attest(approvedKey, smokeStatement(t, img, "exttest"))
				attest(strangerKey, smokeStatement(t, img, "prod"))
				attest(approvedKey, smokeStatement(t, img, "preprod"))
				prov, err := provenance().Statement(img)
				if err != nil {
					t.Fatal(err)
				}
				attest(approvedKey, prov)

				got, err := signing.VerifyAttestations(t.Context(), img, smokeType, o)
				if err != nil {
					t.Fatalf("VerifyAttestations: %v", err)
				}
				envs := environments(t, got)
				// Bundle referrers are ordered by their creation time, to
				// the second: attested within one, their order is the
				// registry's listing. The .att image's layers always tell.
				want := []string{"preprod", "exttest"}
				if format == signing.FormatBundle {
					slices.Sort(envs)
					want = []string{"exttest", "preprod"}
				}
				if !slices.Equal(envs, want) {
					t.Fatalf("environments %v, want %v", envs, want)
				}
				for _, v := range got {
					if v.KeyID != "approved" || v.Format != format || v.Statement.PredicateType != smokeType {
						t.Errorf("verified %+v, want key approved, format %s, predicate type %s", v.Verified, format, smokeType)
					}
					if format == signing.FormatSigTag && v.Ref != ref {
						t.Errorf("ref %s, want %s", v.Ref, ref)
					}
				}

				// VerifyAttestation picks the first of them.
				v, st, err := signing.VerifyAttestation(t.Context(), img, smokeType, o)
				if err != nil {
					t.Fatalf("VerifyAttestation: %v", err)
				}
				if *v != got[0].Verified || string(st.Predicate) != string(got[0].Statement.Predicate) {
					t.Errorf("VerifyAttestation = %+v %s, want the first of VerifyAttestations, %+v %s", v, st.Predicate, got[0].Verified, got[0].Statement.Predicate)
				}
			})
		}
	}
}

// With no attestation by an approved key, the verdict is
// VerifyAttestation's.
func TestVerifyAttestationsVerdicts(t *testing.T) {
	p := platform.Get(t)
	approved, stranger := newTestKey(t), newTestKey(t)
	o := signing.VerifyOptions{Keys: []signing.PublicKey{approved.publicKey(t, "approved")}}
	for _, format := range []signing.Format{signing.FormatSigTag, signing.FormatBundle} {
		t.Run(string(format), func(t *testing.T) {
			img := pushImage(t, p.ReferrersRegistry.Host, "verify/all-verdicts-"+string(format))
			got, err := signing.VerifyAttestations(t.Context(), img, smokeType, o)
			if got != nil {
				t.Errorf("statements %+v for an image with none", got)
			}
			wantVerdict(t, err, signing.ErrUnsigned, "unsigned: no "+smokeType+" attestation")

			if _, err := signing.Attest(t.Context(), stranger.load(t), img, smokeStatement(t, img, "prod"), signing.Options{Format: format}); err != nil {
				t.Fatal(err)
			}
			got, err = signing.VerifyAttestations(t.Context(), img, smokeType, o)
			if got != nil {
				t.Errorf("statements %+v signed by no approved key", got)
			}
			wantVerdict(t, err, signing.ErrNoApprovedKey, "none verifies with the keys approved")
		})
	}
	img := pushImage(t, p.Registry.Host, "verify/all-no-type")
	if _, err := signing.VerifyAttestations(t.Context(), img, "", o); err == nil || !strings.Contains(err.Error(), "no predicate type") {
		t.Errorf("VerifyAttestations without a predicate type: %v", err)
	}
}

// One statement stored in both formats is one attestation: it is returned
// once, from the format looked at first.
func TestVerifyAttestationsDeduplicates(t *testing.T) {
	p := platform.Get(t)
	k := newTestKey(t)
	key := k.load(t)
	img := pushImage(t, p.ReferrersRegistry.Host, "verify/all-dedup")
	st := smokeStatement(t, img, "exttest")
	for _, format := range []signing.Format{signing.FormatBundle, signing.FormatSigTag} {
		if _, err := signing.Attest(t.Context(), key, img, st, signing.Options{Format: format}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := signing.VerifyAttestations(t.Context(), img, smokeType, signing.VerifyOptions{Keys: []signing.PublicKey{k.publicKey(t, "k")}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Format != signing.FormatSigTag {
		t.Errorf("got %d statements (%+v), want the sig-tag one alone", len(got), got)
	}
}
