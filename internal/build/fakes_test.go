package build

import (
	"archive/tar"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// Docker engines and kaniko cannot run here, so these tests use FAKE docker
// and kaniko executables: shell scripts that record their argv and write
// the OCI output the real tools write (an OCI layout, as a tarball for
// docker), holding an image on the test base with its layers
// re-compressed. The tests pin the exact command lines; the rest of the
// path (base check, layer substitution, metadata) is the real one.

// fakeOutput writes appImage as an OCI layout and returns its directory.
func fakeOutput(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "layout")
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(appImage(t)); err != nil {
		t.Fatal(err)
	}
	return dir
}

// tarDir packs dir into a tarball at file, as buildx's type=oci output.
func tarDir(t *testing.T, dir, file string) {
	t.Helper()
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Name: filepath.ToSlash(rel), Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err = tw.Write(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}

// recordedArgv reads what a fake wrote, with the build's random working
// directory made stable.
func recordedArgv(t *testing.T, file string) []string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("the fake never ran: %v", err)
	}
	stable := regexp.MustCompile(`stepper-build-\d+`).ReplaceAllString(string(data), "stepper-build-N")
	return strings.Split(strings.TrimSuffix(stable, "\n"), "\n")
}

func dockerfileContext(t *testing.T, f *fixture) string {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "Dockerfile"), "ARG VERSION\nFROM "+f.base.String()+"\nCOPY . /app\n", 0o644)
	return dir
}

func TestFakeDockerBuildxArgv(t *testing.T) {
	f := newFixture(t)
	bin := t.TempDir()
	output := filepath.Join(t.TempDir(), "image.tar")
	tarDir(t, fakeOutput(t), output)
	argvFile, envFile := filepath.Join(bin, "argv"), filepath.Join(bin, "env")
	writeFile(t, filepath.Join(bin, "docker"), fmt.Sprintf(`#!/bin/sh
# FAKE docker: answers "info", records "buildx build" and writes its OCI tarball.
[ "$1" = info ] && exit 0
printf '%%s\n' "$@" > %s
echo "SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH" > %s
for a in "$@"; do case "$a" in type=oci,dest=*) dest="${a#type=oci,dest=}";; esac; done
cp %s "$dest"
`, argvFile, envFile, output), 0o755)

	ctxDir := dockerfileContext(t, f)
	b := f.builders(t)
	b.LookPath = func(file string) (string, error) {
		if file == "docker" {
			return filepath.Join(bin, "docker"), nil
		}
		return "", errNotFound
	}
	res, err := b.Build(t.Context(), Request{
		Builder: Docker, Context: ctxDir, BuildArgs: []string{"VERSION=1.4.1"}, Platform: "linux/amd64",
		Approved: []string{f.baseRepo}, Metadata: meta, Created: created,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	want := []string{"buildx", "build", "-f", filepath.Join(ctxDir, "Dockerfile"), "--provenance=false",
		"--platform", "linux/amd64", "--build-arg", "VERSION=1.4.1",
		"--output", "type=oci,dest=" + filepath.Join(b.TempDir, "stepper-build-N", "image.tar"), ctxDir}
	if got := recordedArgv(t, argvFile); !slices.Equal(got, want) {
		t.Errorf("docker argv:\n got %q\nwant %q", got, want)
	}
	if env, _ := os.ReadFile(envFile); string(env) != fmt.Sprintf("SOURCE_DATE_EPOCH=%d\n", created.Unix()) {
		t.Errorf("docker env: %s", env)
	}
	checkResult(t, f, res)
}

func TestFakeKanikoArgv(t *testing.T) {
	f := newFixture(t)
	bin := t.TempDir()
	output := fakeOutput(t)
	argvFile := filepath.Join(bin, "argv")
	executor := filepath.Join(bin, "executor")
	writeFile(t, executor, fmt.Sprintf(`#!/bin/sh
# FAKE /kaniko/executor: records its argv and writes the OCI layout.
printf '%%s\n' "$@" > %s
prev=""
for a in "$@"; do [ "$prev" = --oci-layout-path ] && dest="$a"; prev="$a"; done
cp -r %s "$dest"
`, argvFile, output), 0o755)

	ctxDir := dockerfileContext(t, f)
	b := f.builders(t)
	b.KanikoExecutor = executor
	b.LookPath = func(string) (string, error) { return "", errNotFound }
	detected, err := b.Detect()
	if err != nil || detected != Kaniko {
		t.Fatalf("Detect() = %q, %v; want kaniko", detected, err)
	}
	res, err := b.Build(t.Context(), Request{
		Context: ctxDir, BuildArgs: []string{"VERSION=1.4.1"}, Platform: "linux/amd64", Insecure: true,
		Approved: []string{f.baseRepo}, Metadata: meta, Created: created,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	if res.Builder != Kaniko {
		t.Errorf("Builder = %q, want kaniko (auto)", res.Builder)
	}
	want := []string{"--context", ctxDir, "--dockerfile", filepath.Join(ctxDir, "Dockerfile"), "--build-arg", "VERSION=1.4.1",
		"--no-push", "--reproducible", "--oci-layout-path", filepath.Join(b.TempDir, "stepper-build-N", "image"),
		"--custom-platform", "linux/amd64", "--insecure-pull", "--skip-tls-verify-pull"}
	if got := recordedArgv(t, argvFile); !slices.Equal(got, want) {
		t.Errorf("kaniko argv:\n got %q\nwant %q", got, want)
	}
	checkResult(t, f, res)
}

// The buildah command line, pinned like the fakes' (the real buildah runs
// in TestBuildahBuildsOnApprovedBase).
func TestBuildahArgv(t *testing.T) {
	d := &dockerfileBuild{context: "/src", dockerfile: "/src/Dockerfile", buildArgs: []string{"A=1", "B=two words"}, created: "1715941800"}
	r := &Request{Platform: "linux/arm64", Insecure: true}
	got := buildahBudArgs([]string{"buildah", "--root", "/w/storage", "--runroot", "/tmp/run", "--storage-driver", "vfs"}, d, r, "/w/iid")
	want := []string{"buildah", "--root", "/w/storage", "--runroot", "/tmp/run", "--storage-driver", "vfs", "bud",
		"--isolation", "chroot", "--layers=false", "--timestamp", "1715941800", "--tls-verify=false", "--iidfile", "/w/iid",
		"-f", "/src/Dockerfile", "--platform", "linux/arm64", "--build-arg", "A=1", "--build-arg", "B=two words", "/src"}
	if !slices.Equal(got, want) {
		t.Errorf("buildah argv:\n got %q\nwant %q", got, want)
	}
}
