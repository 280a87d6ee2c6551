package cli

import (
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/secure-systems-lab/go-securesystemslib/encrypted"

	"github.com/stepper-cd/stepper/internal/testenv"
)

// The three sample configurations are what a new platform team copies, so
// each one runs unchanged but for its addresses: build-sign-push, validate
// and deploy through the stepper binary, against a registry that demands
// the sample's own credentials, a git server holding a desired-state
// repository shaped as the sample implies, and a fake GitLab.
func TestSamplesEndToEnd(t *testing.T) {
	platform.Get(t) // docker-registry and go are there
	testenv.RequireTool(t, "git")
	testenv.RequireTool(t, "cosign")
	bin := stepperBinary(t)
	t.Run("ehealth-helmsman", func(t *testing.T) { t.Parallel(); sampleEHealth(t, bin) })
	t.Run("shop-flux", func(t *testing.T) { t.Parallel(); sampleShop(t, bin) })
	t.Run("gov-helmfile", func(t *testing.T) { t.Parallel(); sampleGov(t, bin) })
}

// sampleEHealth: a vendor on the vendor chain deploys into devenvcgi, which
// takes changes as commits on master of its GitLab project.
func sampleEHealth(t *testing.T, bin string) {
	s := newSample(t, bin, "patient-api", "robot$vendor-x+ci")
	gitlab := testenv.StartFakeGitLab(t)
	gitlab.AddProject("vendor-x/desired-state")
	jenkins := testenv.StartFakeJenkins(t)
	repo := s.repo(t, "vendor-x/desired-state", "ehealth/desired-state", sampleSwaps{{ehealthChartsURL, ehealthCharts(t)}, {"registry.admin.ehealth.sundhed.dk", s.host}})
	// preprod and prod read their files from prod, which master reaches
	// through a merge request.
	gitOut(t, repo.Dir, "branch", "prod", "master")

	// The platform's own file, as its jobs and CI templates pass it.
	platform := s.platformFile(t, "ehealth-platform.yaml", sampleSwaps{
		{"https://jenkins.ehealth.example", jenkins.URL},
		{"registry.admin.ehealth.sundhed.dk", s.host}, // the registry and the base images
	})
	s.config(t, "ehealth-helmsman.yaml", sampleSwaps{
		{"https://gitlab.ehealth.example/", s.git.URL + "/"}, // the repositories, paths kept
		{"https://gitlab.ehealth.example", gitlab.URL},
	})
	key := s.key(t, "keys/ehealth-2026.pub")
	s.key(t, "keys/ehealth-2024.pub") // revoked in the sample
	pem, err := os.ReadFile(key.Private)
	if err != nil {
		t.Fatal(err)
	}
	s.env = append(s.env,
		"STEPPER_PLATFORM_CONFIG="+platform,
		"HARBOR_USER="+s.user, "HARBOR_PASSWORD="+s.password,
		"COSIGN_PRIVATE_KEY="+string(pem), "COSIGN_PASSWORD="+testenv.TestOnlyKeyPassword,
		"GITLAB_TOKEN="+gitlab.Token,
		"JENKINS_USER=test-only-jenkins", "JENKINS_TOKEN=test-only-jenkins-token",
	)
	base := s.pushBase(t, "ehealth/base/java")

	built := s.buildSignPush(t, base, "--tag", "1.5.0")
	s.validate(t, built)
	before, _ := repo.Rev("master")
	s.deploy(t, built, "devenvcgi")

	after, _ := repo.Rev("master")
	if after == before {
		t.Fatal("nothing was committed to master")
	}
	if changed := strings.Fields(gitOut(t, repo.Dir, "diff", "--name-only", before, after)); !slices.Equal(changed, []string{"devenvcgi/dsf.yaml"}) {
		t.Errorf("the commit touches %v, want [devenvcgi/dsf.yaml]", changed)
	}
	s.assertTrailers(t, gitOut(t, repo.Dir, "log", "-1", "--format=%B", "master"), "devenvcgi")
	dsf, _ := repo.ReadFile("master", "devenvcgi/dsf.yaml")
	for _, want := range []string{strings.TrimPrefix(s.digest, "sha256:"), `"1.5.0"`, "-Xmx$MAX_HEAP", `"costs $$5"`, `"010"`, "<<: *vendor-app"} {
		if !strings.Contains(dsf, want) {
			t.Errorf("devenvcgi/dsf.yaml lacks %q:\n%s", want, dsf)
		}
	}
	s.assertSurgical(t, repo, before, after, "image.")
	if prod, _ := repo.Rev("prod"); prod != before {
		t.Errorf("the prod branch moved")
	}
	s.verifySignature(t, key.Public)
	s.refusesSecondEnvironment(t, built, "exttest", "devenvcgi")
	if after2, _ := repo.Rev("master"); after2 != after {
		t.Error("the refused deploy into exttest landed")
	}
	if n := len(gitlab.MergeRequests("vendor-x/desired-state")); n != 0 {
		t.Errorf("%d merge requests, want none: devenvcgi lands by commit", n)
	}

	// Privilege: production lands through the platform's Jenkins job. A
	// vendor turning that route into a commit, by flag, variable or its
	// own file, is refused and no branch moves, though the token could
	// push.
	vendorFile := filepath.Join(s.dir, "vendor-override.yaml")
	if err := os.WriteFile(vendorFile, append(mustRead(t, s.file), []byte("    land: {via: commit}\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, args := range map[string][]string{
		"--config-set": {"deploy", "-c", s.file, "--config-set", "environments.prod.land.via=commit", "--config-set", "chains.vendor=prod"},
		"STEPPER_*":    {"deploy", "-c", s.file},
		"stepper.yaml": {"deploy", "-c", vendorFile},
	} {
		env := s.env
		if name == "STEPPER_*" {
			s.env = append(append([]string(nil), env...), "STEPPER_ENVIRONMENTS_PROD_LAND_VIA=commit")
		}
		r := s.stepper(t, append(args, "--env", "prod", "--from-result", built)...)
		s.env = env
		if r.code == 0 || !strings.Contains(r.stderr, "environments[prod].land") || !strings.Contains(r.stderr, "is the platform") {
			t.Errorf("prod route overridden by %s: exit %d\n%s", name, r.code, r.stderr)
		}
	}
	for _, b := range []string{"master", "prod"} {
		if now, _ := repo.Rev(b); (b == "master" && now != after) || (b == "prod" && now != before) {
			t.Errorf("branch %s moved after a refused privileged deploy", b)
		}
	}
	promoteEHealth(t, s, repo, gitlab, jenkins, built, base)
}

// sampleShop: the shop's staging takes a commit to the Flux repository and
// a stag-* tag on the verified digest.
func sampleShop(t *testing.T, bin string) {
	s := newSample(t, bin, "blog-service", "hostedshop-ci")
	gitlab := testenv.StartFakeGitLab(t)
	repo := s.repo(t, "hostedshop/k8s/flux", "shop/flux", sampleSwaps{{"docker.io", s.host}})
	secrets := filepath.Join(t.TempDir(), "run", "secrets")
	s.config(t, "shop-flux.yaml", sampleSwaps{
		{"git@gitlab.group.team.blue:", s.git.URL + "/"}, // SSH becomes local HTTP; the path is kept
		{"https://gitlab.group.team.blue", gitlab.URL},
		{"docker.io", s.host},
		// Not a network address but the place the CI job mounts its
		// secrets: /run/secrets is the machine's, not the test's.
		{"file:///run/secrets/", "file://" + secrets + "/"},
	})
	key := s.key(t, "keys/shop-2026.pub")
	if err := os.MkdirAll(secrets, 0o700); err != nil {
		t.Fatal(err)
	}
	copyFile(t, key.Private, filepath.Join(secrets, "cosign.key"))
	s.dockerConfig(t, filepath.Join(s.home, ".docker"))
	s.env = append(s.env, "COSIGN_PASSWORD="+testenv.TestOnlyKeyPassword)
	base := s.pushBase(t, "hostedshop/base")

	built := s.buildSignPush(t, base)
	s.validate(t, built)
	before, _ := repo.Rev("master")
	s.deploy(t, built, "staging")

	after, _ := repo.Rev("master")
	if after == before {
		t.Fatal("nothing was committed to master")
	}
	changed := strings.Fields(gitOut(t, repo.Dir, "diff", "--name-only", before, after))
	if len(changed) == 0 || slices.ContainsFunc(changed, func(f string) bool { return !strings.HasPrefix(f, "clusters/staging/apps/") }) {
		t.Errorf("the commit touches %v, want only clusters/staging/apps", changed)
	}
	s.assertTrailers(t, gitOut(t, repo.Dir, "log", "-1", "--format=%B", "master"), "staging")
	tag := "stag-" + s.tag
	if got := s.tagDigest(t, "hostedshop/blog-service:"+tag); got != s.digest {
		t.Errorf("%s points at %q, want %s", tag, got, s.digest)
	}
	hr, _ := repo.ReadFile("master", "clusters/staging/apps/blog-service.yaml")
	for _, want := range []string{"tag: " + tag + ` # {"$imagepolicy": "flux-system:blog-service-stag:tag"}`, `"$#,##0.00"`, `"020"`, "*resources"} {
		if !strings.Contains(hr, want) {
			t.Errorf("blog-service.yaml lacks %q:\n%s", want, hr)
		}
	}
	s.assertSurgical(t, repo, before, after, "tag:", "repository:", "digest:")
	s.verifySignature(t, key.Public)
	s.refusesSecondEnvironment(t, built, "production", "staging")
	if after2, _ := repo.Rev("master"); after2 != after {
		t.Error("the refused deploy into production landed")
	}
	promoteShop(t, s, repo, gitlab, built, base)
}

// sampleGov: dev takes a merge request into main from a branch of its own;
// main, whose every commit releases, is not written.
func sampleGov(t *testing.T, bin string) {
	s := newSample(t, bin, "hocs-casework", "robot$hocs-ci")
	gitlab := testenv.StartFakeGitLab(t)
	gitlab.AddProject("hocs/deploy-notprod")
	charts := govChartRepository(t)
	repo := s.repo(t, "hocs/deploy-notprod", "gov/deploy-notprod", sampleSwaps{{"registry.gov.example", s.host}, {govChartsURL, charts}})
	gitOut(t, repo.Dir, "branch", "-m", "master", "main")
	gitOut(t, repo.Dir, "symbolic-ref", "HEAD", "refs/heads/main")

	s.config(t, "gov-helmfile.yaml", sampleSwaps{
		{"https://gitlab.gov.example/", s.git.URL + "/"},
		{"https://gitlab.gov.example", gitlab.URL},
		{"registry.gov.example", s.host},
	})
	// The one change that is not an address: the sample signs with a Vault
	// transit key (hashivault://hocs-release), which stepper reaches through
	// a sigstore-kms-hashivault plugin on PATH; neither Vault nor that plugin
	// runs here, so a file key stands in for that one line.
	s.replaceLine(t, "  key: hashivault://hocs-release", "  key: file://keys/test-only-hocs-release.key")
	key := s.key(t, "keys/hocs-2026.pub")
	s.writeEmptyPasswordKey(t, key, "keys/test-only-hocs-release.key")
	if err := os.MkdirAll(filepath.Join(s.dir, "secrets"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.dir, "secrets", "registry-token"), []byte(s.password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.env = append(s.env, "GITLAB_TOKEN="+gitlab.Token)
	base := s.pushBase(t, "hocs/base/java")

	built := s.buildSignPush(t, base, "--tag", "3.3.0")
	s.validate(t, built)
	before, _ := repo.Rev("main")
	s.deploy(t, built, "dev")

	if after, _ := repo.Rev("main"); after != before {
		t.Fatalf("main moved %s -> %s: every commit on main releases", before, after)
	}
	branch := "stepper/dev/hocs-casework-" + strings.TrimPrefix(s.digest, "sha256:")[:12]
	head, err := repo.Rev(branch)
	if err != nil {
		t.Fatalf("no branch %s: %v\n%s", branch, err, gitOut(t, repo.Dir, "branch", "-a"))
	}
	// The tag goes into the versions file; the digest, which the versions
	// file has no key for, into the app's values file of the environment.
	if changed := strings.Fields(gitOut(t, repo.Dir, "diff", "--name-only", before, head)); !slices.Contains(changed, "environments/dev/versions.yaml") ||
		slices.ContainsFunc(changed, func(f string) bool {
			return f != "environments/dev/versions.yaml" && f != "environments/dev/values/hocs-casework.yaml"
		}) {
		t.Errorf("the branch changes %v, want environments/dev/versions.yaml and at most the app's dev values", changed)
	}
	s.assertTrailers(t, gitOut(t, repo.Dir, "log", "-1", "--format=%B", branch), "dev")
	versions, _ := repo.ReadFile(branch, "environments/dev/versions.yaml")
	if !strings.Contains(versions, "3.3.0") {
		t.Errorf("versions.yaml on %s lacks 3.3.0:\n%s", branch, versions)
	}
	s.assertSurgical(t, repo, before, head, "casework:", "image:", "digest: "+s.digest)
	mrs := gitlab.MergeRequests("hocs/deploy-notprod")
	if len(mrs) != 1 {
		t.Fatalf("%d merge requests, want 1", len(mrs))
	}
	if mr := mrs[0]; mr.SourceBranch != branch || mr.TargetBranch != "main" || mr.State != "opened" || !strings.Contains(mr.Description, s.digest) {
		t.Errorf("merge request %s -> %s (%s):\n%s", mr.SourceBranch, mr.TargetBranch, mr.State, mr.Description)
	}
	s.verifySignature(t, key.Public)
	s.refusesSecondEnvironment(t, built, "qa", "dev")
	if n := len(gitlab.MergeRequests("hocs/deploy-notprod")); n != 1 {
		t.Errorf("the refused deploy into qa left %d merge requests", n)
	}
	promoteGov(t, s, repo, gitlab, charts, built, base)
}

// sample is one sample configuration on the local platform: a registry of
// its own behind the sample's credentials, a git server, and the directory
// the configuration file lives in, where its relative paths point.
type sample struct {
	bin, app       string
	host           string
	user, password string
	git            *testenv.GitServer
	dir, file      string // the configuration's directory and path
	home           string
	env            []string
	appDir         string
	digest, tag    string
	imageRef       string
	// extra are flags every run gets, to work around a defect of the
	// sample that the test reports.
	extra []string
}

func newSample(t *testing.T, bin, app, user string) *sample {
	t.Helper()
	s := &sample{bin: bin, app: app, user: user, password: "test-only-registry-password", dir: t.TempDir(), home: t.TempDir(), appDir: t.TempDir()}
	reg, err := testenv.StartRegistryAuth(t.Context(), t.TempDir(), s.user, s.password)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Stop)
	s.host = reg.Host
	if s.git, err = testenv.StartGitServer(t.Context(), t.TempDir()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.git.Stop)
	if err := os.WriteFile(filepath.Join(s.appDir, "server"), []byte("#!/bin/false\n"+app+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	s.env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + s.home,
		// The local registry speaks plain HTTP; every sample's is HTTPS.
		"STEPPER_REGISTRY_INSECURE=true",
		"GITLAB_CI=true", "CI_COMMIT_SHA=0123456789abcdef0123456789abcdef01234567", "CI_COMMIT_BRANCH=master",
		"CI_COMMIT_REF_NAME=master", "CI_COMMIT_TIMESTAMP=2026-11-20T10:00:00Z", "CI_PROJECT_NAME=" + app,
		"CI_PROJECT_URL=https://gitlab.example.test/vendor/" + app, "CI_PIPELINE_URL=https://gitlab.example.test/vendor/" + app + "/-/pipelines/7",
		"CI_JOB_URL=https://gitlab.example.test/vendor/" + app + "/-/jobs/9", "GITLAB_USER_LOGIN=alice",
	}
	return s
}

// sampleSwaps replace addresses, in order: a longer address before its
// prefix.
type sampleSwaps []struct{ old, new string }

// swap replaces the addresses in text and fails unless the result differs
// from text only in them: every line, with the swaps undone, is the
// original line.
func (sw sampleSwaps) swap(t *testing.T, what, text string) string {
	t.Helper()
	out := text
	for _, s := range sw {
		if !strings.Contains(out, s.old) {
			t.Fatalf("%s: no %q to swap", what, s.old)
		}
		out = strings.ReplaceAll(out, s.old, s.new)
	}
	orig, swapped := strings.Split(text, "\n"), strings.Split(out, "\n")
	if len(orig) != len(swapped) {
		t.Fatalf("%s: the swap changed the number of lines", what)
	}
	for i, line := range swapped {
		for _, s := range slices.Backward(sw) {
			line = strings.ReplaceAll(line, s.new, s.old)
		}
		if line != orig[i] {
			t.Fatalf("%s:%d: swapped %q is more than its addresses:\n%s", what, i+1, orig[i], swapped[i])
		}
	}
	return out
}

// config writes the sample from testdata/config, addresses swapped, into
// the sample's directory under its own name.
func (s *sample) config(t *testing.T, name string, sw sampleSwaps) {
	t.Helper()
	text := string(mustRead(t, filepath.Join("..", "..", "testdata", "config", name)))
	s.file = filepath.Join(s.dir, name)
	if err := os.WriteFile(s.file, []byte(sw.swap(t, name, text)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// platformFile writes the platform's file name from testdata/config with
// its addresses swapped, beside the vendor's, and returns its path.
func (s *sample) platformFile(t *testing.T, name string, sw sampleSwaps) string {
	t.Helper()
	text := string(mustRead(t, filepath.Join("..", "..", "testdata", "config", name)))
	path := filepath.Join(s.dir, name)
	if err := os.WriteFile(path, []byte(sw.swap(t, name, text)), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// replaceLine changes one whole line of the configuration; the test says
// why next to each use.
func (s *sample) replaceLine(t *testing.T, old, new string) {
	t.Helper()
	text := string(mustRead(t, s.file))
	if strings.Count(text, "\n"+old+"\n") != 1 {
		t.Fatalf("%s has no line %q", s.file, old)
	}
	if err := os.WriteFile(s.file, []byte(strings.Replace(text, "\n"+old+"\n", "\n"+new+"\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// repo creates the desired-state repository name from testdata/samples/dir,
// with the seed's addresses swapped as the sample's are.
func (s *sample) repo(t *testing.T, name, dir string, sw sampleSwaps) *testenv.Repo {
	t.Helper()
	seed := seedFrom(t, filepath.Join("..", "..", "testdata", "samples", dir))
	for path, text := range seed {
		for _, a := range sw {
			text = strings.ReplaceAll(text, a.old, a.new)
		}
		seed[path] = text
	}
	r, err := s.git.NewRepo(name, seed)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// key makes a test-only cosign key pair and puts its public half where the
// sample's signing.publicKeys entry expects it.
func (s *sample) key(t *testing.T, pub string) testenv.CosignKey {
	t.Helper()
	k, err := testenv.NewCosignKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(filepath.Join(s.dir, pub)), 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, k.Public, filepath.Join(s.dir, pub))
	return k
}

// writeEmptyPasswordKey stores k's private key at path under the empty
// password, for a sample that names no signing.password.
func (s *sample) writeEmptyPasswordKey(t *testing.T, k testenv.CosignKey, path string) {
	t.Helper()
	block, _ := pem.Decode(mustRead(t, k.Private))
	der, err := encrypted.Decrypt(block.Bytes, []byte(testenv.TestOnlyKeyPassword))
	if err != nil {
		t.Fatal(err)
	}
	ct, err := encrypted.Encrypt(der, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.dir, path), pem.EncodeToMemory(&pem.Block{Type: block.Type, Bytes: ct}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// pushBase pushes the test base image into the sample's registry as the
// sample's credentials allow, and returns its digest reference.
func (s *sample) pushBase(t *testing.T, repo string) string {
	t.Helper()
	img, err := testenv.BaseImage()
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag(s.host+"/"+repo+":latest", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img, remote.WithContext(t.Context()), remote.WithAuth(s.auth())); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	return tag.Context().Digest(d.String()).String()
}

func (s *sample) auth() authn.Authenticator {
	return &authn.Basic{Username: s.user, Password: s.password}
}

// dockerConfig writes a docker config.json with the sample's credentials
// into dir.
func (s *sample) dockerConfig(t *testing.T, dir string) string {
	t.Helper()
	cfg, _ := json.Marshal(map[string]any{"auths": map[string]any{
		s.host: map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(s.user + ":" + s.password))},
	}})
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// stepper runs the binary with the sample's environment and nothing else.
func (s *sample) stepper(t *testing.T, args ...string) run {
	t.Helper()
	return runBinary(t, s.bin, s.env, t.TempDir(), append(args, s.extra...)...)
}

// buildSignPush lays the app on base with the layers builder and returns
// the result file.
func (s *sample) buildSignPush(t *testing.T, base string, extra ...string) string {
	t.Helper()
	result := filepath.Join(t.TempDir(), "build.json")
	args := append([]string{"build-sign-push", "-c", s.file, "--log-format", "json", "--result", result,
		"--builder", "layers", "--base", base, "--layer", s.appDir + ":/app", "--entrypoint", "/app/server", "--user", "65532:65532"}, extra...)
	r := s.stepper(t, args...)
	if r.code != 0 {
		t.Fatalf("build-sign-push: exit %d\n%s", r.code, r.stderr)
	}
	res := resultOf(t, []string{"--result", result})
	s.digest, s.tag, s.imageRef = res.Digest, res.Outputs["tags"], res.Outputs["image-ref"]
	if !strings.HasPrefix(s.imageRef, s.host+"/") || !strings.HasPrefix(s.digest, "sha256:") {
		t.Fatalf("build-sign-push: image %q digest %q, want one in %s", s.imageRef, s.digest, s.host)
	}
	return result
}

// validate checks the built image against the platform's container rules.
func (s *sample) validate(t *testing.T, built string) {
	t.Helper()
	if r := s.stepper(t, "validate", "-c", s.file, "--log-format", "json", "--from-result", built); r.code != 0 {
		t.Errorf("validate: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
}

func (s *sample) deploy(t *testing.T, built, env string) {
	t.Helper()
	if r := s.stepper(t, "deploy", "-c", s.file, "--log-format", "json", "--env", env, "--from-result", built); r.code != 0 {
		t.Fatalf("deploy --env %s: exit %d\n%s", env, r.code, r.stderr)
	}
}

// refusesSecondEnvironment: a direct deploy into the chain's second
// environment is refused and points at promote.
func (s *sample) refusesSecondEnvironment(t *testing.T, built, env, from string) {
	t.Helper()
	r := s.stepper(t, "deploy", "-c", s.file, "--log-format", "json", "--env", env, "--from-result", built)
	if want := "stepper promote --from " + from + " --to " + env; r.code != 1 || !strings.Contains(r.stderr, want) {
		t.Errorf("deploy --env %s: exit %d, want 1 and %q\n%s", env, r.code, want, r.stderr)
	}
}

func (s *sample) assertTrailers(t *testing.T, msg, env string) {
	t.Helper()
	for _, want := range []string{
		"deploy " + s.app + " to " + env + ": " + strings.TrimPrefix(s.digest, "sha256:")[:12],
		"Stepper-App: " + s.app, "Stepper-Env: " + env, "Stepper-Digest: " + s.digest,
		"Stepper-Image: " + s.host + "/", "Stepper-Pipeline: https://gitlab.example.test/vendor/" + s.app + "/-/pipelines/7",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("commit message lacks %q:\n%s", want, msg)
		}
	}
}

// assertSurgical: every line the change adds or removes carries one of
// keys; the other apps, comments and values are left alone.
func (s *sample) assertSurgical(t *testing.T, repo *testenv.Repo, from, to string, keys ...string) {
	t.Helper()
	diff := gitOut(t, repo.Dir, "diff", "--unified=0", from, to)
	var foreign []string
	for _, line := range strings.Split(diff, "\n") {
		if strings.HasPrefix(line, "+++") || strings.HasPrefix(line, "---") || !(strings.HasPrefix(line, "+") || strings.HasPrefix(line, "-")) {
			continue
		}
		if !slices.ContainsFunc(keys, func(k string) bool { return strings.Contains(line, k) }) {
			foreign = append(foreign, line)
		}
	}
	if len(foreign) > 0 {
		t.Errorf("the change touches %d lines that are not the release's, first %q:\n%s", len(foreign), foreign[0], diff)
	}
}

// verifySignature checks the digest's signature with the official cosign
// CLI, offline, with the sample's public key and registry credentials.
func (s *sample) verifySignature(t *testing.T, pub string) {
	t.Helper()
	dockerDir := s.dockerConfig(t, t.TempDir())
	ref := strings.SplitN(s.imageRef, "@", 2)[0]
	if i := strings.LastIndex(ref, ":"); i > len(s.host) {
		ref = ref[:i]
	}
	out, err := testenv.Cosign(t, []string{"DOCKER_CONFIG=" + dockerDir}, "verify", "--key", pub,
		"--insecure-ignore-tlog=true", "--allow-http-registry", ref+"@"+s.digest)
	if err != nil {
		t.Fatalf("cosign verify: %v\n%s", err, out)
	}
}

// tagDigest is the digest a tag of the sample's registry names, or "".
func (s *sample) tagDigest(t *testing.T, repoTag string) string {
	t.Helper()
	desc, err := remote.Head(mustRef(t, s.host+"/"+repoTag), remote.WithContext(t.Context()), remote.WithAuth(s.auth()))
	if err != nil {
		return ""
	}
	return desc.Digest.String()
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
