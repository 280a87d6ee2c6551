package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/stepper-cd/stepper/internal/release"
	"github.com/stepper-cd/stepper/internal/signing"
	"github.com/stepper-cd/stepper/internal/testenv"
)

// attestKeyPassword encrypts the signing key of the --attest tests, with
// the characters JSON and URL escaping change; a test value that must
// never be printed.
const attestKeyPassword = `attest"Pw&9<z`

// attestConfig is the validate fixture's platform with its key as
// signing.key, its password from the environment, written in format.
func (f *valFixture) attestConfig(t *testing.T, format signing.Format) string {
	t.Helper()
	key := filepath.Join(t.TempDir(), "cosign.key")
	reencryptKey(t, f.key.Private, key, attestKeyPassword)
	return writeConfig(t, fmt.Sprintf(`
registry: {host: %q, project: vendor-x}
baseImages: [%q]
signing:
  key: "file://%s"
  password: env://STEPPER_TEST_KEY_PASSWORD
  publicKeys: [{id: vendor-2026, path: %q}]
  format: %s
`, f.host, f.host+"/base/static", key, f.key.Public, format))
}

// validateVerdicts are the validate records on img that verify with the
// fixture's key.
func (f *valFixture) validateVerdicts(t *testing.T, img name.Digest) ([]release.ValidationEvidence, error) {
	t.Helper()
	pub, err := signing.LoadPublicKey("vendor-2026", mustRead(t, f.key.Public))
	if err != nil {
		t.Fatal(err)
	}
	vs, err := signing.VerifyAttestations(t.Context(), img, release.ValidatePredicateType, signing.VerifyOptions{Keys: []signing.PublicKey{pub}})
	var evs []release.ValidationEvidence
	for _, v := range vs {
		ev, err := release.DecodeValidationEvidence(v.Statement.Predicate)
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	return evs, err
}

// validate --attest signs each app's verdict and attaches it to the image
// digest: passed for the good image, failed (and still attached) for one
// running as root; both read back with VerifyAttestations and verify with
// the official cosign CLI. The key's password is printed nowhere.
func TestValidateAttestRecordsTheVerdict(t *testing.T) {
	f := newValFixture(t)
	bin := stepperBinary(t)
	env := []string{"HOME=" + t.TempDir(), "STEPPER_TEST_KEY_PASSWORD=" + attestKeyPassword, "GITLAB_CI=true",
		"CI_PIPELINE_URL=https://gitlab.example.test/vendor-x/patient-api/-/pipelines/7"}
	// The password as JSON writes it, in logs and the result file.
	quoted, _ := json.Marshal(attestKeyPassword)
	escaped := strings.Trim(string(quoted), `"`)
	for _, tc := range []struct {
		app    string
		format signing.Format
		code   int
		passed bool
	}{
		{"good", signing.FormatSigTag, 0, true},
		{"case-image-non-root", signing.FormatBundle, 1, false},
	} {
		t.Run(tc.app, func(t *testing.T) {
			config := f.attestConfig(t, tc.format)
			ref := f.host + "/vendor-x/" + tc.app + "@" + f.digests[tc.app]
			img, err := name.NewDigest(ref, name.Insecure)
			if err != nil {
				t.Fatal(err)
			}
			result := filepath.Join(t.TempDir(), "validate.json")
			args := []string{"validate", "-c", config, "--app", "patient-api", "--image", ref, "--attest",
				"--result", result, "-o", "json", "--log-format", "json", "--log-level", "debug"}

			// A dry run attaches nothing.
			if r := runBinary(t, bin, env, t.TempDir(), append(args, "--dry-run")...); r.code != tc.code {
				t.Fatalf("--dry-run: exit %d, want %d\n%s", r.code, tc.code, r.stderr)
			}
			if _, err := f.validateVerdicts(t, img); !errors.Is(err, signing.ErrUnsigned) {
				t.Fatalf("after --dry-run: %v, want no validate record", err)
			}

			r := runBinary(t, bin, env, t.TempDir(), args...)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tc.code, r.stdout, r.stderr)
			}
			written := string(mustRead(t, result))
			for where, out := range map[string]string{"stdout": r.stdout, "stderr": r.stderr, "the result file": written} {
				if strings.Contains(out, attestKeyPassword) || strings.Contains(out, escaped) {
					t.Errorf("the signing key's password is in %s", where)
				}
			}
			evs, err := f.validateVerdicts(t, img)
			if err != nil {
				t.Fatalf("VerifyAttestations: %v", err)
			}
			if len(evs) != 1 {
				t.Fatalf("%d validate records, want 1: %+v", len(evs), evs)
			}
			ev := evs[0]
			if ev.Passed != tc.passed || ev.App != "patient-api" || ev.Digest != f.digests[tc.app] || ev.Image != ref || ev.Rules == 0 ||
				ev.PipelineURL != "https://gitlab.example.test/vendor-x/patient-api/-/pipelines/7" || ev.StepperVersion == "" || ev.ValidatedAt.IsZero() {
				t.Errorf("validate record %+v, want passed=%v for patient-api at %s", ev, tc.passed, f.digests[tc.app])
			}
			if tc.passed != (ev.Proves("patient-api", f.digests[tc.app]) == nil) {
				t.Errorf("Proves = %v for a record with passed=%v", ev.Proves("patient-api", f.digests[tc.app]), tc.passed)
			}
			var res struct{ Outputs map[string]string }
			if err := json.Unmarshal([]byte(written), &res); err != nil {
				t.Fatal(err)
			}
			if att := res.Outputs[release.OutValidateAttestation]; att == "" || !strings.HasPrefix(att, f.host+"/vendor-x/"+tc.app) {
				t.Errorf("outputs.%s = %q, want the attestation on %s", release.OutValidateAttestation, att, ref)
			}

			cosignArgs := []string{"verify-attestation", "--key", f.key.Public, "--insecure-ignore-tlog=true", "--allow-http-registry",
				"--type", release.ValidatePredicateType}
			if tc.format == signing.FormatBundle {
				cosignArgs = append(cosignArgs, "--new-bundle-format=true")
			}
			out, err := testenv.Cosign(t, nil, append(cosignArgs, ref)...)
			if err != nil {
				t.Fatalf("cosign %s: %v\n%s", strings.Join(cosignArgs, " "), err, out)
			}
			var st struct{ Predicate json.RawMessage }
			if err := json.Unmarshal([]byte(provenanceOf(t, out)), &st); err != nil {
				t.Fatal(err)
			}
			if cev, err := release.DecodeValidationEvidence(st.Predicate); err != nil || cev.Passed != tc.passed || cev.Digest != f.digests[tc.app] {
				t.Errorf("cosign verified %+v (%v), want passed=%v for %s", cev, err, tc.passed, f.digests[tc.app])
			}
		})
	}
}

// --attest signs with signing.key: without one it is a usage error that
// names the key, before anything is checked; without --attest validate
// needs no key.
func TestValidateAttestNeedsSigningKey(t *testing.T) {
	f := newValFixture(t)
	bin := stepperBinary(t)
	ref := f.host + "/vendor-x/good@" + f.digests["good"]
	env := []string{"HOME=" + t.TempDir()}
	r := runBinary(t, bin, env, t.TempDir(), "validate", "-c", f.config, "--app", "patient-api", "--image", ref, "--attest")
	if r.code != 2 || !strings.Contains(r.stderr, "signing.key") {
		t.Errorf("--attest without signing.key: exit %d, want 2 naming signing.key\n%s", r.code, r.stderr)
	}
	if r := runBinary(t, bin, env, t.TempDir(), "validate", "-c", f.config, "--app", "patient-api", "--image", ref); r.code != 0 {
		t.Errorf("without --attest: exit %d\n%s", r.code, r.stderr)
	}
}
