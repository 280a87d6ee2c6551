package build

import (
	"path/filepath"
	"testing"

	"github.com/stepper-cd/stepper/internal/exit"
)

func TestUnknownBuilder(t *testing.T) {
	_, err := (&Builders{}).Build(t.Context(), Request{Builder: "bildah"})
	wantClass(t, err, exit.Usage, `unknown builder "bildah"`, `did you mean "buildah"?`,
		"auto, layers, buildah, docker, kaniko, oci-layout, tarball")
	_, err = (&Builders{}).Build(t.Context(), Request{Builder: "nix"})
	wantClass(t, err, exit.Usage, `unknown builder "nix": use one of`)
}

func TestDetect(t *testing.T) {
	dir := t.TempDir()
	kaniko := filepath.Join(dir, "executor")
	writeFile(t, kaniko, "#!/bin/sh\n", 0o755)
	dockerUp := filepath.Join(dir, "docker-up")
	writeFile(t, dockerUp, "#!/bin/sh\n[ \"$1\" = info ]\n", 0o755)
	dockerDown := filepath.Join(dir, "docker-down")
	writeFile(t, dockerDown, "#!/bin/sh\necho 'Cannot connect to the Docker daemon' >&2\nexit 1\n", 0o755)
	on := func(tools map[string]string) func(string) (string, error) {
		return func(file string) (string, error) {
			if p, ok := tools[file]; ok {
				return p, nil
			}
			return "", errNotFound
		}
	}
	for _, tt := range []struct {
		name   string
		b      Builders
		want   string
		refuse bool
	}{
		{"kaniko job", Builders{KanikoExecutor: kaniko, LookPath: on(map[string]string{"buildah": "/bin/true"})}, Kaniko, false},
		{"buildah", Builders{KanikoExecutor: "/nonexistent", LookPath: on(map[string]string{"buildah": "/bin/true", "docker": dockerUp})}, Buildah, false},
		{"docker engine", Builders{KanikoExecutor: "/nonexistent", LookPath: on(map[string]string{"docker": dockerUp})}, Docker, false},
		{"docker without engine", Builders{KanikoExecutor: "/nonexistent", LookPath: on(map[string]string{"docker": dockerDown})}, "", true},
		{"nothing", Builders{KanikoExecutor: "/nonexistent", LookPath: on(nil)}, "", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.b.Detect()
			if tt.refuse {
				wantClass(t, err, exit.Usage, "no image builder found", "install buildah", "--builder layers")
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("Detect() = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestNonRoot(t *testing.T) {
	for user, want := range map[string]bool{
		"": false, "0": false, "root": false, "0:0": false, "root:65532": false,
		"65532": true, "65532:65532": true, "nonroot": true, "1000:0": true,
	} {
		if got := nonRoot(user); got != want {
			t.Errorf("nonRoot(%q) = %v, want %v", user, got, want)
		}
	}
}
