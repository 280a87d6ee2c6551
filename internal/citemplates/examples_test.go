package citemplates

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/stepper-cd/stepper/internal/testenv"
)

// The shop's example from the README, unchanged but for its addresses, on
// the shop's own configuration (seed 003): the default-branch pipeline
// deploys blog-service to staging as a commit to the Flux repository and a
// stag- tag on the verified digest; Flux (helm, here) rolls it out; the
// smoke test, run by hand, leaves evidence about this pipeline's digest;
// the manual promotion to production gives that digest its master- tag,
// with no rebuild and no edit of the Flux repository, for maria, a member
// of the promoters' group.
func TestShopExample(t *testing.T) {
	w := newWorld(t, "hostedshop-ci")
	k := kube.Get(t).Kube
	url := smokeApp(t)
	charts := chartRepository(t, map[string]string{"service": "1.5.0"})
	gitlab := testenv.StartFakeGitLab(t)
	gitlab.AddGroup("hostedshop-maintainers", "maria")
	gitlab.AddJobToken("test-only-job-token-maria", "maria")
	flux, err := w.git.NewRepo("hostedshop/k8s/flux", seed(t, "shop/flux", swaps{{"docker.io", w.host}, {"https://charts.hostedshop.example/stable", charts}}))
	if err != nil {
		t.Fatal(err)
	}
	key, err := testenv.NewCosignKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// Where the shop's runner mounts its secrets: the machine's
	// /run/secrets is not the test's.
	secrets := filepath.Join(t.TempDir(), "run", "secrets")
	writeFile(t, filepath.Join(secrets, "cosign.key"), string(must(os.ReadFile(key.Private))))
	config := swaps{
		{"git@gitlab.group.team.blue:", w.git.URL + "/"},
		{"https://gitlab.group.team.blue", gitlab.URL},
		{"docker.io", w.host},
		{"file:///run/secrets/", "file://" + secrets + "/"},
	}.apply(t, "shop-flux.yaml", readTestdata(t, "config/shop-flux.yaml"))
	// The runner's registry login, which stepper and buildah read.
	writeFile(t, filepath.Join(w.home, ".docker", "config.json"), w.authFile())
	base := w.pushBase(t, "hostedshop/base")
	p := w.newProject(t, "hostedshop/proj/blog-service", map[string]string{
		".gitlab-ci.yml":     readmeExample(t, "shop", swaps{{"https://blog.staging.shop.example", url}, {"https://blog.shop.example", url}}),
		"stepper.yaml":       config,
		"keys/shop-2026.pub": string(must(os.ReadFile(key.Public))),
		"Dockerfile":         "FROM " + base + "\nCOPY server /app/server\nUSER 65532:65532\nENTRYPOINT [\"/app/server\"]\n",
		"server":             "#!/bin/false\nblog-service\n",
	})
	for _, scope := range []string{"stepper-signing", "staging", "production"} {
		p.setProtected("COSIGN_PASSWORD", scope, testenv.TestOnlyKeyPassword)
	}
	p.set("GITLAB_TOKEN", gitlab.Token)
	p.set("KUBECONFIG", k.Kubeconfig)
	// What production runs now, which a promotion's rollback gate asks
	// for: signed, in the registry.
	prior := t.TempDir()
	writeFile(t, filepath.Join(prior, "VERSION"), "7c6b5a4\n")
	w.stepper(t, []string{"HOME=" + w.home, "COSIGN_PASSWORD=" + testenv.TestOnlyKeyPassword}, "build-sign-push", "-c", filepath.Join(p.dir, "stepper.yaml"),
		"--app", "blog-service", "--builder", "layers", "--base", base, "--layer", prior+":/version", "--user", "65532:65532",
		"--entrypoint", "/app/server", "--tag", "master-7c6b5a4-1763400000", "--log-format", "json")

	vars := map[string]string{"GITLAB_CI": "true", "CI_COMMIT_REF_PROTECTED": "true", "CI_JOB_TOKEN": "test-only-job-token-maria", "GITLAB_USER_LOGIN": "maria"}
	before, _ := flux.Rev("master")
	pl := p.run(t, vars)
	pl.must(t, "stepper-build", "stepper-sign", "stepper-validate", "stepper-deploy-staging")
	signed := pl.result(t, "stepper-sign", "stepper-sign.json")
	digest, tag := signed.Digest, signed.Outputs["tags"]
	w.verifySignature(t, key.Public, w.host+"/hostedshop/blog-service@"+digest)
	if got := w.tagDigest(t, "hostedshop/blog-service:stag-"+tag); got != digest {
		t.Errorf("stag-%s names %q, want %s", tag, got, digest)
	}
	after, _ := flux.Rev("master")
	if after == before || gitRun(t, flux.Dir, "diff", "--name-only", before, after) != "clusters/staging/apps/blog-service.yaml" {
		t.Fatalf("the Flux repository: %s -> %s, want one commit to clusters/staging/apps/blog-service.yaml", before, after)
	}
	hr, _ := flux.ReadFile("master", "clusters/staging/apps/blog-service.yaml")
	assertContains(t, "the staging HelmRelease", hr, "tag: stag-"+tag+` # {"$imagepolicy": "flux-system:blog-service-stag:tag"}`)

	// Flux rolls staging out; then the smoke test, by hand.
	helmReleaseUp(t, k.Kubeconfig, flux, "master", "clusters/staging/apps/blog-service.yaml", charts)
	p.run(t, vars, "stepper-smoke-test-staging").must(t, "stepper-smoke-test-staging")
	w.verifySignature(t, key.Public, w.host+"/hostedshop/blog-service@"+digest, "--type", "https://github.com/stepper-cd/stepper/attestations/smoke-test/v1")

	// The promotion: the master- tag on the digest that passed staging.
	p.run(t, vars, "stepper-promote-production").must(t, "stepper-promote-production")
	if got := w.tagDigest(t, "hostedshop/blog-service:master-"+tag); got != digest {
		t.Errorf("master-%s names %q, want %s", tag, got, digest)
	}
	if now, _ := flux.Rev("master"); now != after {
		t.Error("the promotion by tag committed to the Flux repository")
	}
	promoted := p.dotenv(t, "stepper-promote-production", "stepper-promote-production.env")
	if promoted["STEPPER_PROMOTED_BY"] != "maria" || promoted["STEPPER_VIA"] != "tag" {
		t.Errorf("the promotion's dotenv report: %v", promoted)
	}
	checkDotenvReports(t, p, "build-sign-push", "validate", "deploy", "smoke-test", "promote")
}

