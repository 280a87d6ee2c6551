package build

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/testenv"
)

// Test-only credentials, made for these tests.
const (
	npmToken   = "npm-test-only-4b1d"
	cosignPass = "cosign-test-only-9e2a"
)

// A build argument named like a credential reaches buildah as a secret
// mount, never as --build-arg.
func TestBuildahSecretArgArgv(t *testing.T) {
	plain, secrets := splitSecretArgs([]string{"VERSION=1.4.1", "NPM_TOKEN=" + npmToken})
	d := &dockerfileBuild{context: "/src", dockerfile: "/src/Dockerfile", buildArgs: plain, secrets: secrets, created: "1715941800"}
	got := buildahBudArgs([]string{"buildah"}, d, &Request{}, "/w/iid")
	want := []string{"buildah", "bud", "--isolation", "chroot", "--layers=false", "--timestamp", "1715941800", "--tls-verify=true",
		"--iidfile", "/w/iid", "-f", "/src/Dockerfile", "--build-arg", "VERSION=1.4.1",
		"--secret", "id=NPM_TOKEN,env=STEPPER_BUILD_SECRET_NPM_TOKEN", "/src"}
	if !slices.Equal(got, want) {
		t.Errorf("buildah argv:\n got %q\nwant %q", got, want)
	}
	if env := secretEnv(secrets); !slices.Equal(env, []string{"STEPPER_BUILD_SECRET_NPM_TOKEN=" + npmToken}) {
		t.Errorf("secret env = %q", env)
	}
}

// docker buildx gets credential build arguments as secret mounts, their
// values only in its environment, and none of the job's other secrets.
func TestFakeDockerSecretArgsAndScrubbedEnv(t *testing.T) {
	f := newFixture(t)
	bin := t.TempDir()
	output := filepath.Join(t.TempDir(), "image.tar")
	tarDir(t, fakeOutput(t), output)
	argvFile, envFile := filepath.Join(bin, "argv"), filepath.Join(bin, "env")
	writeFile(t, filepath.Join(bin, "docker"), fmt.Sprintf(`#!/bin/sh
# FAKE docker: answers "info", records "buildx build", its environment, and writes its OCI tarball.
[ "$1" = info ] && exit 0
printf '%%s\n' "$@" > %s
env > %s
for a in "$@"; do case "$a" in type=oci,dest=*) dest="${a#type=oci,dest=}";; esac; done
cp %s "$dest"
`, argvFile, envFile, output), 0o755)

	ctxDir := dockerfileContext(t, f)
	b := f.builders(t)
	b.Environ = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "DOCKER_CONFIG=/cfg", "HTTPS_PROXY=http://proxy.test:3128",
		"COSIGN_PASSWORD=" + cosignPass, "AWS_SECRET_ACCESS_KEY=" + cosignPass, "NPM_TOKEN=" + npmToken}
	b.LookPath = func(file string) (string, error) {
		if file == "docker" {
			return filepath.Join(bin, "docker"), nil
		}
		return "", errNotFound
	}
	res, err := b.Build(t.Context(), Request{
		Builder: Docker, Context: ctxDir, BuildArgs: []string{"VERSION=1.4.1", "NPM_TOKEN"},
		Approved: []string{f.baseRepo}, Metadata: meta, Created: created,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	want := []string{"buildx", "build", "-f", filepath.Join(ctxDir, "Dockerfile"), "--provenance=false",
		"--build-arg", "VERSION=1.4.1", "--secret", "id=NPM_TOKEN,env=STEPPER_BUILD_SECRET_NPM_TOKEN",
		"--output", "type=oci,dest=" + filepath.Join(b.TempDir, "stepper-build-N", "image.tar"), ctxDir}
	if got := recordedArgv(t, argvFile); !slices.Equal(got, want) {
		t.Errorf("docker argv:\n got %q\nwant %q", got, want)
	}
	env, _ := os.ReadFile(envFile)
	for _, must := range []string{"STEPPER_BUILD_SECRET_NPM_TOKEN=" + npmToken, "DOCKER_CONFIG=/cfg", "HTTPS_PROXY=http://proxy.test:3128"} {
		if !strings.Contains(string(env), must+"\n") {
			t.Errorf("docker's environment lacks %s:\n%s", must, env)
		}
	}
	for _, mustNot := range []string{"COSIGN_PASSWORD", "AWS_SECRET_ACCESS_KEY", cosignPass, "\nNPM_TOKEN="} {
		if strings.Contains("\n"+string(env), mustNot) {
			t.Errorf("docker's environment holds %s:\n%s", mustNot, env)
		}
	}
}

// kaniko has no secret mounts, so a credential build argument is refused
// before the executor runs.
func TestKanikoRefusesSecretArg(t *testing.T) {
	f := newFixture(t)
	executor := filepath.Join(t.TempDir(), "executor")
	marker := executor + ".ran"
	writeFile(t, executor, "#!/bin/sh\ntouch "+marker+"\nexit 1\n", 0o755)
	b := f.builders(t)
	b.KanikoExecutor = executor
	_, err := b.Build(t.Context(), Request{
		Builder: Kaniko, Context: dockerfileContext(t, f), BuildArgs: []string{"DB_PASSWORD=" + npmToken},
		Approved: []string{f.baseRepo}, Metadata: meta, Created: created,
	})
	if err == nil || !strings.Contains(err.Error(), "DB_PASSWORD") || exit.Code(err) != int(exit.Usage) {
		t.Fatalf("err = %v, want a usage error naming DB_PASSWORD", err)
	}
	if strings.Contains(err.Error(), npmToken) {
		t.Errorf("the refusal shows the value: %v", err)
	}
	if _, statErr := os.Stat(marker); statErr == nil {
		t.Error("kaniko ran")
	}
}

// A real buildah build: the credential reaches the build as a secret, and
// neither the image's config nor its history holds it, though the
// Dockerfile tries to copy the argument into a label and an ENV.
func TestBuildahSecretArgNotInImage(t *testing.T) {
	testenv.RequireTool(t, "buildah")
	f := newFixture(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "hello.txt"), "hello\n", 0o644)
	writeFile(t, filepath.Join(dir, "Dockerfile"), "FROM "+f.base.String()+"\nARG NPM_TOKEN\nLABEL leak=\"t-${NPM_TOKEN}\"\nENV LEAK=\"t-${NPM_TOKEN}\"\nCOPY hello.txt /app/hello.txt\nUSER 65532\n", 0o644)
	b := f.builders(t)
	res, err := b.Build(t.Context(), Request{
		Builder: Buildah, Context: dir, BuildArgs: []string{"NPM_TOKEN=" + npmToken},
		Approved: []string{f.baseRepo}, Metadata: meta, Insecure: true, Created: created,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	raw, err := res.Image.RawConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), npmToken) {
		t.Errorf("the image config holds the credential:\n%s", raw)
	}
}
