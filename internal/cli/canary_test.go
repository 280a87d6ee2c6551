package cli

import (
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/secure-systems-lab/go-securesystemslib/encrypted"

	"github.com/stepper-cd/stepper/internal/report"
	"github.com/stepper-cd/stepper/internal/testenv"
)

// The canaries: test secrets, made for this test, each planted where a real
// job keeps its kind of secret. None may appear anywhere the run writes.
var (
	// The signing key's password, with the characters JSON, HTML and URL
	// escaping change.
	canaryKeyPassword = canarySecret{name: "signing key password", value: `pa"ss&w0rd<x`}
	// The registry's password, from registry.credentials (env://).
	canaryRegistry = canarySecret{name: "registry password", value: `reg"Pa&ss<w0rd>9`, users: []string{"robot"}}
	// A 3-character Vault token: masked only as a whole token.
	canaryShort = canarySecret{name: "VAULT_TOKEN (3 characters)", value: "q9Z"}
	// The password inside DOCKER_AUTH_CONFIG.
	canaryDockerAuth = canarySecret{name: "DOCKER_AUTH_CONFIG password", value: "dac-canary-Rq81", users: []string{"ci-bot"}}
	// A credential build argument.
	canaryNPM = canarySecret{name: "NPM_TOKEN build argument", value: "npm_canaryBuildArg42"}
	// The token in desiredState.repo.
	canaryGit = canarySecret{name: "desiredState.repo token", value: "glpat-canaryGit77", users: []string{"oauth2"}}

	canaries = []canarySecret{canaryKeyPassword, canaryRegistry, canaryShort, canaryDockerAuth, canaryNPM, canaryGit}
)

// canaryWorld is one vendor and one platform holding every canary: a
// registry behind the canary password, a signing key under another, a
// desired-state repository behind a token written into desiredState.repo, a
// cluster and a chart repository for the apply job, and the job's
// environment with a Vault token and a DOCKER_AUTH_CONFIG.
type canaryWorld struct {
	bin        string
	host       string
	base       string // repository@digest
	unsigned   string
	config     string
	kubeconfig string
	chartURL   string
	appDir     string
	regDir     string // the registry's storage
	repo       *testenv.Repo
	authFile   string // REGISTRY_AUTH_FILE for buildah, which reads no stepper.yaml
	rec        *argvRecorder
	// home, cache and tmp are the run's HOME, XDG_CACHE_HOME and TMPDIR,
	// scanned whole afterwards; outputs holds every --result, --dotenv and
	// --junit file.
	home, cache, tmp, outputs string
	// inputs are the files the job is given (stepper.yaml, keys, the
	// registry auth file): they hold canaries by design and are not scanned.
	inputs string
	env    []string
}

