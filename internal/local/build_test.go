package local

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The control plane `local up` builds is the one .ci/tools.sh builds: the
// same versions, modules and link flags, so that each finds what the other
// cached.
func TestControlPlaneMatchesToolsScript(t *testing.T) {
	script, err := os.ReadFile(filepath.Join("..", "..", ".ci", "tools.sh"))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range controlPlane {
		row := regexp.MustCompile(`(?m)^\s*"` + b.name + `\s+(\S+)\s+(\w+):(\S+)"`).FindStringSubmatch(string(script))
		if row == nil {
			t.Errorf("tools.sh pins no %s", b.name)
			continue
		}
		how := "goinstall:" + b.install
		if b.src != "" {
			how = "pinned:internal/local/" + b.src
		}
		if row[1] != b.version || row[2]+":"+row[3] != how {
			t.Errorf("tools.sh pins %s %s %s:%s, build.go %s %s", b.name, row[1], row[2], row[3], b.version, how)
		}
		flags := "-s -w"
		if m := regexp.MustCompile(`(?m)^\s*` + b.name + `\) echo "([^"]*)"`).FindStringSubmatch(string(script)); m != nil {
			flags = strings.ReplaceAll(m[1], "$2", b.version)
		}
		if flags != b.ldflags {
			t.Errorf("%s is linked with\n  %s by tools.sh,\n  %s by build.go", b.name, flags, b.ldflags)
		}
	}
	if builds, rest := Buildable([]string{"kube-scheduler", "git", "kube-apiserver", "kwok"}); strings.Join(builds, ",") != "kube,kwok" || strings.Join(rest, ",") != "git" {
		t.Errorf("Buildable: %v %v", builds, rest)
	}
}

// Building etcd and kwok into an empty cache (from the module cache only:
// nothing is fetched) says what it builds, that it is the first build,
// that it still runs while it does, links the binaries where Tool finds
// them, and the next time links the cached build without building.
func TestBuildControlPlane(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go is not installed")
	}
	cache := t.TempDir()
	t.Setenv("STEPPER_CACHE", cache)
	t.Setenv("STEPPER_TOOLS_BIN", "")
	// Nothing is fetched: the module cache, which holds what tools.sh built
	// from, serves as the module proxy.
	modcache, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("GOPROXY", "file://"+filepath.Join(strings.TrimSpace(string(modcache)), "cache", "download"))
	t.Setenv("GOSUMDB", "off")
	beat := BuildHeartbeat
	BuildHeartbeat = 300 * time.Millisecond
	t.Cleanup(func() { BuildHeartbeat = beat })
	var mu sync.Mutex
	var logged []string
	logf := func(f string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		logged = append(logged, fmt.Sprintf(f, args...))
	}
	if err := BuildControlPlane(t.Context(), []string{"etcd", "kwok"}, logf); err != nil {
		if strings.Contains(err.Error(), "file://") {
			t.Skipf("the module cache lacks etcd's or kwok's modules (run make tools first): %v", err)
		}
		t.Fatal(err)
	}
	all := strings.Join(logged, "\n")
	for _, want := range []string{"building etcd v3.6.16 (etcd) from source with go; its first build here", "built etcd v3.6.16",
		"building kwok v0.8.0 (kwok)", "still building kwok: "} {
		if !strings.Contains(all, want) {
			t.Errorf("the progress lacks %q:\n%s", want, all)
		}
	}
	for tool, version := range map[string]string{"etcd": "3.6.16", "kwok": "v0.8.0"} {
		p, err := Tool(tool)
		if err != nil || !strings.HasPrefix(p, cache) {
			t.Fatalf("Tool(%s) = %q, %v; want the build in %s", tool, p, err, cache)
		}
		out, err := exec.Command(p, "--version").CombinedOutput()
		if err != nil || !strings.Contains(string(out), version) {
			t.Errorf("%s --version: %v\n%s", tool, err, out)
		}
	}
	if last, err := os.ReadFile(filepath.Join(cache, "tools", "etcd.last-build-seconds")); err != nil || len(strings.TrimSpace(string(last))) == 0 {
		t.Errorf("no record of how long etcd took: %q %v", last, err)
	}

	logged = nil
	if err := BuildControlPlane(t.Context(), []string{"etcd", "kwok"}, logf); err != nil || len(logged) != 0 {
		t.Errorf("a cached build was built again: %v\n%s", err, strings.Join(logged, "\n"))
	}
	if err := os.Remove(filepath.Join(cache, "tools", "etcd@v3.6.16", ".done")); err != nil {
		t.Fatal(err)
	}
	if err := BuildControlPlane(t.Context(), []string{"etcd"}, logf); err != nil || !strings.Contains(strings.Join(logged, "\n"), "its last build took") {
		t.Errorf("a rebuild does not say how long the last one took: %v\n%s", err, strings.Join(logged, "\n"))
	}
	if err := BuildControlPlane(t.Context(), []string{"etcd", "mars"}, logf); err == nil || !strings.Contains(err.Error(), "mars") {
		t.Errorf("an unknown component: %v", err)
	}
}

