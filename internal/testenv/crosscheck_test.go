package testenv_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/stepper-cd/stepper/internal/testenv"
)

// These tests prove that the tools later tests cross-check against really
// work on this machine, with the flags that work here.

func runTool(t *testing.T, dir string, env []string, argv ...string) string {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return string(out)
}

func TestOfficialCLIVersions(t *testing.T) {
	for _, tt := range []struct{ tool, want string }{
		{"helm", `Version:"v4.`},
		{"helm3", `Version:"v3.`},
		{"cosign", "GitVersion:    v3."},
	} {
		out := runTool(t, "", nil, testenv.RequireTool(t, tt.tool), "version")
		if !strings.Contains(out, tt.want) {
			t.Errorf("%s version: want %q in\n%s", tt.tool, tt.want, out)
		}
	}
}

func TestGitLabCILocalRunsAPipeline(t *testing.T) {
	glci := testenv.RequireTool(t, "gitlab-ci-local")
	testenv.RequireTool(t, "rsync")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, ".gitlab-ci.yml"), []byte(`
stages: [build]
hello:
  stage: build
  script:
    - echo "STEPPER_DIGEST=sha256:0123" > out.env
    - echo "job $CI_JOB_NAME ran"
  artifacts:
    reports:
      dotenv: out.env
`), 0o644)
	runTool(t, dir, nil, "git", "init", "-q")
	runTool(t, dir, nil, "git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-q", "--allow-empty", "-m", "init")
	out := runTool(t, dir, nil, glci, "--force-shell-executor", "--no-color", "hello")
	if !strings.Contains(out, "job hello ran") || !strings.Contains(out, "PASS") {
		t.Errorf("gitlab-ci-local output:\n%s", out)
	}
}

func TestGroovyRuns(t *testing.T) {
	groovy := testenv.RequireTool(t, "groovy")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "v.groovy"), []byte(`println "groovy ${GroovySystem.version}"`), 0o644)
	env := []string{"JAVA_HOME=" + javaHome()}
	if out := runTool(t, dir, env, groovy, "v.groovy"); !strings.Contains(out, "groovy 2.4.") {
		t.Errorf("want Groovy 2.4 (the Jenkins pipeline line), got:\n%s", out)
	}
}

func javaHome() string {
	if h := os.Getenv("JAVA_HOME"); h != "" {
		return h
	}
	return "/usr/lib/jvm/java-17-openjdk-amd64"
}

// buildah builds and pushes an image to the local registry, the registry
// serves it by digest, and podman runs it: the path build-sign-push and
// validate take.
func TestBuildahBuildsPushesAndPodmanRuns(t *testing.T) {
	buildah := testenv.RequireTool(t, "buildah")
	podman := testenv.RequireTool(t, "podman")
	testenv.RequireTool(t, "runc")
	reg := platform.Get(t).Registry

	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nfunc main() { println(\"hello from a non-root container\") }\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module hello\n\ngo 1.24\n"), 0o644)
	runTool(t, dir, []string{"CGO_ENABLED=0"}, "go", "build", "-o", "hello", ".")
	os.WriteFile(filepath.Join(dir, "Containerfile"), []byte("FROM scratch\nCOPY hello /hello\nUSER 65532:65532\nENTRYPOINT [\"/hello\"]\n"), 0o644)

	// podman refuses a runroot path longer than 50 characters, which
	// t.TempDir() paths are.
	runroot, err := os.MkdirTemp("", "stepper-run")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(runroot) })
	storage := []string{"--root", filepath.Join(dir, "storage"), "--runroot", runroot, "--storage-driver", "vfs"}
	ref := reg.Host + "/crosscheck/hello:1"
	runTool(t, dir, nil, append([]string{buildah}, append(storage, "bud", "--isolation", "chroot", "-t", ref, "-f", "Containerfile", ".")...)...)
	digestFile := filepath.Join(dir, "digest")
	runTool(t, dir, nil, append([]string{buildah}, append(storage, "push", "--tls-verify=false", "--digestfile", digestFile, ref, "docker://"+ref)...)...)
	digest, _ := os.ReadFile(digestFile)
	byDigest := reg.Host + "/crosscheck/hello@" + strings.TrimSpace(string(digest))

	nref, err := name.ParseReference(byDigest, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := remote.Image(nref); err != nil {
		t.Fatalf("registry does not serve %s: %v", byDigest, err)
	}
	// runc with cgroupfs and explicit rlimits is what works in this sandbox.
	out := runTool(t, dir, nil, append([]string{podman}, append(storage, "run", "--rm", "--tls-verify=false",
		"--runtime", "runc", "--cgroup-manager", "cgroupfs", "--network", "none",
		"--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", byDigest)...)...)
	if !strings.Contains(out, "hello from a non-root container") {
		t.Errorf("podman run output:\n%s", out)
	}
}

// helmfile lists and templates a government-platform style layout (per
// environment values and a versions file) with helm v4 on PATH: the check
// edited helmfile layouts must pass.
func TestHelmfileListsAndTemplates(t *testing.T) {
	helmfile := testenv.RequireTool(t, "helmfile")
	helm := testenv.RequireTool(t, "helm")
	dir, err := filepath.Abs(filepath.Join("testdata", "helmfile"))
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=" + filepath.Dir(helm) + ":" + os.Getenv("PATH"), "HELM_CACHE_HOME=" + t.TempDir(),
		"HELM_CONFIG_HOME=" + t.TempDir(), "HELM_DATA_HOME=" + t.TempDir()}
	out := runTool(t, dir, env, helmfile, "--file", "helmfile.yaml.gotmpl", "--environment", "prod", "list")
	if !strings.Contains(out, "api") {
		t.Errorf("helmfile list:\n%s", out)
	}
	out = runTool(t, dir, env, helmfile, "--file", "helmfile.yaml.gotmpl", "--environment", "prod", "template", "--skip-deps")
	if !strings.Contains(out, `image: "registry.example/api:1.4.1"`) || !strings.Contains(out, "replicas: 3") {
		t.Errorf("helmfile template did not use prod's versions and values:\n%s", out)
	}
}
