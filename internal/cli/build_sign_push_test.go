package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/stepper-cd/stepper/internal/report"
	"github.com/stepper-cd/stepper/internal/testenv"
)

// platform is the registries the build-sign-push tests push to.
var platform = testenv.NewShared(testenv.Options{SkipGit: true, SkipKube: true})

// bspFixture is one vendor's setup: a registry with an approved base image,
// a signing key, an app to lay on the base, and a stepper.yaml.
type bspFixture struct {
	host    string
	base    name.Digest
	key     testenv.CosignKey
	appDir  string
	config  string
	environ []string
}

func newBSPFixture(t testing.TB, extraConfig string) *bspFixture {
	t.Helper()
	p := platform.Get(t)
	f := &bspFixture{host: p.Registry.Host, appDir: t.TempDir()}
	var err error
	if f.base, err = testenv.PushBaseImage(t.Context(), f.host, "base/static"); err != nil {
		t.Fatal(err)
	}
	keys := t.TempDir()
	if f.key, err = testenv.NewCosignKey(keys); err != nil {
		t.Fatal(err)
	}
	pw := filepath.Join(keys, "test-only-password")
	os.WriteFile(pw, []byte(testenv.TestOnlyKeyPassword), 0o600)
	os.WriteFile(filepath.Join(f.appDir, "server"), []byte("#!/bin/false\nthe app\n"), 0o755)
	f.config = writeConfig(t, fmt.Sprintf(`
registry: {host: %q, project: vendor-x}
baseImages: [%q]
signing:
  key: "file://%s"
  password: "file://%s"
  publicKeys: [{id: test-only-vendor, path: "%s"}]
build: {builder: layers}
%s`, f.host, f.host+"/base/static", f.key.Private, pw, f.key.Public, extraConfig))
	f.environ = []string{
		"GITLAB_CI=true", "CI_COMMIT_SHA=0123456789abcdef0123456789abcdef01234567", "CI_COMMIT_BRANCH=master",
		"CI_COMMIT_REF_NAME=master", "CI_COMMIT_TIMESTAMP=2026-11-20T10:00:00Z", "CI_PROJECT_NAME=patient-api",
		"CI_PROJECT_URL=https://gitlab.example.test/vendor-x/patient-api", "CI_PIPELINE_URL=https://gitlab.example.test/vendor-x/patient-api/-/pipelines/7",
		"CI_JOB_URL=https://gitlab.example.test/vendor-x/patient-api/-/jobs/9", "HOME=" + t.TempDir(),
	}
	return f
}

// args are the command line of a layers-on-base build of the fixture's app.
func (f *bspFixture) args(t testing.TB, extra ...string) []string {
	dir := t.TempDir()
	return append([]string{"build-sign-push", "-c", f.config, "--log-format", "json",
		"--result", filepath.Join(dir, "result.json"), "--dotenv", filepath.Join(dir, "build.env"),
		"--base", f.base.String(), "--layer", f.appDir + ":/app", "--entrypoint", "/app/server", "--user", "65532:65532"}, extra...)
}

