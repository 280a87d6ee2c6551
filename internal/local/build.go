package local

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// toolBuild is one component of the control plane, built from source with
// the Go toolchain and cached by version, the way .ci/tools.sh builds it:
// the binaries go to CACHE/tools/NAME@VERSION/bin, linked from CACHE/bin,
// and CACHE/tools/NAME.last-build-seconds says how long the last build
// took. Either script finds what the other built.
type toolBuild struct {
	name, version string
	// binaries are what the build makes.
	binaries []string
	// src is an embedded module folder whose go.mod pins the component's
	// module (assets/controlplane/NAME, its files suffixed .pinned so that
	// they stay out of stepper's own module); install a `go install` path.
	src, install string
	// targets are the packages built from src.
	targets []string
	ldflags string
}

// controlPlane are the builds the local control plane needs; their
// versions and flags are .ci/tools.sh's (a test holds them equal).
var controlPlane = []toolBuild{
	{name: "etcd", version: "v3.6.16", binaries: []string{"etcd"}, src: "assets/controlplane/etcd", targets: []string{"."}, ldflags: "-s -w"},
	{name: "kube", version: "v1.35.4", binaries: []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler"},
		src: "assets/controlplane/kube", targets: []string{"k8s.io/kubernetes/cmd/kube-apiserver", "k8s.io/kubernetes/cmd/kube-controller-manager", "k8s.io/kubernetes/cmd/kube-scheduler"},
		ldflags: "-s -w -X k8s.io/component-base/version.gitVersion=v1.35.4 -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=35 -X k8s.io/component-base/version.gitTreeState=clean -X k8s.io/client-go/pkg/version.gitVersion=v1.35.4"},
	{name: "kwok", version: "v0.8.0", binaries: []string{"kwok"}, install: "sigs.k8s.io/kwok/cmd/kwok", ldflags: "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=v0.8.0"},
}

// Buildable splits missing tools into the control-plane builds that make
// them and the tools no build here makes.
func Buildable(missing []string) (builds []string, rest []string) {
	for _, tool := range missing {
		i := slices.IndexFunc(controlPlane, func(b toolBuild) bool { return slices.Contains(b.binaries, tool) })
		switch {
		case i < 0:
			rest = append(rest, tool)
		case !slices.Contains(builds, controlPlane[i].name):
			builds = append(builds, controlPlane[i].name)
		}
	}
	return builds, rest
}

// BuildHeartbeat is how often a build under way says it still runs.
var BuildHeartbeat = 30 * time.Second

// BuildControlPlane builds the named components (etcd, kube, kwok) from
// source into the stepper cache with the Go toolchain, one after the
// other. Each says what it builds, how long its last build took, and
// every BuildHeartbeat that it still runs; a first build of kube takes
// minutes on a small machine. A component whose version is cached is
// linked, not rebuilt.
func BuildControlPlane(ctx context.Context, names []string, logf func(string, ...any)) error {
	cache, err := CacheDir()
	if err != nil {
		return err
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("building the control plane needs the Go toolchain (go on PATH): %w", err)
	}
	for _, n := range names {
		i := slices.IndexFunc(controlPlane, func(b toolBuild) bool { return b.name == n })
		if i < 0 {
			return fmt.Errorf("build %s: no such component of the control plane", n)
		}
		if err := controlPlane[i].build(ctx, goBin, cache, logf); err != nil {
			return err
		}
	}
	return nil
}

func (b toolBuild) build(ctx context.Context, goBin, cache string, logf func(string, ...any)) (err error) {
	dir := filepath.Join(cache, "tools", b.name+"@"+b.version)
	if _, err := os.Stat(filepath.Join(dir, ".done")); err == nil {
		return b.link(cache, dir)
	}
	what := fmt.Sprintf("%s %s (%s)", b.name, b.version, strings.Join(b.binaries, ", "))
	lastFile := filepath.Join(cache, "tools", b.name+".last-build-seconds")
	var last time.Duration
	if text, err := os.ReadFile(lastFile); err == nil {
		if s, err := strconv.Atoi(strings.TrimSpace(string(text))); err == nil {
			last = time.Duration(s) * time.Second
		}
	}
	took := "its first build here"
	if last > 0 {
		took = "its last build took " + last.String()
	}
	logf("building %s from source with go; %s; cached afterwards in %s", what, took, dir)
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("build %s: %w", b.name, err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		return fmt.Errorf("build %s: %w", b.name, err)
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(dir) // no half a build under a version that reads as built
		}
	}()
	var cmd *exec.Cmd
	if b.src != "" {
		work, err := os.MkdirTemp("", "stepper-build-"+b.name+"-")
		if err != nil {
			return fmt.Errorf("build %s: %w", b.name, err)
		}
		defer os.RemoveAll(work)
		if err := unpackPinned(b.src, work); err != nil {
			return fmt.Errorf("build %s: %w", b.name, err)
		}
		cmd = exec.CommandContext(ctx, goBin, append([]string{"build", "-trimpath", "-ldflags", b.ldflags, "-o", filepath.Join(dir, "bin") + "/"}, b.targets...)...)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local")
	} else {
		cmd = exec.CommandContext(ctx, goBin, "install", "-trimpath", "-ldflags", b.ldflags, b.install+"@"+b.version)
		cmd.Env = append(os.Environ(), "GOBIN="+filepath.Join(dir, "bin"), "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local")
	}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	began := time.Now()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("build %s: %w", b.name, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(BuildHeartbeat)
	defer tick.Stop()
	for {
		select {
		case err = <-done:
		case <-tick.C:
			elapsed := time.Since(began).Round(time.Second)
			if last > 0 {
				logf("still building %s: %s so far, its last build took %s", b.name, elapsed, last)
			} else {
				logf("still building %s: %s so far", b.name, elapsed)
			}
			continue
		}
		break
	}
	if err != nil {
		return fmt.Errorf("build %s: %v\n%s", what, err, strings.TrimSpace(out.String()))
	}
	elapsed := time.Since(began)
	if err := os.WriteFile(filepath.Join(dir, ".done"), nil, 0o644); err != nil {
		return fmt.Errorf("build %s: %w", b.name, err)
	}
	_ = os.WriteFile(lastFile, []byte(strconv.Itoa(int(elapsed.Seconds()))+"\n"), 0o644)
	logf("built %s in %s", what, elapsed.Round(time.Second))
	return b.link(cache, dir)
}

// link points CACHE/bin/BINARY at the cached build, as tools.sh does.
func (b toolBuild) link(cache, dir string) error {
	bin := filepath.Join(cache, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return err
	}
	for _, name := range b.binaries {
		target := filepath.Join(dir, "bin", name)
		if !isExecutable(target) {
			return fmt.Errorf("build %s: %s was not built; remove %s and try again", b.name, target, dir)
		}
		link := filepath.Join(bin, name)
		_ = os.Remove(link)
		if err := os.Symlink(target, link); err != nil {
			return fmt.Errorf("build %s: %w", b.name, err)
		}
	}
	return nil
}

// unpackPinned writes an embedded module folder to dir, each NAME.pinned
// as NAME.
func unpackPinned(src, dir string) error {
	entries, err := fs.ReadDir(assets, src)
	if err != nil {
		return err
	}
	for _, e := range entries {
		data, err := assets.ReadFile(path.Join(src, e.Name()))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, strings.TrimSuffix(e.Name(), ".pinned")), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}
