package main

import (
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stepper-cd/stepper/internal/testenv"
)

// TestUpStatusDown drives the built command the way the Makefile does, with
// the light components only; package testenv tests the platform itself.
func TestUpStatusDown(t *testing.T) {
	for _, tool := range []string{"go", "git", "docker-registry"} {
		testenv.RequireTool(t, tool)
	}
	bin := filepath.Join(t.TempDir(), "platform")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	state := t.TempDir()
	platform := func(args ...string) (string, error) {
		out, err := exec.Command(bin, append(args, "-state", state, "-skip", "kube")...).CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() { _, _ = platform("down") })

	out, err := platform("up")
	if err != nil {
		t.Fatalf("up: %v\n%s", err, out)
	}
	s, err := readState(state)
	if err != nil || s == nil {
		t.Fatalf("state after up: %v, %v", s, err)
	}
	for _, name := range []string{"STEPPER_TEST_REGISTRY", "STEPPER_TEST_REFERRERS_REGISTRY", "STEPPER_TEST_GIT_URL"} {
		if !strings.Contains(out, "export "+name+"=") {
			t.Errorf("up output lacks %s:\n%s", name, out)
		}
	}
	resp, err := http.Get("http://" + s.Env["STEPPER_TEST_REGISTRY"] + "/v2/")
	if err != nil {
		t.Fatalf("registry of the detached platform: %v", err)
	}
	resp.Body.Close()

	if out, err := platform("up"); err != nil || !strings.Contains(out, "already running") {
		t.Errorf("second up: %v\n%s", err, out)
	}
	if out, err := platform("status"); err != nil {
		t.Errorf("status while up: %v\n%s", err, out)
	}
	for range 2 {
		if out, err := platform("down"); err != nil {
			t.Errorf("down: %v\n%s", err, out)
		}
	}
	if out, err := platform("status"); err == nil {
		t.Errorf("status after down succeeded:\n%s", out)
	}
	if s.alive(state) {
		t.Errorf("platform server %d still runs after down", s.PID)
	}
}

func TestEnvFileQuotes(t *testing.T) {
	got := envFile(map[string]string{"B": "it's", "A": "/tmp/x y"})
	want := "export A='/tmp/x y'\nexport B='it'\\''s'\n"
	if !strings.HasSuffix(got, want) {
		t.Errorf("envFile = %q, want it to end with %q", got, want)
	}
}
