package citemplates

import (
	"bytes"
	"encoding/pem"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
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
	w.priorBuild(t, []string{"HOME=" + w.home, "COSIGN_PASSWORD=" + testenv.TestOnlyKeyPassword}, filepath.Join(p.dir, "stepper.yaml"), "blog-service", base, "master-7c6b5a4-1763400000")

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

// govChartsURL is the chart repository the government's deployment
// repositories name; a local one stands in for it.
const govChartsURL = "https://ukhomeofficedigital.github.io/hocs-helm-charts"

// The government's example from the README, unchanged but for its
// addresses, on the government's configuration (seed 004): the
// default-branch pipeline deploys hocs-casework to dev as a merge request on
// the deployment repository, from a branch of its own, main untouched; the
// merge (as GitLab does it) and the platform's deployment (helmfile sync,
// as its Drone pipeline runs it) roll it out; the smoke test, run by hand,
// proves it there; the manual promotion to qa opens the next merge request,
// for quinn, a member of hocs-qa.
func TestGovExample(t *testing.T) {
	w := newWorld(t, "robot$hocs-ci")
	k := kube.Get(t).Kube
	url := smokeApp(t)
	charts := chartRepository(t, map[string]string{"hocs-generic-service": "7.1.0"})
	gitlab := testenv.StartFakeGitLab(t)
	gitlab.AddProject("hocs/deploy-notprod")
	gitlab.AddGroup("hocs-qa", "quinn")
	gitlab.AddJobToken("test-only-job-token-quinn", "quinn")
	deployRepo, err := w.git.NewRepo("hocs/deploy-notprod", seed(t, "gov/deploy-notprod", swaps{{"registry.gov.example", w.host}, {govChartsURL, charts}}))
	if err != nil {
		t.Fatal(err)
	}
	gitRun(t, deployRepo.Dir, "branch", "-m", "master", "main")
	gitRun(t, deployRepo.Dir, "symbolic-ref", "HEAD", "refs/heads/main")
	key, err := testenv.NewCosignKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// Where the runner keeps its secrets: the registry token the sample
	// reads from secrets/registry-token, and, in place of the Vault
	// transit key (hashivault://hocs-release: neither Vault nor cosign's
	// plugin for it runs here), a key file without a password, as the
	// sample names no signing.password. That key line is the one change
	// that is not an address.
	secrets := t.TempDir()
	writeFile(t, filepath.Join(secrets, "registry-token"), w.secret+"\n")
	keyFile := writeEmptyPasswordKey(t, key, filepath.Join(secrets, "hocs-release.key"))
	config := swaps{
		{"https://gitlab.gov.example/", w.git.URL + "/"},
		{"https://gitlab.gov.example", gitlab.URL},
		{"registry.gov.example", w.host},
		{"file://secrets/registry-token", "file://" + filepath.Join(secrets, "registry-token")},
	}.apply(t, "gov-helmfile.yaml", readTestdata(t, "config/gov-helmfile.yaml"))
	if strings.Count(config, "\n  key: hashivault://hocs-release\n") != 1 {
		t.Fatal("gov-helmfile.yaml: no signing key line to replace")
	}
	config = strings.Replace(config, "\n  key: hashivault://hocs-release\n", "\n  key: file://"+keyFile+"\n", 1)
	base := w.pushBase(t, "hocs/base/java")
	p := w.newProject(t, "hocs/hocs-casework", map[string]string{
		".gitlab-ci.yml": readmeExample(t, "gov", swaps{
			{"https://casework.dev.hocs.example", url}, {"https://casework.qa.hocs.example", url}, {"https://casework.hocs.example", url},
		}),
		"stepper.yaml":       config,
		"keys/hocs-2026.pub": string(must(os.ReadFile(key.Public))),
		"Dockerfile":         "FROM " + base + "\nCOPY server /app/server\nUSER 65532:65532\nENTRYPOINT [\"/app/server\"]\n",
		"server":             "#!/bin/false\nhocs-casework\n",
	})
	p.set("GITLAB_TOKEN", gitlab.Token)
	p.set("KUBECONFIG", k.Kubeconfig)
	p.setFile("REGISTRY_AUTH_FILE", w.authFile())
	// What qa runs now, which the promotion's rollback gate asks for.
	w.priorBuild(t, nil, filepath.Join(p.dir, "stepper.yaml"), "hocs-casework", base, "3.1.0")

	vars := map[string]string{"GITLAB_CI": "true", "CI_COMMIT_REF_PROTECTED": "true", "CI_JOB_TOKEN": "test-only-job-token-quinn", "GITLAB_USER_LOGIN": "quinn"}
	main, _ := deployRepo.Rev("main")
	pl := p.run(t, vars)
	pl.must(t, "stepper-build", "stepper-sign", "stepper-validate", "stepper-deploy-dev")
	signed := pl.result(t, "stepper-sign", "stepper-sign.json")
	digest, tag := signed.Digest, signed.Outputs["tags"]
	w.verifySignature(t, key.Public, w.host+"/hocs/hocs-casework@"+digest)
	if now, _ := deployRepo.Rev("main"); now != main {
		t.Fatal("the deploy to dev committed to main, whose every commit releases")
	}
	branch := "stepper/dev/hocs-casework-" + strings.TrimPrefix(digest, "sha256:")[:12]
	versions, err := deployRepo.ReadFile(branch, "environments/dev/versions.yaml")
	if err != nil || !strings.Contains(versions, `"`+tag+`"`) {
		t.Fatalf("branch %s: versions.yaml without %s (%v):\n%s", branch, tag, err, versions)
	}
	mrs := gitlab.MergeRequests("hocs/deploy-notprod")
	if len(mrs) != 1 || mrs[0].SourceBranch != branch || mrs[0].TargetBranch != "main" || mrs[0].State != "opened" || !strings.Contains(mrs[0].Description, digest) {
		t.Fatalf("merge requests %+v: want one from %s into main naming %s", mrs, branch, digest)
	}

	// The merge releases: the platform deploys dev with helmfile.
	mergeInto(t, deployRepo, branch, "main")
	gitlab.EditMergeRequest("hocs/deploy-notprod", mrs[0].IID, func(m *testenv.GitLabMergeRequest) { m.State = "merged" })
	helmfileSync(t, k.Kubeconfig, deployRepo, "dev", "hocs-casework")
	p.run(t, vars, "stepper-smoke-test-dev").must(t, "stepper-smoke-test-dev")
	smoked := p.dotenv(t, "stepper-smoke-test-dev", "stepper-smoke-test-dev.env")
	if smoked["STEPPER_DIGEST"] != digest {
		t.Errorf("the smoke test of dev tested %q, want what the cluster runs, %s", smoked["STEPPER_DIGEST"], digest)
	}
	w.verifySignature(t, key.Public, w.host+"/hocs/hocs-casework@"+digest, "--type", "https://github.com/stepper-cd/stepper/attestations/smoke-test/v1")

	// The promotion to qa: the next merge request, for quinn.
	p.run(t, vars, "stepper-promote-qa").must(t, "stepper-promote-qa")
	mrs = gitlab.MergeRequests("hocs/deploy-notprod")
	if len(mrs) != 2 || mrs[1].TargetBranch != "main" || !strings.Contains(mrs[1].SourceBranch, "qa") || !strings.Contains(mrs[1].Description, digest) {
		t.Fatalf("merge requests after the promotion %+v: want a second one into main for qa, naming %s", mrs, digest)
	}
	qa, _ := deployRepo.ReadFile(mrs[1].SourceBranch, "environments/qa/versions.yaml")
	assertContains(t, "qa's versions.yaml on "+mrs[1].SourceBranch, qa, `"`+tag+`"`)
	checkDotenvReports(t, p, "build-sign-push", "validate", "deploy", "smoke-test", "promote")
}

// mergeInto merges source into target with a merge commit, as GitLab does
// when a merge request is merged.
func mergeInto(t *testing.T, repo *testenv.Repo, source, target string) {
	t.Helper()
	work := filepath.Join(t.TempDir(), "work")
	gitRun(t, "", "clone", "--quiet", "--branch", target, repo.Dir, work)
	gitRun(t, work, "-c", "user.name=Rita Reviewer", "-c", "user.email=rita@gov.example", "merge", "--quiet", "--no-ff", "-m",
		"Merge branch '"+source+"' into '"+target+"'", "origin/"+source)
	gitRun(t, work, "push", "--quiet", "origin", target)
}

// helmfileSync deploys one release of env from the repository's main, as
// the government's Drone pipeline runs helmfile once a merge lands.
func helmfileSync(t *testing.T, kubeconfig string, repo *testenv.Repo, env, release string) {
	t.Helper()
	helmfile := testenv.RequireTool(t, "helmfile")
	helm := testenv.RequireTool(t, "helm")
	work := filepath.Join(t.TempDir(), "deploy")
	gitRun(t, "", "clone", "--quiet", "--branch", "main", repo.Dir, work)
	cmd := exec.CommandContext(t.Context(), helmfile, "--file", "helmfile.yaml.gotmpl", "--environment", env, "--selector", "name="+release, "sync")
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(helm)+string(os.PathListSeparator)+os.Getenv("PATH"), "KUBECONFIG="+kubeconfig,
		"HELM_CACHE_HOME="+t.TempDir(), "HELM_CONFIG_HOME="+t.TempDir(), "HELM_DATA_HOME="+t.TempDir())
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("helmfile sync %s in %s: %v\n%s", release, env, err, out.String())
	}
}

// writeEmptyPasswordKey stores k's private key at path under the empty
// password, for a configuration that names no signing.password.
func writeEmptyPasswordKey(t *testing.T, k testenv.CosignKey, path string) string {
	t.Helper()
	block, _ := pem.Decode(must(os.ReadFile(k.Private)))
	der, err := encrypted.Decrypt(block.Bytes, []byte(testenv.TestOnlyKeyPassword))
	if err != nil {
		t.Fatal(err)
	}
	ct, err := encrypted.Encrypt(der, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: block.Type, Bytes: ct}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
