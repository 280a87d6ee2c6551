package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stepper-cd/stepper/internal/report"
	"github.com/stepper-cd/stepper/internal/testenv"
)

// The samples carry on from their first environment: the release is
// validated with a signed attestation, smoke-tested with signed evidence,
// and promoted through every environment by each one's own route.

// validateAttest validates the built image and attaches the signed
// validate attestation promote asks for.
func (s *sample) validateAttest(t *testing.T, built string) {
	t.Helper()
	if r := s.stepper(t, "validate", "-c", s.file, "--log-format", "json", "--from-result", built, "--attest"); r.code != 0 {
		t.Fatalf("validate --attest: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
}

// smokeTest runs the platform's HTTP checks against a local copy of the
// app, as env's release, and attaches the signed evidence.
func (s *sample) smokeTest(t *testing.T, env, built string) {
	t.Helper()
	url := runSmokeApp(t)
	r := s.stepper(t, "smoke-test", "-c", s.file, "--log-format", "json", "--env", env, "--url", url,
		"--no-wait", "--soak", "0", "--from-result", built)
	if r.code != 0 {
		t.Fatalf("smoke-test --env %s: exit %d\n%s", env, r.code, r.stderr)
	}
}

// promote runs stepper promote with a result file and returns the run and
// the result.
func (s *sample) promote(t *testing.T, args ...string) (run, *report.Result) {
	t.Helper()
	result := filepath.Join(t.TempDir(), "promote.json")
	r := s.stepper(t, append([]string{"promote", "-c", s.file, "--log-format", "json", "--result", result}, args...)...)
	res, err := report.ReadJSON(result)
	if err != nil {
		t.Fatalf("promote %v: no result file (exit %d): %v\n%s", args, r.code, err, r.stderr)
	}
	return r, res
}

// gateVerdicts are the result's checks by name ("smoke-tested blog-service").
func gateVerdicts(res *report.Result) map[string]report.Status {
	out := map[string]report.Status{}
	for _, c := range res.Checks {
		out[c.Name] = c.Status
	}
	return out
}

// promoteShop: staging → production is the master- tag on the digest that
// passed staging, with no rebuild and no edit of the HelmRelease. Who
// promotes is GitLab's answer for the job token, not GITLAB_USER_LOGIN.
func promoteShop(t *testing.T, s *sample, repo *testenv.Repo, gitlab *testenv.FakeGitLab, built, base string) {
	prod := "hostedshop/blog-service:master-" + s.tag
	head := func() string { h, _ := repo.Rev("master"); return h }
	before := head()
	gitlab.AddGroup("hostedshop-maintainers", "maria")
	gitlab.AddJobToken("test-only-job-token-mallory", "mallory")
	gitlab.AddJobToken("test-only-job-token-maria", "maria")
	env := s.env
	as := func(token string) {
		s.env = append(append([]string(nil), env...), "CI_JOB_TOKEN="+token, "GITLAB_TOKEN="+gitlab.Token)
	}

	// No evidence yet: every missing gate is named, nothing moves.
	as("test-only-job-token-maria")
	r, res := s.promote(t, "--from", "staging")
	if r.code != 1 || !strings.Contains(r.stderr, "gate validated") || !strings.Contains(r.stderr, "gate smoke-tested") {
		t.Fatalf("promote without evidence: exit %d, want 1 naming the validated and smoke-tested gates\n%s", r.code, r.stderr)
	}
	if v := gateVerdicts(res); v["signed blog-service"] != report.Succeeded || v["smoke-tested blog-service"] != report.Failed {
		t.Errorf("gate verdicts without evidence: %v", v)
	}
	if got := s.tagDigest(t, prod); got != "" {
		t.Fatalf("a refused promotion tagged %s", prod)
	}

	s.validateAttest(t, built)
	s.smokeTest(t, "staging", built)

	// A spoofed GITLAB_USER_LOGIN (a maintainer's) does not make mallory one.
	as("test-only-job-token-mallory")
	s.env = append(s.env, "GITLAB_USER_LOGIN=maria")
	if r, _ := s.promote(t, "--from", "staging"); r.code != 1 || !strings.Contains(r.stderr, "user mallory") || !strings.Contains(r.stderr, "group:hostedshop-maintainers") {
		t.Errorf("promote by mallory posing as maria: exit %d, want 1 naming mallory and the rule\n%s", r.code, r.stderr)
	}
	if got := s.tagDigest(t, prod); got != "" {
		t.Fatalf("an unprivileged promotion tagged %s", prod)
	}

	// Production runs master-7c6b5a4-1763400000, which is not in the
	// registry: a rollback would have nowhere to go, so nothing moves.
	as("test-only-job-token-maria")
	if r, _ := s.promote(t, "--from", "staging"); r.code != 1 || !strings.Contains(r.stderr, "gate rollback") || !strings.Contains(r.stderr, "rollback target") {
		t.Errorf("promote over an unresolvable rollback target: exit %d, want 1 naming the rollback gate\n%s", r.code, r.stderr)
	}
	if got := s.tagDigest(t, prod); got != "" {
		t.Fatalf("a promotion with no way back tagged %s", prod)
	}
	s.previousBuild(t, base, "master-7c6b5a4-1763400000")

	// --dry-run runs every gate and tags nothing.
	if r, res := s.promote(t, "--from", "staging", "--dry-run"); r.code != 0 || res.Outputs["via"] != "tag" || s.tagDigest(t, prod) != "" {
		t.Fatalf("promote --dry-run: exit %d, via %q\n%s", r.code, res.Outputs["via"], r.stderr)
	}

	r, res = s.promote(t, "--from", "staging")
	if r.code != 0 {
		t.Fatalf("promote staging → production: exit %d\n%s", r.code, r.stderr)
	}
	if got := s.tagDigest(t, prod); got != s.digest {
		t.Errorf("%s names %q, want the staging digest %s", prod, got, s.digest)
	}
	if got := s.tagDigest(t, "hostedshop/blog-service:stag-"+s.tag); got != s.digest {
		t.Errorf("the staging tag moved to %q", got)
	}
	if head() != before {
		t.Errorf("the tag route committed to the Flux repository")
	}
	if res.Outputs["promoted-by"] != "maria" || res.Env != "production" || res.Digest != s.digest {
		t.Errorf("result: env %s digest %s by %q", res.Env, res.Digest, res.Outputs["promoted-by"])
	}
	var out struct {
		Gates []struct{ Gate, Evidence string }
	}
	b, _ := json.Marshal(res.Details)
	if err := json.Unmarshal(b, &out); err != nil || len(out.Gates) != 4 {
		t.Errorf("result details record %d gates (%v), want 4:\n%s", len(out.Gates), err, b)
	}
	// Again: the tag already names the digest, nothing changes.
	if r, _ := s.promote(t, "--from", "staging"); r.code != 0 {
		t.Errorf("promote again: exit %d\n%s", r.code, r.stderr)
	}
}

// previousBuild pushes and signs another build of the app under tag, as
// the release an environment ran before; the sample's current build stays
// the one the test promotes.
func (s *sample) previousBuild(t *testing.T, base, tag string) {
	t.Helper()
	digest, cur, ref := s.digest, s.tag, s.imageRef
	defer func() { s.digest, s.tag, s.imageRef = digest, cur, ref }()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "VERSION"), []byte(tag+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s.buildSignPush(t, base, "--tag", tag, "--layer", dir+":/version")
	if s.digest == digest {
		t.Fatal("the previous build has the same digest as the current one")
	}
}
