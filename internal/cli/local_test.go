package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stepper-cd/stepper/internal/local"
	"github.com/stepper-cd/stepper/internal/testenv"
)

// TestLocalUpStatusDown runs `stepper local` as a user does, without the
// control plane (the demo's test starts it): up writes a stepper.yaml that
// every verb takes as it is, status asks each part, down leaves nothing.
func TestLocalUpStatusDown(t *testing.T) {
	testenv.RequireTool(t, "git")
	testenv.RequireTool(t, "cosign")
	bin := stepperBinary(t)
	home, dir, work := t.TempDir(), filepath.Join(t.TempDir(), "clone"), t.TempDir()
	env := []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "STEPPER_CACHE=" + filepath.Join(home, "cache")}
	stepper := func(env []string, args ...string) run { return runBinary(t, bin, env, work, args...) }
	t.Cleanup(func() { _ = exec.Command(bin, "local", "down", "--dir", dir).Run() })

	for _, bad := range [][]string{
		{"local", "up", "mars", "--dir", dir},
		{"local", "up", "shop", "--chain", "vendor", "--dir", dir},
		{"local", "up", "--app", "Patient_API", "--dir", dir},
		{"local", "up", "--chain", "external", "--dir", dir},
	} {
		if r := stepper(env, bad...); r.code != 2 || r.stderr == "" {
			t.Errorf("%v: exit %d, want 2 with a reason\n%s", bad, r.code, r.stderr)
		}
	}
	// No control plane installed: refused before anything starts, with
	// the ways out.
	bare := []string{"HOME=" + home, "PATH=/usr/bin:/bin", "STEPPER_CACHE=" + filepath.Join(home, "empty")}
	if r := stepper(bare, "local", "up", "--dir", dir); r.code != 2 || !strings.Contains(r.stderr, "kube-apiserver") ||
		!strings.Contains(r.stderr, "--kubeconfig") || !strings.Contains(r.stderr, "--without kube") || !strings.Contains(r.stderr, "with Go on PATH") {
		t.Errorf("up without the control plane's tools or Go: exit %d, want 2 naming them and the ways out\n%s", r.code, r.stderr)
	}
	// With Go, up would build them (internal/local's TestBuildControlPlane
	// builds two); --no-build refuses instead.
	if goBin, err := exec.LookPath("go"); err == nil {
		withGo := []string{"HOME=" + home, "PATH=" + filepath.Dir(goBin) + ":/usr/bin:/bin", "STEPPER_CACHE=" + filepath.Join(home, "empty")}
		if r := stepper(withGo, "local", "up", "--no-build", "--dir", dir); r.code != 2 || !strings.Contains(r.stderr, "etcd") || !strings.Contains(r.stderr, "without --no-build") {
			t.Errorf("up --no-build without the control plane: exit %d, want 2 naming it\n%s", r.code, r.stderr)
		}
	}
	if _, err := os.Stat(dir); err == nil {
		t.Fatal("a refused up left a directory behind")
	}

	// A --dir that holds other things is never wiped, by up or by down.
	precious := t.TempDir()
	if err := os.WriteFile(filepath.Join(precious, "thesis.tex"), []byte("years of work\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"up", "--without", "kube"}, {"down"}, {"status"}} {
		r := stepper(env, append(append([]string{"local"}, args...), "--dir", precious)...)
		if args[0] != "status" && (r.code != 2 || !strings.Contains(r.stderr, "holds no local clone")) {
			t.Errorf("local %s --dir on a folder of other files: exit %d, want 2\n%s", args[0], r.code, r.stderr)
		}
		if args[0] == "status" && r.code != 1 {
			t.Errorf("local status --dir on a folder of other files: exit %d, want 1\n%s", r.code, r.stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(precious, "thesis.tex")); err != nil {
		t.Fatalf("a file beside a refused --dir is gone: %v", err)
	}

	up := stepper(env, "local", "up", "--without", "kube", "--app", "patient-api", "--app", "careplan", "--dir", dir)
	if up.code != 0 {
		t.Fatalf("local up: exit %d\n%s\n%s", up.code, up.stdout, up.stderr)
	}
	for _, want := range []string{"seed: a fresh signing key pair", "seed: the desired-state repository", "ready in"} {
		if !strings.Contains(up.stderr, want) {
			t.Errorf("up's progress lacks %q:\n%s", want, up.stderr)
		}
	}
	for _, want := range []string{"stepper.yaml", "preprod", "merge request from master into prod", "commit to prod", "source " + dir + "/env"} {
		if !strings.Contains(up.stdout, want) {
			t.Errorf("up's summary lacks %q:\n%s", want, up.stdout)
		}
	}
	s, err := local.ReadState(dir)
	if err != nil || s == nil || s.Clone == nil {
		t.Fatalf("state after up: %+v, %v", s, err)
	}
	envFile, _ := os.ReadFile(local.EnvPath(dir))
	if !strings.Contains(string(envFile), "export STEPPER_CONFIG='"+s.Clone.Config+"'") {
		t.Errorf("the env file does not point stepper at the clone's stepper.yaml:\n%s", envFile)
	}
	// What sourcing the env file gives a shell.
	clone := append([]string(nil), env...)
	for name, value := range s.Env {
		clone = append(clone, name+"="+value)
	}
	if key, _ := os.ReadFile(filepath.Join(dir, "keys", "local-cosign.key")); !strings.Contains(string(key), "ENCRYPTED SIGSTORE PRIVATE KEY") {
		t.Errorf("the signing key is not an encrypted cosign key")
	}
	if info, err := os.Stat(filepath.Join(dir, "keys", "local-cosign.password")); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("the key's password file: %v, %v; want mode 0600", info, err)
	}

	if r := stepper(clone, "config", "show"); r.code != 0 || strings.Contains(r.stderr, "warn") {
		t.Errorf("config show on the clone: exit %d\n%s", r.code, r.stderr)
	}
	if r := stepper(env, "local", "up", "--dir", dir); r.code != 0 || !strings.Contains(r.stderr, "runs already") {
		t.Errorf("a second up: exit %d\n%s", r.code, r.stderr)
	}
	st := stepper(env, "local", "status", "--dir", dir, "-o", "json")
	var status struct {
		PID    int
		Health []local.Check `json:"health"`
	}
	if st.code != 0 || json.Unmarshal([]byte(st.stdout), &status) != nil || len(status.Health) < 4 {
		t.Fatalf("local status: exit %d\n%s\n%s", st.code, st.stdout, st.stderr)
	}
	for _, h := range status.Health {
		if !h.OK {
			t.Errorf("%s at %s does not answer: %s", h.Part, h.Where, h.Detail)
		}
	}

	// The clone takes the verbs as they are: build on its base image, sign
	// with its key (the cosign CLI verifies it), land by commit.
	if err := os.WriteFile(filepath.Join(work, "index.html"), []byte("<p>hello</p>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	build := filepath.Join(work, "build.json")
	if r := stepper(clone, "build-sign-push", "--app", "patient-api", "--builder", "layers", "--layer", "index.html:/srv/index.html",
		"--tag", "1.0.0", "--result", build); r.code != 0 {
		t.Fatalf("build-sign-push on the clone: exit %d\n%s", r.code, r.stderr)
	}
	var built struct{ Image, Digest string }
	data, _ := os.ReadFile(build)
	if err := json.Unmarshal(data, &built); err != nil || built.Digest == "" {
		t.Fatalf("build result: %v\n%s", err, data)
	}
	if out, err := testenv.Cosign(t, nil, "verify", "--key", s.Clone.PublicKey, "--insecure-ignore-tlog=true",
		"--allow-http-registry", built.Image+"@"+built.Digest); err != nil {
		t.Errorf("cosign verify with the clone's key: %v\n%s", err, out)
	}
	if r := stepper(clone, "validate", "--from-result", build, "--chart", s.Clone.Charts+"/ehealth-spring-boot", "--chart-version", "3.2.0"); r.code != 0 {
		t.Errorf("validate with the clone's chart: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if r := stepper(clone, "deploy", "--env", "inttest", "--app", "patient-api", "--from-result", build); r.code != 0 {
		t.Fatalf("deploy to inttest: exit %d\n%s", r.code, r.stderr)
	}
	checkout := filepath.Join(t.TempDir(), "dsr")
	if out, err := exec.Command("git", "clone", "-q", s.Clone.Repo, checkout).CombinedOutput(); err != nil {
		t.Fatalf("git clone %s: %v\n%s", s.Clone.Repo, err, out)
	}
	dsf, _ := os.ReadFile(filepath.Join(checkout, "inttest", "dsf.yaml"))
	if !strings.Contains(string(dsf), built.Digest) || !strings.Contains(string(dsf), "careplan:") {
		t.Errorf("inttest/dsf.yaml after the deploy:\n%s", dsf)
	}
	if r := stepper(clone, "deploy", "--env", "exttest", "--app", "patient-api", "--from-result", build); r.code == 0 {
		t.Error("a deploy past the chain's first environment was accepted on the clone")
	}

	if r := stepper(env, "local", "down", "--dir", dir); r.code != 0 || !strings.Contains(r.stdout, "stopped") {
		t.Errorf("local down: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("down left %s: %v", dir, err)
	}
	if running(s.PID) {
		t.Errorf("the serve process %d still runs after down", s.PID)
	}
	if r := stepper(env, "local", "status", "--dir", dir); r.code != 1 || !strings.Contains(r.stderr, "stepper local up") {
		t.Errorf("status after down: exit %d, want 1 pointing at local up\n%s", r.code, r.stderr)
	}
	if r := stepper(env, "local", "down", "--dir", dir); r.code != 0 {
		t.Errorf("a second down: exit %d\n%s", r.code, r.stderr)
	}
}

// running tells whether pid is a live process: not gone, and no zombie
// waiting for init to reap it.
func running(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(stat), ") ")
	return !strings.HasPrefix(rest, "Z") && !strings.HasPrefix(rest, "X")
}

// TestLocalUpBare starts the components alone: no clone is seeded and no
// stepper.yaml written, and the env file still names every address.
func TestLocalUpBare(t *testing.T) {
	testenv.RequireTool(t, "git")
	bin := stepperBinary(t)
	home, dir := t.TempDir(), filepath.Join(t.TempDir(), "bare")
	env := []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "STEPPER_CACHE=" + filepath.Join(home, "cache")}
	t.Cleanup(func() { _ = exec.Command(bin, "local", "down", "--dir", dir).Run() })
	if r := runBinary(t, bin, env, home, "local", "up", "--bare", "--without", "kube", "--dir", dir); r.code != 0 {
		t.Fatalf("local up --bare: exit %d\n%s", r.code, r.stderr)
	}
	s, err := local.ReadState(dir)
	if err != nil || s == nil || s.Clone != nil {
		t.Fatalf("state of a bare platform: %+v, %v", s, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "stepper.yaml")); !os.IsNotExist(err) {
		t.Errorf("a bare platform wrote a stepper.yaml: %v", err)
	}
	envFile, _ := os.ReadFile(local.EnvPath(dir))
	for _, name := range []string{"STEPPER_LOCAL_REFERRERS_REGISTRY", "STEPPER_LOCAL_GIT_URL"} {
		if !strings.Contains(string(envFile), "export "+name+"=") {
			t.Errorf("the env file lacks %s:\n%s", name, envFile)
		}
	}
	if r := runBinary(t, bin, env, home, "local", "status", "--dir", dir); r.code != 0 {
		t.Errorf("local status: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := runBinary(t, bin, env, home, "local", "down", "--dir", dir); r.code != 0 {
		t.Errorf("local down: exit %d\n%s", r.code, r.stderr)
	}
}