func resultOf(t testing.TB, args []string) *report.Result {
	t.Helper()
	r, err := report.ReadJSON(flagValue(t, args, "--result"))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func flagValue(t testing.TB, args []string, flag string) string {
	t.Helper()
	for i, a := range args {
		if a == flag && i+1 < len(args) {
			return args[i+1]
		}
	}
	t.Fatalf("no %s in %v", flag, args)
	return ""
}

func tagDigest(t *testing.T, ref string) string {
	t.Helper()
	desc, err := remote.Head(mustRef(t, ref), remote.WithContext(t.Context()))
	if err != nil {
		return ""
	}
	return desc.Digest.String()
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// The whole step as a vendor pipeline runs it: build on the approved base,
// push by digest, sign, attest, tag; the official cosign CLI verifies the
// signature and the provenance offline with the public key.
func TestBuildSignPushLayersEndToEnd(t *testing.T) {
	f := newBSPFixture(t, "")
	args := f.args(t)
	r := runCLI(t, f.environ, args...)
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	res := resultOf(t, args)
	repo := f.host + "/vendor-x/patient-api"
	if res.Image != repo || !strings.HasPrefix(res.Digest, "sha256:") {
		t.Fatalf("result image %q digest %q", res.Image, res.Digest)
	}
	ref := repo + "@" + res.Digest
	want := map[string]string{"image-ref": ref, "tags": "01234567", "builder": "layers", "base-digest": f.base.DigestStr(), "tagged": "true"}
	for k, v := range want {
		if res.Outputs[k] != v {
			t.Errorf("outputs[%s] = %q, want %q", k, res.Outputs[k], v)
		}
	}
	if !strings.HasSuffix(res.Outputs["signature"], ".sig") || !strings.HasSuffix(res.Outputs["attestation"], ".att") {
		t.Errorf("signature %q attestation %q", res.Outputs["signature"], res.Outputs["attestation"])
	}
	if got := tagDigest(t, repo+":01234567"); got != res.Digest {
		t.Errorf("tag 01234567 points at %q, want %s", got, res.Digest)
	}
	env, _ := os.ReadFile(strings.Replace(flagValue(t, args, "--result"), "result.json", "build.env", 1))
	for _, line := range []string{"STEPPER_IMAGE_REF=" + ref, "STEPPER_DIGEST=" + res.Digest, "STEPPER_TAGS=01234567"} {
		if !strings.Contains(string(env), line+"\n") {
			t.Errorf("dotenv lacks %s:\n%s", line, env)
		}
	}

	if out, err := testenv.Cosign(t, nil, "verify", "--key", f.key.Public, "--insecure-ignore-tlog=true", "--allow-http-registry", ref); err != nil {
		t.Fatalf("cosign verify: %v\n%s", err, out)
	}
	out, err := testenv.Cosign(t, nil, "verify-attestation", "--key", f.key.Public, "--insecure-ignore-tlog=true", "--allow-http-registry", "--type", "slsaprovenance1", ref)
	if err != nil {
		t.Fatalf("cosign verify-attestation: %v\n%s", err, out)
	}
	pred := provenanceOf(t, out)
	for _, want := range []string{f.base.DigestStr()[len("sha256:"):], "0123456789abcdef0123456789abcdef01234567", "https://gitlab.example.test/vendor-x/patient-api", "/-/jobs/9"} {
		if !strings.Contains(pred, want) {
			t.Errorf("provenance lacks %q:\n%s", want, pred)
		}
	}

	// The same inputs give the same digest: a re-run is a no-op that
	// passes the retag check.
	args2 := f.args(t)
	if r := runCLI(t, f.environ, args2...); r.code != 0 {
		t.Fatalf("re-run: exit %d\n%s", r.code, r.stderr)
	}
	if d := resultOf(t, args2).Digest; d != res.Digest {
		t.Errorf("re-run digest %s, want the reproducible %s", d, res.Digest)
	}
}

// provenanceOf decodes the in-toto statements cosign verify-attestation
// prints (one DSSE envelope per line) and returns their text.
func provenanceOf(t *testing.T, out string) string {
	t.Helper()
	var all strings.Builder
	for _, line := range strings.Split(out, "\n") {
		var env struct{ Payload []byte }
		if json.Unmarshal([]byte(line), &env) == nil && len(env.Payload) > 0 {
			all.Write(env.Payload)
		}
	}
	if all.Len() == 0 {
		t.Fatalf("no attestation in cosign output:\n%s", out)
	}
	return all.String()
}

// The build job pushes by digest and tags nothing; the sign job, which
// alone holds the key, signs, attests and then tags.
func TestBuildSignPushPhases(t *testing.T) {
	f := newBSPFixture(t, "")
	build := f.args(t, "--phase", "build", "--tag", "1.4.2")
	// The build job has no key: the key reference points nowhere.
	env := f.environ
	if r := runCLI(t, env, append(build, "--config-set", "signing.key=file:///nonexistent/key")...); r.code != 0 {
		t.Fatalf("build phase: exit %d\n%s", r.code, r.stderr)
	}
	built := resultOf(t, build)
	repo := f.host + "/vendor-x/patient-api"
	if got := tagDigest(t, repo+":1.4.2"); got != "" {
		t.Fatalf("build phase tagged 1.4.2 -> %s before signing", got)
	}
	if built.Outputs["tagged"] != "false" || built.Outputs["signature"] != "" {
		t.Errorf("build phase outputs: %v", built.Outputs)
	}
	dir := t.TempDir()
	sign := []string{"build-sign-push", "-c", f.config, "--log-format", "json", "--phase", "sign",
		"--from-result", flagValue(t, build, "--result"), "--result", filepath.Join(dir, "result.json")}
	if r := runCLI(t, f.environ, sign...); r.code != 0 {
		t.Fatalf("sign phase: exit %d\n%s", r.code, r.stderr)
	}
	signed := resultOf(t, sign)
	if signed.Digest != built.Digest || signed.Outputs["tags"] != "1.4.2" || signed.Outputs["tagged"] != "true" {
		t.Errorf("sign phase result: digest %s outputs %v", signed.Digest, signed.Outputs)
	}
	if got := tagDigest(t, repo+":1.4.2"); got != built.Digest {
		t.Errorf("after signing 1.4.2 -> %q, want %s", got, built.Digest)
	}
	if out, err := testenv.Cosign(t, nil, "verify-attestation", "--key", f.key.Public, "--insecure-ignore-tlog=true", "--allow-http-registry", "--type", "slsaprovenance1", signed.Outputs["image-ref"]); err != nil {
		t.Fatalf("cosign verify-attestation: %v\n%s", err, out)
	} else if !strings.Contains(provenanceOf(t, out), f.base.DigestStr()[len("sha256:"):]) {
		t.Errorf("sign-phase provenance lacks the base digest")
	}
}

// Bad input and failing systems end with a clear message and the right exit
// code, and never leave a tag behind.
func TestBuildSignPushFailures(t *testing.T) {
	f := newBSPFixture(t, "")
	repo := f.host + "/vendor-x/patient-api"
	tests := []struct {
		name   string
		extra  []string
		env    []string
		code   int
		errors []string
	}{
		{name: "wrong key password", extra: []string{"--tag", "wrongpw", "--config-set", "signing.password=file://" + f.key.Public}, code: 2, errors: []string{"password"}},
		{name: "unreachable registry", extra: []string{"--tag", "unreach", "--image", "127.0.0.1:1/vendor-x/patient-api"}, code: 3, errors: []string{"127.0.0.1:1"}},
		{name: "unapproved base", extra: []string{"--tag", "unapproved", "--config-set", "baseImages=" + f.host + "/base/other"}, code: 1, errors: []string{"approved"}},
		{name: "unknown builder", extra: []string{"--tag", "x", "--builder", "buildha"}, code: 2, errors: []string{"buildah"}},
		{name: "latest", extra: []string{"--tag", "latest"}, code: 2, errors: []string{"never pushes latest"}},
		{name: "root image", extra: []string{"--tag", "root", "--user", "0"}, code: 1, errors: []string{"runs as root"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := f.args(t, tt.extra...)
			r := runCLI(t, append(f.environ, tt.env...), args...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d\n%s", r.code, tt.code, r.stderr)
			}
			for _, e := range tt.errors {
				if !strings.Contains(r.stderr, e) {
					t.Errorf("stderr lacks %q:\n%s", e, r.stderr)
				}
			}
			if strings.Contains(r.stderr, testenv.TestOnlyKeyPassword) {
				t.Errorf("the key password reached stderr")
			}
			tag := tt.extra[1]
			if got := tagDigest(t, repo+":"+tag); got != "" {
				t.Errorf("a failed run left tag %s -> %s", tag, got)
			}
		})
	}
}

// A missing Dockerfile is named with where stepper looked.
func TestBuildSignPushMissingDockerfile(t *testing.T) {
	f := newBSPFixture(t, "")
	ctxDir := t.TempDir()
	r := runCLI(t, f.environ, "build-sign-push", "-c", f.config, "--builder", "buildah", "--context", ctxDir, "--tag", "nodockerfile")
	if r.code != 2 || !strings.Contains(r.stderr, "Dockerfile") || !strings.Contains(r.stderr, ctxDir) {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
}

// A tag that names another digest is refused before anything moves, and
// --allow-retag moves it.
func TestBuildSignPushRefusesRetag(t *testing.T) {
	f := newBSPFixture(t, "")
	repo := f.host + "/vendor-x/patient-api"
	first := f.args(t, "--tag", "1.0.0")
	if r := runCLI(t, f.environ, first...); r.code != 0 {
		t.Fatalf("first: exit %d\n%s", r.code, r.stderr)
	}
	d1 := resultOf(t, first).Digest
	os.WriteFile(filepath.Join(f.appDir, "server"), []byte("#!/bin/false\nthe app, changed\n"), 0o755)
	second := f.args(t, "--tag", "1.0.0")
	r := runCLI(t, f.environ, second...)
	if r.code != 1 || !strings.Contains(r.stderr, "--allow-retag") {
		t.Fatalf("retag: exit %d\n%s", r.code, r.stderr)
	}
	if got := tagDigest(t, repo+":1.0.0"); got != d1 {
		t.Fatalf("1.0.0 moved to %s", got)
	}
	third := f.args(t, "--tag", "1.0.0", "--allow-retag")
	if r := runCLI(t, f.environ, third...); r.code != 0 {
		t.Fatalf("allow-retag: exit %d\n%s", r.code, r.stderr)
	}
	if got, d3 := tagDigest(t, repo+":1.0.0"), resultOf(t, third).Digest; got != d3 || d3 == d1 {
		t.Fatalf("1.0.0 -> %s, want the new %s", got, d3)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	platform.Stop()
	kubePlatform.Stop()
	os.Exit(code)
}
