package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/stepper-cd/stepper/internal/testenv"
)

// A registry that refuses the credentials is a configuration error (exit
// 2) that points at the credentials and never prints them.
func TestBuildSignPushRegistry401(t *testing.T) {
	f := newBSPFixture(t, "")
	auth, err := testenv.StartRegistryAuth(t.Context(), t.TempDir(), "robot", "right-password-canary")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(auth.Stop)
	wrong := filepath.Join(t.TempDir(), "registry-password")
	os.WriteFile(wrong, []byte("wrong-password-canary"), 0o600)
	args := f.args(t, "--tag", "auth", "--image", auth.Host+"/vendor-x/patient-api",
		"--config-set", "registry.host="+auth.Host,
		"--config-set", "registry.credentials.username=robot",
		"--config-set", "registry.credentials.password=file://"+wrong)
	r := runCLI(t, f.environ, args...)
	if r.code != 2 || !strings.Contains(r.stderr, "credentials") {
		t.Fatalf("exit %d, want 2 naming the credentials\n%s", r.code, r.stderr)
	}
	if strings.Contains(r.stderr+r.stdout, "wrong-password-canary") {
		t.Fatal("the registry password reached the output")
	}
	res, _ := os.ReadFile(flagValue(t, args, "--result"))
	if strings.Contains(string(res), "wrong-password-canary") {
		t.Fatal("the registry password reached the result file")
	}
}

// A Dockerfile build through buildah, the default builder where it is
// installed, on the approved base pinned by digest.
func TestBuildSignPushBuildah(t *testing.T) {
	testenv.RequireTool(t, "buildah")
	f := newBSPFixture(t, "")
	ctxDir := t.TempDir()
	os.WriteFile(filepath.Join(ctxDir, "server"), []byte("#!/bin/false\n"), 0o755)
	os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte(fmt.Sprintf(
		"ARG BASE=%s\nFROM ${BASE}\nCOPY server /app/server\nUSER 65532:65532\nENTRYPOINT [\"/app/server\"]\n", f.base)), 0o644)
	dir := t.TempDir()
	args := []string{"build-sign-push", "-c", f.config, "--builder", "buildah", "--context", ctxDir,
		"--result", filepath.Join(dir, "result.json"), "--tag", "buildah"}
	r := runCLI(t, f.environ, args...)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	res := resultOf(t, args)
	if res.Outputs["builder"] != "buildah" || res.Outputs["base-digest"] != f.base.DigestStr() {
		t.Errorf("outputs %v", res.Outputs)
	}
	if out, err := testenv.Cosign(t, nil, "verify", "--key", f.key.Public, "--insecure-ignore-tlog=true", "--allow-http-registry", res.Outputs["image-ref"]); err != nil {
		t.Fatalf("cosign verify: %v\n%s", err, out)
	}
}

// An image some other tool built, handed over as an OCI layout, is pushed,
// signed and tagged once stepper finds the approved base it sits on.
func TestBuildSignPushOCILayout(t *testing.T) {
	f := newBSPFixture(t, "")
	base, err := remote.Image(mustRef(t, f.base.String()), remote.WithContext(t.Context()))
	if err != nil {
		t.Fatal(err)
	}
	app, _ := random.Layer(4096, "application/vnd.oci.image.layer.v1.tar+gzip")
	img, err := mutate.AppendLayers(base, app)
	if err != nil {
		t.Fatal(err)
	}
	img, err = mutate.Config(img, mustConfig(t, img, "65532"))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "layout")
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	res := filepath.Join(t.TempDir(), "result.json")
	args := []string{"build-sign-push", "-c", f.config, "--from-oci-layout", dir, "--tag", "imported", "--result", res}
	if r := runCLI(t, f.environ, args...); r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	got := resultOf(t, args)
	if got.Outputs["builder"] != "oci-layout" || got.Outputs["base-digest"] != f.base.DigestStr() || got.Outputs["tagged"] != "true" {
		t.Errorf("outputs %v", got.Outputs)
	}
	if got.Digest == want.String() {
		t.Logf("digest unchanged by metadata (%s)", want)
	}
}

