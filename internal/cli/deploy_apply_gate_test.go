package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stepper-cd/stepper/internal/testenv"
)

// The apply job checks the evidence promote checks: a digest written into
// an environment's desired state by hand, without passing the environment
// before it, is refused there and nothing is installed. A platform can
// switch the check off per environment, and the run says so.
func TestDeployApplyRefusesUnpromotedDigests(t *testing.T) {
	f := newApplyFixture(t)
	// devtest is entered from qa: a release must have been validated, and
	// smoke-tested in qa, to be installed there.
	chained := "chains: {main: [qa, " + applyEnv + "]}\n" + string(mustRead(t, f.config)) + "  - name: qa\n"
	gated := writeConfig(t, chained)
	off := writeConfig(t, strings.Replace(chained, "  - name: "+applyEnv+"\n", "  - name: "+applyEnv+"\n    gates: {off: [apply]}\n", 1))
	ns := f.ns("gate")
	dsf := f.writeDSF(t, dsfApp{name: "patient-api", ns: ns, version: "1.5.0"})
	image := f.imageRepo + ":2.7.0@" + f.imageDigest

	f.config = gated
	r := runCLI(t, f.environ, f.args(dsf)...)
	if r.code != 1 || !strings.Contains(r.stderr, "gate smoke-tested") || !strings.Contains(r.stderr, "gate validated") ||
		!strings.Contains(r.stderr, "in qa") || !strings.Contains(r.stderr, "stepper promote") {
		t.Fatalf("apply of an unpromoted digest: exit %d, want 1 naming the gates, qa and promote\n%s", r.code, r.stderr)
	}
	if n := f.releaseSecrets(t, ns); n != 0 {
		t.Fatalf("the refused apply wrote %d release records", n)
	}

	// Switched off: installed, and the run says the gate is off.
	f.config = off
	if r := f.apply(t, dsf); !strings.Contains(r.stderr, "apply gate is switched off") {
		t.Errorf("apply with the gate off does not say so:\n%s", r.stderr)
	}

	// With the evidence: validated and smoke-tested in qa.
	f.config = gated
	if r := runCLI(t, f.environ, "validate", "-c", gated, "--log-format", "json", "--image", image, "--app", "patient-api", "--attest"); r.code != 0 {
		t.Fatalf("validate --attest: exit %d\n%s", r.code, r.stderr)
	}
	url := runSmokeApp(t)
	if r := runCLI(t, f.environ, "smoke-test", "-c", gated, "--log-format", "json", "--env", "qa", "--app", "patient-api",
		"--url", url, "--no-wait", "--soak", "0", "--image", image); r.code != 0 {
		t.Fatalf("smoke-test --env qa: exit %d\n%s", r.code, r.stderr)
	}
	f.apply(t, dsf)
	f.ready(t, "patient-api", ns)

	// Evidence of another app does not do.
	other := f.writeDSF(t, dsfApp{name: "billing-api", ns: f.ns("gate2"), version: "1.5.0"})
	if r := runCLI(t, f.environ, f.args(other)...); r.code != 1 || !strings.Contains(r.stderr, "about app patient-api, not billing-api") {
		t.Errorf("apply of billing-api with patient-api's evidence: exit %d\n%s", r.code, r.stderr)
	}
	_ = os.Remove(other)
}

// Where the platform names evidence keys, evidence counts only when one of
// them signed it: a vendor's own key, approved for its images, cannot sign
// "smoke-tested" about them.
func TestEvidenceMustCarryThePlatformsKey(t *testing.T) {
	f := newApplyFixture(t)
	platformKey, err := testenv.NewCosignKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	pw := filepath.Join(t.TempDir(), "test-only-platform-password")
	if err := os.WriteFile(pw, []byte(testenv.TestOnlyKeyPassword), 0o600); err != nil {
		t.Fatal(err)
	}
	evidenceKeys := "  evidenceKeys: [{id: test-only-platform, path: \"" + platformKey.Public + "\"}]\n"
	base := strings.Replace(string(mustRead(t, f.config)), "signing:\n", "signing:\n"+evidenceKeys, 1)
	chained := "chains: {main: [qa, " + applyEnv + "]}\n" + base + "  - name: qa\n"
	vendor := writeConfig(t, chained)
	platform := writeConfig(t, strings.Replace(chained, "signing:\n", "signing:\n  evidenceKey: \"file://"+platformKey.Private+"\"\n  evidencePassword: \"file://"+pw+"\"\n", 1))
	ns := f.ns("evkey")
	dsf := f.writeDSF(t, dsfApp{name: "patient-api", ns: ns, version: "1.5.0"})
	image := f.imageRepo + ":2.7.0@" + f.imageDigest
	attest := func(cfg string) {
		t.Helper()
		if r := runCLI(t, f.environ, "validate", "-c", cfg, "--log-format", "json", "--image", image, "--app", "patient-api", "--attest"); r.code != 0 {
			t.Fatalf("validate --attest: exit %d\n%s", r.code, r.stderr)
		}
		if r := runCLI(t, f.environ, "smoke-test", "-c", cfg, "--log-format", "json", "--env", "qa", "--app", "patient-api",
			"--url", runSmokeApp(t), "--no-wait", "--soak", "0", "--image", image); r.code != 0 {
			t.Fatalf("smoke-test --env qa: exit %d\n%s", r.code, r.stderr)
		}
	}

	attest(vendor) // signed with the vendor's key
	f.config = vendor
	if r := runCLI(t, f.environ, f.args(dsf)...); r.code != 1 || !strings.Contains(r.stderr, "gate smoke-tested") {
		t.Fatalf("apply with evidence signed by the vendor's key: exit %d, want 1\n%s", r.code, r.stderr)
	}
	if n := f.releaseSecrets(t, ns); n != 0 {
		t.Fatalf("the refused apply wrote %d release records", n)
	}
	attest(platform) // signed with the platform's evidence key
	f.apply(t, dsf)
}
