package cli

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/stepper-cd/stepper/internal/release"
	"github.com/stepper-cd/stepper/internal/testenv"
)

var (
	smokeAppOnce sync.Once
	smokeAppBin  string
	smokeAppErr  error
)

// smokeApp builds testdata/smoke/app, a small HTTP service that stands in for
// the app a release runs: the cluster (kwok) runs no containers, so the
// checks talk to this local process.
func smokeApp(t *testing.T) string {
	t.Helper()
	smokeAppOnce.Do(func() {
		dir, err := os.MkdirTemp("", "stepper-smoke-app-")
		if err != nil {
			smokeAppErr = err
			return
		}
		smokeAppBin = filepath.Join(dir, "app")
		out, err := exec.Command("go", "build", "-o", smokeAppBin, filepath.Join("..", "..", "testdata", "smoke", "app")).CombinedOutput()
		if err != nil {
			smokeAppErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if smokeAppErr != nil {
		t.Fatal(smokeAppErr)
	}
	return smokeAppBin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// runSmokeApp starts the app with env and returns its base URL.
func runSmokeApp(t *testing.T, env ...string) string {
	t.Helper()
	addr := freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(smokeApp(t))
	cmd.Env = append([]string{"PORT=" + port}, env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() })
	return "http://" + addr
}

// smokeFixture is a signed image, a release of it on the local cluster and
// a stepper.yaml with the signing key for the evidence.
type smokeFixture struct {
	apply  *applyFixture
	bsp    *bspFixture
	built  string
	ns     string
	config string
}

func newSmokeFixture(t *testing.T, values string) *smokeFixture {
	t.Helper()
	f := &smokeFixture{apply: newApplyFixture(t)}
	f.bsp = newBSPFixture(t, "environments:\n  - name: "+applyEnv+"\n")
	args := f.bsp.args(t, "--tag", "smoke", "--allow-retag")
	if r := runCLI(t, f.bsp.environ, args...); r.code != 0 {
		t.Fatalf("build-sign-push: exit %d\n%s", r.code, r.stderr)
	}
	f.built = flagValue(t, args, "--result")
	f.config = f.bsp.config
	f.ns = f.apply.ns("smoke")
	app := dsfApp{name: "api", ns: f.ns, version: "1.4.0"}
	if values != "" {
		f.apply.writeState(t, "chaos.yaml", values)
		app.valuesFiles = []string{"chaos.yaml"}
	}
	state := f.apply.writeDSF(t, app)
	r := runCLI(t, f.apply.environ, f.apply.args(state)...)
	if values == "" && r.code != 0 {
		t.Fatalf("apply: exit %d\n%s", r.code, r.stderr)
	}
	return f
}

func (f *smokeFixture) args(t *testing.T, extra ...string) []string {
	return append([]string{"smoke-test", "-c", f.config, "--log-format", "json", "--env", applyEnv, "--app", "api",
		"--namespace", f.ns, "--kubeconfig", f.apply.kubeconfig, "--from-result", f.built,
		"--result", filepath.Join(t.TempDir(), "smoke.json"), "--junit", filepath.Join(t.TempDir(), "smoke.xml")}, extra...)
}

// A healthy release passes every check, and the signed evidence verifies
// with the official cosign CLI.
func TestSmokeTestHealthyAppLeavesEvidence(t *testing.T) {
	f := newSmokeFixture(t, "")
	capture := freeAddr(t)
	url := runSmokeApp(t, "DOWNSTREAM_URL=http://"+capture+"/downstream")
	args := f.args(t, "--url", url, "--check", "/api/ping json=status=ok", "--b3-path", "/api/ping", "--b3-listen", capture, "--soak", "1s")
	r := runCLI(t, f.bsp.environ, args...)
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	res := resultOf(t, args)
	if len(res.Checks) != 5 { // rollout, /healthz, --check, B3, soak
		t.Errorf("%d checks: %+v", len(res.Checks), res.Checks)
	}
	testenv.ValidateJUnit(t, flagValue(t, args, "--junit"))
	if got := res.Outputs[release.OutChecks]; got != "rollout,health,http,b3,soak" {
		t.Errorf("outputs.checks = %q", got)
	}
	out, err := testenv.Cosign(t, nil, "verify-attestation", "--key", f.bsp.key.Public, "--insecure-ignore-tlog=true",
		"--allow-http-registry", "--type", release.SmokePredicateType, res.Image+"@"+res.Digest)
	if err != nil {
		t.Fatalf("cosign verify-attestation: %v\n%s", err, out)
	}
	ev := smokeEvidenceOf(t, out)
	if ev.Environment != applyEnv || ev.Digest != res.Digest || ev.ChartVersion != "1.4.0" {
		t.Errorf("evidence names %s, %s, chart %q; want %s, %s, chart 1.4.0", ev.Environment, ev.Digest, ev.ChartVersion, applyEnv, res.Digest)
	}
	if got := strings.Join(ev.Kinds(), ","); got != "b3,health,http,rollout,soak" {
		t.Errorf("evidence check kinds %s", got)
	}
	if !slices.ContainsFunc(ev.Checks, func(c release.CheckRecord) bool { return strings.Contains(c.Name, "B3 headers propagate") }) {
		t.Errorf("evidence has no B3 check: %+v", ev.Checks)
	}
}

// smokeEvidenceOf is the smoke-test predicate of a statement cosign
// verify-attestation printed.
func smokeEvidenceOf(t *testing.T, out string) release.SmokeEvidence {
	t.Helper()
	var st struct{ Predicate json.RawMessage }
	if err := json.Unmarshal([]byte(provenanceOf(t, out)), &st); err != nil {
		t.Fatal(err)
	}
	ev, err := release.DecodeSmokeEvidence(st.Predicate)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// Without a URL only the rollout is checked, which proves the pods
// started, not that the app answers: no evidence is signed for it unless
// smokeTest.allowRolloutOnly says so, and then it says it is rollout only.
func TestSmokeTestRolloutOnlyIsNotEvidence(t *testing.T) {
	f := newSmokeFixture(t, "")
	args := f.args(t, "--soak", "0")
	r := runCLI(t, f.bsp.environ, args...)
	if r.code != 2 || !strings.Contains(r.stderr, "--url") || !strings.Contains(r.stderr, "smokeTest.allowRolloutOnly") {
		t.Fatalf("exit %d, want 2 naming --url and smokeTest.allowRolloutOnly\n%s", r.code, r.stderr)
	}
	if att := resultOf(t, args).Outputs[release.OutSmokeAttestation]; att != "" {
		t.Errorf("rollout-only evidence attached: %s", att)
	}

	base, err := os.ReadFile(f.config)
	if err != nil {
		t.Fatal(err)
	}
	f.config = filepath.Join(t.TempDir(), "stepper.yaml")
	os.WriteFile(f.config, append(base, "\nsmokeTest:\n  allowRolloutOnly: true\n"...), 0o600)
	args = f.args(t, "--soak", "0")
	if r := runCLI(t, f.bsp.environ, args...); r.code != 0 {
		t.Fatalf("with smokeTest.allowRolloutOnly: exit %d\n%s", r.code, r.stderr)
	}
	res := resultOf(t, args)
	out, err := testenv.Cosign(t, nil, "verify-attestation", "--key", f.bsp.key.Public, "--insecure-ignore-tlog=true",
		"--allow-http-registry", "--type", release.SmokePredicateType, res.Image+"@"+res.Digest)
	if err != nil {
		t.Fatalf("cosign verify-attestation: %v\n%s", err, out)
	}
	if ev := smokeEvidenceOf(t, out); ev.RanHTTPChecks() || strings.Join(ev.Kinds(), ",") != "rollout" {
		t.Errorf("rollout-only evidence records kinds %v", ev.Kinds())
	}
}

// A 500 on /healthz, and an app that drops B3 headers, fail with the
// failing check named; no evidence is attached.
func TestSmokeTestFailures(t *testing.T) {
	f := newSmokeFixture(t, "")
	for _, tc := range []struct {
		name, want string
		env        []string
		extra      []string
	}{
		{name: "healthz 500", env: []string{"HEALTH_STATUS=500"}, want: "status 500"},
		{name: "B3 dropped", env: []string{"DROP_B3=true"}, want: "X-B3-TraceId", extra: []string{"--b3-path", "/api/ping"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			capture := freeAddr(t)
			url := runSmokeApp(t, append(tc.env, "DOWNSTREAM_URL=http://"+capture+"/downstream")...)
			args := f.args(t, append([]string{"--url", url, "--b3-listen", capture, "--timeout", "3s", "--soak", "0"}, tc.extra...)...)
			r := runCLI(t, f.bsp.environ, args...)
			if r.code != 1 {
				t.Fatalf("exit %d, want 1\n%s", r.code, r.stderr)
			}
			res := resultOf(t, args)
			if res.Outputs["smoke-attestation"] != "" {
				t.Error("a failed smoke test attached evidence")
			}
			found := false
			for _, c := range res.Checks {
				if c.Status == "failed" && strings.Contains(c.Message, tc.want) {
					found = true
				}
			}
			if !found {
				t.Errorf("no failed check says %q: %+v", tc.want, res.Checks)
			}
			testenv.ValidateJUnit(t, flagValue(t, args, "--junit"))
		})
	}
}

// A crash-looping release fails the rollout check fast, with a diagnosis.
func TestSmokeTestCrashLoopFailsFast(t *testing.T) {
	f := newSmokeFixture(t, chaosValues)
	args := f.args(t, "--timeout", "2m", "--soak", "0", "--no-evidence")
	r := runCLI(t, f.bsp.environ, args...)
	if r.code != 1 || !strings.Contains(r.stderr, "rollout") {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "Failed") {
		t.Errorf("no diagnosis in:\n%s", r.stderr)
	}
}

// --dry-run lists the checks and runs none.
func TestSmokeTestDryRun(t *testing.T) {
	cfg := writeConfig(t, "environments:\n  - name: inttest\n")
	r := runCLI(t, nil, "smoke-test", "-c", cfg, "--env", "inttest", "--app", "api", "--url", "http://127.0.0.1:1",
		"--check", "/api/ping status=200", "--b3-path", "/api/ping", "--dry-run")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"GET http://127.0.0.1:1/healthz answers 200", "check /api/ping status=200", "B3 headers", "soak", "evidence"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("dry run does not list %q:\n%s", want, r.stdout)
		}
	}
}

// The platform's standard checks come from stepper.yaml when the flags
// give none.
func TestSmokeTestChecksFromConfig(t *testing.T) {
	cfg := writeConfig(t, `
environments:
  - name: inttest
smokeTest:
  healthPaths: [/healthz, /readyz]
  checks: ["/api/version body=2."]
  b3Path: /api/ping
  soak: 30s
`)
	r := runCLI(t, nil, "smoke-test", "-c", cfg, "--env", "inttest", "--app", "api", "--url", "http://127.0.0.1:1", "--dry-run")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"/readyz answers 200", "check /api/version body=2.", "B3 headers sent to http://127.0.0.1:1/api/ping", "30s soak"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("dry run does not list %q:\n%s", want, r.stdout)
		}
	}
}

// Without --url the app's host name comes from its DNS values in the
// environment's desired state, read from a fresh clone of the repository.
func TestSmokeTestURLFromDesiredState(t *testing.T) {
	git, err := testenv.StartGitServer(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(git.Stop)
	repo, err := git.NewRepo("vendor-x/env", seedFrom(t, filepath.Join("..", "..", "testdata", "desiredstate", "helmsman")))
	if err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, fmt.Sprintf(`
environments:
  - name: exttest
    desiredState: {repo: %q, branch: master, path: exttest.yaml, format: helmsman}
`, repo.HTTPURL))
	r := runCLI(t, nil, "smoke-test", "-c", cfg, "--env", "exttest", "--app", "patient-api", "--dry-run")
	if r.code != 0 || !strings.Contains(r.stdout, "GET https://patients.exttest.ehealth.example/healthz answers 200") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
}