// With signing.format bundle on a registry with the referrers API, the
// signature is an OCI 1.1 referrer that cosign v3 verifies as a bundle.
func TestBuildSignPushBundleFormat(t *testing.T) {
	p := platform.Get(t)
	f := newBSPFixture(t, "")
	host := p.ReferrersRegistry.Host
	base, err := testenv.PushBaseImage(t.Context(), host, "base/static")
	if err != nil {
		t.Fatal(err)
	}
	res := filepath.Join(t.TempDir(), "result.json")
	args := []string{"build-sign-push", "-c", f.config, "--result", res, "--tag", "bundle",
		"--config-set", "registry.host=" + host, "--config-set", "baseImages=" + host + "/base/static",
		"--config-set", "signing.format=bundle",
		"--base", base.String(), "--layer", f.appDir + ":/app", "--entrypoint", "/app/server", "--user", "65532"}
	if r := runCLI(t, f.environ, args...); r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	ref := resultOf(t, args).Outputs["image-ref"]
	for _, verb := range [][]string{{"verify"}, {"verify-attestation", "--type", "slsaprovenance1"}} {
		argv := append(verb, "--key", f.key.Public, "--insecure-ignore-tlog=true", "--allow-http-registry", "--new-bundle-format=true", ref)
		if out, err := testenv.Cosign(t, nil, argv...); err != nil {
			t.Fatalf("cosign %s: %v\n%s", strings.Join(argv, " "), err, out)
		}
	}
}

func mustConfig(t *testing.T, img interface {
	ConfigFile() (*v1.ConfigFile, error)
}, user string) v1.Config {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	c.User = user
	return c
}

// The key and its password can come from CI variables, as a GitLab job
// holds them in masked variables; neither reaches the output.
func TestBuildSignPushKeyFromVariables(t *testing.T) {
	f := newBSPFixture(t, "")
	pem, err := os.ReadFile(f.key.Private)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("TEST_ONLY_COSIGN_KEY", string(pem))
	t.Setenv("TEST_ONLY_COSIGN_PASSWORD", testenv.TestOnlyKeyPassword)
	args := f.args(t, "--tag", "fromenv",
		"--config-set", "signing.key=env://TEST_ONLY_COSIGN_KEY", "--config-set", "signing.password=env://TEST_ONLY_COSIGN_PASSWORD")
	r := runCLI(t, f.environ, args...)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if strings.Contains(r.stderr+r.stdout, testenv.TestOnlyKeyPassword) || strings.Contains(r.stderr, "PRIVATE KEY") {
		t.Fatal("key material reached the output")
	}
	ref := resultOf(t, args).Outputs["image-ref"]
	if out, err := testenv.Cosign(t, nil, "verify", "--key", f.key.Public, "--insecure-ignore-tlog=true", "--allow-http-registry", ref); err != nil {
		t.Fatalf("cosign verify: %v\n%s", err, out)
	}
}

// A dry run builds and checks everything, and pushes, signs and tags
// nothing.
func TestBuildSignPushDryRun(t *testing.T) {
	f := newBSPFixture(t, "")
	args := f.args(t, "--tag", "dry", "--dry-run")
	r := runCLI(t, f.environ, args...)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	res := resultOf(t, args)
	if !strings.HasPrefix(res.Digest, "sha256:") || !res.DryRun {
		t.Fatalf("result %+v", res)
	}
	if _, err := remote.Head(mustRef(t, res.Outputs["image-ref"]), remote.WithContext(t.Context())); err == nil {
		t.Errorf("a dry run pushed %s", res.Outputs["image-ref"])
	}
	if got := tagDigest(t, f.host+"/vendor-x/patient-api:dry"); got != "" {
		t.Errorf("a dry run tagged dry -> %s", got)
	}
}