func newCanaryWorld(t *testing.T) *canaryWorld {
	t.Helper()
	testenv.RequireTool(t, "git")
	w := &canaryWorld{appDir: t.TempDir(), regDir: t.TempDir(), home: t.TempDir(), tmp: t.TempDir(), outputs: t.TempDir()}
	w.cache = filepath.Join(w.home, ".cache")
	w.inputs = t.TempDir()
	inputs := w.inputs

	w.bin = stepperBinary(t)

	reg, err := testenv.StartRegistryAuth(t.Context(), w.regDir, "robot", canaryRegistry.value)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Stop)
	w.host = reg.Host
	w.base = w.registry().pushBase(t, "base/static")
	w.unsigned = w.registry().pushBase(t, "vendor-x/unsigned")

	git, err := testenv.StartAuthGitServer(t.Context(), t.TempDir(), "oauth2", canaryGit.value)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(git.Stop)
	seed := seedFrom(t, filepath.Join("..", "..", "testdata", "desiredstate", "helmsman"))
	for k := range seed {
		if strings.HasPrefix(k, "golden") {
			delete(seed, k)
		}
	}
	if w.repo, err = git.NewRepo("vendor-x/helmsman", seed); err != nil {
		t.Fatal(err)
	}
	repoURL := strings.Replace(w.repo.HTTPURL, "http://", "http://oauth2:"+canaryGit.value+"@", 1)
	// A token the server refuses, which holds the real one: printed
	// unmasked, it would show as a leak of the real token too.
	deniedURL := strings.Replace(w.repo.HTTPURL, "http://", "http://oauth2:"+canaryGit.value+"x@", 1)

	key, err := testenv.NewCosignKey(inputs)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(inputs, "canary.key")
	reencryptKey(t, key.Private, keyFile, canaryKeyPassword.value)
	passFile := filepath.Join(inputs, "key-password")
	if err := os.WriteFile(passFile, []byte(canaryKeyPassword.value), 0o600); err != nil {
		t.Fatal(err)
	}
	w.authFile = filepath.Join(inputs, "auth.json")
	auth := base64.StdEncoding.EncodeToString([]byte("robot:" + canaryRegistry.value))
	if err := os.WriteFile(w.authFile, []byte(`{"auths":{"`+w.host+`":{"auth":"`+auth+`"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(w.appDir, "server"), []byte("#!/bin/false\nthe app\n"), 0o755); err != nil {
		t.Fatal(err)
	}

	w.kubeconfig = kubePlatform.Get(t).Kube.Kubeconfig
	w.chartURL, _ = chartRepo(t, map[string]string{"1.4.0": ""}, false)
	w.config = filepath.Join(inputs, "stepper.yaml")
	cfg := fmt.Sprintf(`
registry:
  host: %q
  project: vendor-x
  insecure: true
  credentials: {username: robot, password: "env://HARBOR_PASSWORD"}
baseImages: [%q]
signing:
  key: "file://%s"
  password: "file://%s"
  publicKeys: [{id: canary, path: %q}]
build: {builder: layers}
charts: {repositories: [%q]}
chain: canary
chains:
  canary: [exttest, preprod]
  broken: [broken]
  apply: [devtest]
  denied: [denied]
environments:
  - name: exttest
    desiredState: {repo: %q, branch: master, path: exttest.yaml, format: helmsman}
    land: {via: commit}
  - name: preprod
    desiredState: {repo: %q, branch: master, path: exttest.yaml, format: helmsman}
    land: {via: commit}
  - name: broken
    desiredState: {repo: %q, branch: master, path: missing/nothing.yaml, format: helmsman}
    land: {via: commit}
  - name: denied
    desiredState: {repo: %q, branch: master, path: exttest.yaml, format: helmsman}
    land: {via: commit}
  - name: devtest
`, w.host, w.host+"/base/static", keyFile, passFile, key.Public, w.chartURL, repoURL, repoURL, repoURL, deniedURL)
	if err := os.WriteFile(w.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	w.rec = newArgvRecorder(t)
	dockerAuth := base64.StdEncoding.EncodeToString([]byte("ci-bot:" + canaryDockerAuth.value))
	w.env = []string{
		"PATH=" + w.rec.dir + string(os.PathListSeparator) + os.Getenv("PATH"),
		"HOME=" + w.home, "XDG_CACHE_HOME=" + w.cache, "TMPDIR=" + w.tmp,
		"GITLAB_CI=true", "CI_COMMIT_SHA=0123456789abcdef0123456789abcdef01234567", "CI_COMMIT_BRANCH=master",
		"CI_COMMIT_REF_NAME=master", "CI_COMMIT_TIMESTAMP=2026-11-20T10:00:00Z", "CI_PROJECT_NAME=patient-api",
		"CI_PROJECT_PATH=vendor-x/patient-api", "CI_JOB_NAME=canary",
		"CI_PROJECT_URL=https://gitlab.example.test/vendor-x/patient-api",
		"CI_PIPELINE_URL=https://gitlab.example.test/vendor-x/patient-api/-/pipelines/7",
		"CI_JOB_URL=https://gitlab.example.test/vendor-x/patient-api/-/jobs/9",
		"VAULT_TOKEN=" + canaryShort.value,
		`DOCKER_AUTH_CONFIG={"auths":{"registry.canary.invalid":{"auth":"` + dockerAuth + `"}}}`,
		"HARBOR_PASSWORD=" + canaryRegistry.value,
	}
	return w
}

// registry is the world's registry as the samples' helpers see it.
func (w *canaryWorld) registry() *sample {
	return &sample{host: w.host, user: "robot", password: canaryRegistry.value}
}

// reencryptKey stores the cosign private key at from under password at to.
func reencryptKey(t *testing.T, from, to, password string) {
	t.Helper()
	block, _ := pem.Decode(mustRead(t, from))
	der, err := encrypted.Decrypt(block.Bytes, []byte(testenv.TestOnlyKeyPassword))
	if err != nil {
		t.Fatal(err)
	}
	ct, err := encrypted.Encrypt(der, []byte(password))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, pem.EncodeToMemory(&pem.Block{Type: block.Type, Bytes: ct}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// canaryRun is one run of the binary and what it printed.
type canaryRun struct {
	label          string // verb, path and log format
	code           int
	stdout, stderr string
}

// stepper runs the binary at trace level in format with every output file,
// and extra environment. wantOK says whether this is the success path.
func (w *canaryWorld) stepper(t *testing.T, label, format string, wantOK bool, extraEnv []string, args ...string) canaryRun {
	t.Helper()
	out := filepath.Join(w.outputs, strings.NewReplacer(" ", "-", "/", "-").Replace(label)+"-"+format)
	if err := os.MkdirAll(out, 0o700); err != nil {
		t.Fatal(err)
	}
	full := append([]string{"-c", w.config, "--log-level", "trace", "--log-format", format,
		"--result", filepath.Join(out, "result.json"), "--dotenv", filepath.Join(out, "out.env"),
		"--junit", filepath.Join(out, "junit.xml")}, args...)
	got := runBinary(t, w.bin, append(append([]string{}, w.env...), extraEnv...), w.tmp, full...)
	r := canaryRun{label: label + " (" + format + ")", code: got.code, stdout: got.stdout, stderr: got.stderr}
	t.Logf("%s: exit %d: %s", r.label, r.code, lastLines(r.stderr, 1))
	if wantOK != (r.code == 0) {
		t.Errorf("%s: exit %d, want success %v\nstdout:\n%s\nstderr:\n%s", r.label, r.code, wantOK, r.stdout, lastLines(r.stderr, 30))
	}
	return r
}

// resultFile is the --result file of the run labelled label in format.
func (w *canaryWorld) resultFile(label, format string) string {
	return filepath.Join(w.outputs, strings.NewReplacer(" ", "-", "/", "-").Replace(label)+"-"+format, "result.json")
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// applyState writes a Helmsman desired state for the apply job: app patient-api in
// ns, running image, pinned by digest unless digest is "".
func (w *canaryWorld) applyState(t *testing.T, ns, image, tag, digest string) string {
	t.Helper()
	dir := t.TempDir()
	pin := ""
	if digest != "" {
		pin = fmt.Sprintf("      image.digest: %q\n", digest)
	}
	dsf := fmt.Sprintf("namespaces:\n  %s:\nhelmRepos:\n  local: %q\napps:\n  patient-api:\n    namespace: %s\n    enabled: true\n"+
		"    chart: local/patient-api\n    version: 1.4.0\n    priority: 0\n    set:\n      image.repository: %s\n"+
		"      image.tag: %q\n%s      autoscaling.enabled: false\n      replicaCount: 2\n", ns, w.chartURL, ns, image, tag, pin)
	if err := os.WriteFile(filepath.Join(dir, "dsf.yaml"), []byte(dsf), 0o644); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "dsf.yaml")
}

// Issue 12, "done when: a canary scan". Every verb runs on its success and
// its error path, at trace level, in both log formats, with every output
// file, while the job holds six canary secrets. Then stdout, stderr, the
// result, dotenv and JUnit files, the command line of every process stepper
// started, the desired-state checkouts and pushed commits, the images'
// manifests and configs in the registry, and all of HOME (the stepper
// cache), XDG_CACHE_HOME and TMPDIR are scanned for each canary in every
// form a leak would take. None may be found.
func TestCanaryScan(t *testing.T) {
	w := newCanaryWorld(t)
	_, buildahErr := exec.LookPath("buildah")
	var runs []canaryRun
	run := func(r canaryRun) { runs = append(runs, r) }
	prefix := fmt.Sprintf("cy%d", time.Now().Unix()%100000)

	for _, format := range []string{"json", "console"} {
		// The NPM_TOKEN build argument as a vendor writes it: on the
		// command line in one round, in STEPPER_BUILD_ARG in the other.
		buildArg, npmEnv := []string{"--build-arg", "NPM_TOKEN=" + canaryNPM.value}, []string(nil)
		if format == "console" {
			buildArg, npmEnv = nil, []string{"STEPPER_BUILD_ARG=NPM_TOKEN=" + canaryNPM.value}
		}
		// build-sign-push: layers on the approved base, then a Dockerfile
		// through buildah with the NPM_TOKEN credential build argument, then
		// a Dockerfile whose RUN (with the secret mounted) fails.
		run(w.stepper(t, "build-sign-push layers", format, true, nil, "build-sign-push", "--tag", "canary-"+format, "--allow-retag",
			"--base", w.base, "--layer", w.appDir+":/app", "--entrypoint", "/app/server", "--user", "65532:65532"))
		built := w.resultFile("build-sign-push layers", format)
		res, err := report.ReadJSON(built)
		if err != nil {
			t.Fatalf("build-sign-push layers (%s) left no result: %v", format, err)
		}
		if buildahErr == nil {
			ctxDir := t.TempDir()
			os.WriteFile(filepath.Join(ctxDir, "server"), []byte("#!/bin/false\n"), 0o755)
			os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte(fmt.Sprintf(
				"FROM %s\nARG NPM_TOKEN\nCOPY server /app/server\nUSER 65532:65532\nENTRYPOINT [\"/app/server\"]\n", w.base)), 0o644)
			env := append([]string{"REGISTRY_AUTH_FILE=" + w.authFile}, npmEnv...)
			run(w.stepper(t, "build-sign-push buildah", format, true, env, append([]string{"build-sign-push", "--builder", "buildah",
				"--context", ctxDir, "--tag", "buildah-" + format, "--allow-retag"}, buildArg...)...))

			failDir := t.TempDir()
			os.WriteFile(filepath.Join(failDir, "Dockerfile"), []byte(fmt.Sprintf(
				"FROM %s\nRUN --mount=type=secret,id=NPM_TOKEN,env=NPM_TOKEN /no/such/tool \"$NPM_TOKEN\"\n", w.base)), 0o644)
			run(w.stepper(t, "build-sign-push buildah failing", format, false, env, append([]string{"build-sign-push", "--builder", "buildah",
				"--context", failDir, "--tag", "failing-" + format}, buildArg...)...))
		} else {
			t.Logf("buildah not installed: the NPM_TOKEN build argument goes through the layers builder's error path only")
		}
		run(w.stepper(t, "build-sign-push unapproved base", format, false, npmEnv, append([]string{"build-sign-push",
			"--base", w.unsigned, "--layer", w.appDir + ":/app", "--entrypoint", "/app/server"}, buildArg...)...))

		// validate: the built image; an unsigned one checked against the
		// desired state cloned with the token.
		run(w.stepper(t, "validate", format, true, nil, "validate", "--from-result", built))
		run(w.stepper(t, "validate unsigned", format, false, nil, "validate", "--image", w.unsigned))
		run(w.stepper(t, "validate desired state", format, false, nil, "validate", "--image", w.unsigned, "--env", "exttest"))

		// deploy into the desired state behind the token; into an
		// environment whose file is missing.
		run(w.stepper(t, "deploy gitops", format, true, nil, "deploy", "--env", "exttest", "--from-result", built))
		run(w.stepper(t, "deploy gitops missing file", format, false, nil, "--config-set", "chain=broken",
			"deploy", "--env", "broken", "--from-result", built))
		run(w.stepper(t, "deploy gitops access denied", format, false, nil, "--config-set", "chain=denied",
			"deploy", "--env", "denied", "--from-result", built))

		// deploy --apply: the signed digest; a tag-only image.
		ns := prefix + "-" + format
		good := w.applyState(t, ns, res.Image, "canary-"+format, res.Digest)
		run(w.stepper(t, "deploy apply", format, true, nil, "--config-set", "chain=apply",
			"deploy", "--env", "devtest", "--apply", "--state", good, "--kubeconfig", w.kubeconfig, "--timeout", "2m"))
		bad := w.applyState(t, ns+"-bad", res.Image, "canary-"+format, "")
		run(w.stepper(t, "deploy apply tag only", format, false, nil, "--config-set", "chain=apply",
			"deploy", "--env", "devtest", "--apply", "--state", bad, "--kubeconfig", w.kubeconfig, "--timeout", "2m"))

		// smoke-test the applied release, signing evidence with the key; a
		// release whose health check fails.
		url := runSmokeApp(t)
		run(w.stepper(t, "smoke-test", format, true, nil, "--config-set", "chain=apply", "smoke-test", "--env", "devtest", "--app", "patient-api",
			"--namespace", ns, "--kubeconfig", w.kubeconfig, "--from-result", built, "--url", url, "--soak", "0"))
		sick := runSmokeApp(t, "HEALTH_STATUS=500")
		run(w.stepper(t, "smoke-test failing", format, false, nil, "--config-set", "chain=apply", "smoke-test", "--env", "devtest", "--app", "patient-api",
			"--namespace", ns, "--kubeconfig", w.kubeconfig, "--from-result", built, "--url", sick, "--timeout", "3s", "--soak", "0"))

		// promote: exttest and preprod run the same release, so nothing
		// moves, after the privilege check and the reads; out of order is
		// refused. rollback: nothing to return to; a bad commit is refused.
		run(w.stepper(t, "promote", format, true, nil, "promote", "--from", "exttest", "--to", "preprod"))
		run(w.stepper(t, "promote out of order", format, false, nil, "promote", "--from", "exttest", "--to", "exttest"))
		run(w.stepper(t, "rollback", format, false, nil, "rollback", "--env", "exttest", "--previous", "--reason", "canary"))
		run(w.stepper(t, "rollback bad commit", format, false, nil, "rollback", "--env", "exttest", "--to-commit", "HEAD~1", "--reason", "canary"))

		run(w.stepper(t, "config show", format, true, nil, "config", "show"))
		run(w.stepper(t, "config show bad value", format, false, nil, "--config-set", "registry.insecure=maybe", "config", "show"))
	}

	// The scan finds what it looks for: the job's own inputs hold every
	// canary but the build argument and the Vault token.
	found := map[string]bool{}
	for _, l := range scanTree(t, w.inputs, canaries) {
		found[l.canary] = true
	}
	for _, c := range []canarySecret{canaryKeyPassword, canaryRegistry, canaryGit} {
		if !found[c.name] {
			t.Errorf("the scan does not find the %s in the job's inputs", c.name)
		}
	}

	var leaks []leak
	for _, r := range runs {
		leaks = append(leaks, scanText("stdout of "+r.label, []byte(r.stdout), canaries)...)
		leaks = append(leaks, scanText("stderr of "+r.label, []byte(r.stderr), canaries)...)
	}
	if w.rec.lines(t) == 0 {
		t.Error("no command line was recorded: the process snapshot saw nothing")
	}
	for _, dir := range []string{w.outputs, filepath.Dir(w.rec.log), w.home, w.cache, w.tmp, w.repo.Dir, w.regDir} {
		leaks = append(leaks, scanTree(t, dir, canaries)...)
	}
	leaks = append(leaks, w.scanImages(t)...)
	if _, err := os.Stat(filepath.Join(w.cache, "stepper", "git")); err != nil {
		t.Errorf("no desired-state checkout in the cache to scan: %v", err)
	}
	for _, l := range leaks {
		t.Errorf("leak: %s", l)
	}
	t.Logf("%d runs scanned, %d command lines recorded", len(runs), w.rec.lines(t))
	if testing.Verbose() {
		b, _ := os.ReadFile(w.rec.log)
		t.Logf("command lines:\n%s", b)
	}
}

// scanImages scans the manifest and config of every image in the
// registry's pushed repositories, where a build argument would show in the
// history.
func (w *canaryWorld) scanImages(t *testing.T) []leak {
	t.Helper()
	var leaks []leak
	for _, tag := range []string{"canary-json", "canary-console", "buildah-json", "buildah-console"} {
		ref, err := name.NewTag(w.host+"/vendor-x/patient-api:"+tag, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		img, err := remote.Image(ref, remote.WithContext(t.Context()), remote.WithAuth(w.registry().auth()))
		if err != nil {
			continue // buildah absent
		}
		m, _ := img.RawManifest()
		c, _ := img.RawConfigFile()
		leaks = append(leaks, scanText("manifest of "+ref.String(), m, canaries)...)
		leaks = append(leaks, scanText("config of "+ref.String(), c, canaries)...)
	}
	return leaks
}