// kwok's stage files for the pinned version come from the binary itself,
// so that a control plane needs no Go module cache; another version's do
// not.
func TestEmbeddedKwokStages(t *testing.T) {
	version := controlPlane[slices.IndexFunc(controlPlane, func(b toolBuild) bool { return b.name == "kwok" })].version
	dir := t.TempDir()
	files, err := embeddedStages(version, dir)
	if err != nil || len(files) < len(kwokStageDirs) {
		t.Fatalf("embedded stages of %s: %v %v; the pinned kwok's stages must be in assets/kwok/%s", version, files, err, version)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil || !strings.Contains(string(data), "kind: Stage") {
			t.Errorf("%s is no kwok Stage: %v", f, err)
		}
	}
	if files, err := embeddedStages("v0.0.1", dir); files != nil || err != nil {
		t.Errorf("another version: %v %v, want none", files, err)
	}
}

// tools.sh exits 0 after it has built tools, two at a time, and 1 when one
// of them failed, naming it, with the others installed. Its exit traps stop
// the heartbeat of a build; under set -e a kill of a heartbeat already
// stopped once failed the whole script (make test then stopped on a fresh
// machine after every tool had installed).
func TestToolsScriptInstallsBesideEachOther(t *testing.T) {
	fakeGo := t.TempDir()
	// go install … PKG@VERSION writes a binary named after PKG into GOBIN;
	// staticcheck's build fails when FAIL_STATICCHECK is set.
	script := `#!/bin/sh
for a; do last=$a; done
name=${last%@*}; name=${name##*/}
if [ "$name" = staticcheck ] && [ -n "$FAIL_STATICCHECK" ]; then echo "staticcheck: build failed" >&2; exit 1; fi
sleep 0.2
mkdir -p "$GOBIN" && printf '#!/bin/sh\n' >"$GOBIN/$name" && chmod +x "$GOBIN/$name"
`
	if err := os.WriteFile(filepath.Join(fakeGo, "go"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(cache string, env ...string) (string, error) {
		cmd := exec.Command("bash", filepath.Join("..", "..", ".ci", "tools.sh"), "crane", "staticcheck", "kube-score", "helm3")
		cmd.Env = append(os.Environ(), append(env, "STEPPER_CACHE="+cache, "PATH="+fakeGo+":"+os.Getenv("PATH"))...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	cache := t.TempDir()
	out, err := run(cache)
	if err != nil {
		t.Fatalf("tools.sh: %v\n%s", err, out)
	}
	for _, tool := range []string{"crane", "staticcheck", "kube-score", "helm3"} {
		if !strings.Contains(out, "installed "+tool+" ") {
			t.Errorf("tools.sh did not say it installed %s:\n%s", tool, out)
		}
		if _, err := os.Stat(filepath.Join(cache, "bin", tool)); err != nil {
			t.Errorf("%s is not linked: %v", tool, err)
		}
	}

	cache = t.TempDir()
	out, err = run(cache, "FAIL_STATICCHECK=1")
	if err == nil {
		t.Fatalf("tools.sh exited 0 though staticcheck failed:\n%s", out)
	}
	if !strings.Contains(out, "failed: staticcheck") || !strings.Contains(out, "staticcheck: build failed") {
		t.Errorf("tools.sh does not name staticcheck and why it failed:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(cache, "bin", "crane")); err != nil {
		t.Errorf("crane, which built, is not linked: %v", err)
	}
	if _, err := os.Stat(filepath.Join(cache, "tools", "staticcheck@v0.8.2", ".done")); err == nil {
		t.Error("the failed staticcheck is marked done")
	}
}