// helmReleaseUp installs what the HelmRelease at path names, as Flux's
// helm-controller would once it has reconciled the change: its chart, at
// its version, from the chart repository, with its values.
func helmReleaseUp(t *testing.T, kubeconfig string, repo *testenv.Repo, rev, path, charts string) {
	t.Helper()
	text, err := repo.ReadFile(rev, path)
	if err != nil {
		t.Fatal(err)
	}
	var hr struct {
		Kind     string
		Metadata struct{ Name, Namespace string }
		Spec     struct {
			ReleaseName string `yaml:"releaseName"`
			Chart       struct {
				Spec struct{ Chart, Version string }
			}
			Values map[string]any
		}
	}
	dec := yaml.NewDecoder(strings.NewReader(text))
	for {
		if err := dec.Decode(&hr); errors.Is(err, io.EOF) {
			t.Fatalf("%s holds no HelmRelease", path)
		} else if err != nil {
			t.Fatal(err)
		}
		if hr.Kind == "HelmRelease" {
			break
		}
	}
	values, _ := yaml.Marshal(hr.Spec.Values)
	file := writeFile(t, filepath.Join(t.TempDir(), "values.yaml"), string(values))
	cmd := exec.CommandContext(t.Context(), testenv.RequireTool(t, "helm"), "upgrade", "--install", hr.Spec.ReleaseName, hr.Spec.Chart.Spec.Chart,
		"--repo", charts, "--version", hr.Spec.Chart.Spec.Version, "--namespace", hr.Metadata.Namespace, "--create-namespace",
		"--values", file, "--wait", "--timeout", "2m", "--kubeconfig", kubeconfig)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+t.TempDir(), "HELM_CONFIG_HOME="+t.TempDir(), "HELM_DATA_HOME="+t.TempDir())
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("helm upgrade --install %s: %v\n%s", hr.Spec.ReleaseName, err, out.String())
	}
}
