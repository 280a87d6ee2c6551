package cli

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stepper-cd/stepper/internal/build"
	"github.com/stepper-cd/stepper/internal/registry"
	"github.com/stepper-cd/stepper/internal/signing"
	"github.com/stepper-cd/stepper/internal/testenv"
)

// benchApps is the size of the benchmark's environment.
const benchApps = 50

// BenchmarkValidate50Apps validates a Helmsman DSF of 50 apps: 50 charts
// rendered with their values, 50 images from the local registry checked
// (config, layers, signature). Target: under 1 s on 2 cores, and 10× faster
// than a shell loop of `helm template | kube-score score -` per app,
// measured in the same run.
func BenchmarkValidate50Apps(b *testing.B) {
	p := platform.Get(b)
	ctx := b.Context()
	host := p.Registry.Host
	base, err := testenv.PushBaseImage(ctx, host, "base/static")
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	key, err := testenv.NewCosignKey(dir)
	if err != nil {
		b.Fatal(err)
	}
	pem, _ := os.ReadFile(key.Private)
	sk, err := signing.LoadKey(ctx, signing.KeySource{PEM: pem, Password: []byte(testenv.TestOnlyKeyPassword)})
	if err != nil {
		b.Fatal(err)
	}
	client := registry.New(registry.Options{})
	builders := &build.Builders{Images: client}
	appDir := filepath.Join(dir, "app")
	os.MkdirAll(appDir, 0o755)
	var dsf strings.Builder
	repoURL, repoDir := chartRepo(b, map[string]string{"1.4.0": ""}, false)
	fmt.Fprintf(&dsf, "helmRepos:\n  official: %q\nnamespaces:\n  bench: {}\napps:\n", repoURL)
	for i := range benchApps {
		app := fmt.Sprintf("app-%02d", i)
		os.WriteFile(filepath.Join(appDir, "server"), []byte(app), 0o755)
		res, err := builders.Build(ctx, build.Request{Builder: build.Layers, Base: base.String(), Layers: []string{appDir + ":/app"},
			Config: build.ImageConfig{User: "65532", Entrypoint: []string{"/app/server"}}, Approved: []string{host + "/base/static"}})
		if err != nil {
			b.Fatal(err)
		}
		pushed, err := client.Push(ctx, host+"/vendor-x/"+app, res.Image)
		res.Close()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := signing.Sign(ctx, sk, pushed.Ref, signing.Options{Format: signing.FormatSigTag, RemoteOptions: client.RemoteOptions(ctx)}); err != nil {
			b.Fatal(err)
		}
		fmt.Fprintf(&dsf, "  %s:\n    namespace: bench\n    enabled: true\n    chart: official/patient-api\n    version: \"1.4.0\"\n    set:\n      image.repository: %q\n      image.tag: \"1.0.0\"\n      image.digest: %q\n      replicaCount: %d\n",
			app, host+"/vendor-x/"+app, pushed.Ref.DigestStr(), 2+i%3)
	}
	state := filepath.Join(dir, "dsf.yaml")
	os.WriteFile(state, []byte(dsf.String()), 0o644)
	os.WriteFile(filepath.Join(dir, "key.pub"), mustRead(b, key.Public), 0o644)
	config := filepath.Join(dir, "stepper.yaml")
	os.WriteFile(config, []byte(fmt.Sprintf(`
registry: {host: %q, project: vendor-x}
baseImages: [%q]
signing:
  publicKeys: [{id: bench, path: %q}]
charts:
  repositories: [%q]
environments:
  - name: bench
    desiredState: {repo: "file:///nonexistent", branch: main, path: dsf.yaml, format: helmsman}
    land: {via: commit}
`, host, host+"/base/static", filepath.Join(dir, "key.pub"), repoURL)), 0o644)
	home := b.TempDir()

	b.Run("stepper", func(b *testing.B) {
		for b.Loop() {
			r := runCLI(b, []string{"HOME=" + home}, "validate", "-c", config, "--env", "bench", "--all", "--state", state, "-o", "json")
			if r.code != 0 {
				b.Fatalf("exit %d\n%s\n%s", r.code, r.stdout[:min(len(r.stdout), 4000)], r.stderr)
			}
		}
	})
	b.Run("helm-template+kube-score", func(b *testing.B) {
		helm := testenv.RequireTool(b, "helm")
		kubeScore := testenv.RequireTool(b, "kube-score")
		tgz := filepath.Join(repoDir, "patient-api-1.4.0.tgz")
		var script strings.Builder
		for i := range benchApps {
			fmt.Fprintf(&script, "%s template app-%02d %s --set replicaCount=%d | %s score - >/dev/null || true\n", helm, i, tgz, 2+i%3, kubeScore)
		}
		for b.Loop() {
			cmd := exec.CommandContext(b.Context(), "bash", "-c", script.String())
			cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+home, "HELM_CONFIG_HOME="+home)
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("%v\n%s", err, out)
			}
		}
	})
}
