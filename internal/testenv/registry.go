package testenv

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// Registry is a running OCI registry on 127.0.0.1.
type Registry struct {
	// Host is "127.0.0.1:port", the registry part of an image reference.
	Host string
	// Referrers tells whether the registry implements the OCI referrers API.
	Referrers bool

	proc *process
}

// StartRegistry starts a registry storing its data under dir. With referrers
// it is go-containerregistry's registry, which answers
// GET /v2/<name>/referrers/<digest>; without, it is docker-registry 2.8,
// which answers 404 there and makes clients fall back to the tag schema.
// It returns once /v2/ answers.
func StartRegistry(ctx context.Context, dir string, referrers bool) (*Registry, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("start registry: %w", err)
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, fmt.Errorf("start registry: %w", err)
	}
	var proc *process
	if referrers {
		proc, err = startReferrersRegistry(ctx, dir, addr)
	} else {
		proc, err = startDistribution(dir, addr, "")
	}
	if err != nil {
		return nil, err
	}
	r := &Registry{Host: addr, Referrers: referrers, proc: proc}
	if err := proc.waitReady(ctx, httpOK(http.DefaultClient, "http://"+addr+"/v2/")); err != nil {
		r.Stop()
		return nil, fmt.Errorf("start registry: %w", err)
	}
	return r, nil
}

// Stop ends the registry; its data stays in its directory.
func (r *Registry) Stop() {
	if r != nil {
		r.proc.Stop()
	}
}

// startDistribution runs Debian's docker-registry (distribution 2.8) with a
// generated configuration; extra is appended to it as top-level YAML.
func startDistribution(dir, addr, extra string) (*process, error) {
	bin, err := Tool("docker-registry")
	if err != nil {
		return nil, fmt.Errorf("start registry: %w", err)
	}
	config := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(config, []byte(distributionConfig(filepath.Join(dir, "data"), addr)+extra), 0o644); err != nil {
		return nil, fmt.Errorf("start registry: write config: %w", err)
	}
	// REGISTRY_* variables override the file; none of the caller's may leak in.
	return startProcess("docker-registry", dir, bin, []string{"serve", config}, childEnv("REGISTRY_"))
}

func distributionConfig(dataDir, addr string) string {
	return fmt.Sprintf(`version: 0.1
log:
  level: info
  formatter: text
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: %s
  secret: stepper-test-platform
`, dataDir, addr)
}

// startReferrersRegistry runs the project's referrers-registry command,
// building it first if needed.
func startReferrersRegistry(ctx context.Context, dir, addr string) (*process, error) {
	bin, err := buildReferrersRegistry(ctx)
	if err != nil {
		return nil, fmt.Errorf("start referrers registry: %w", err)
	}
	args := []string{"-addr", addr, "-blobs", filepath.Join(dir, "blobs")}
	return startProcess("referrers-registry", dir, bin, args, os.Environ())
}

// buildReferrersRegistry builds cmd/referrers-registry into the stepper cache
// and returns its path. go build leaves an up-to-date binary alone, so only
// the first call after a change pays for compiling; a file lock keeps test
// binaries of several packages from building at the same time.
func buildReferrersRegistry(ctx context.Context) (string, error) {
	goBin, err := Tool("go")
	if err != nil {
		return "", err
	}
	cache, err := CacheDir()
	if err != nil {
		return "", err
	}
	buildDir := filepath.Join(cache, "build")
	if err := os.MkdirAll(buildDir, 0o755); err != nil {
		return "", fmt.Errorf("build referrers-registry: %w", err)
	}
	unlock, err := lockFile(filepath.Join(buildDir, ".lock"))
	if err != nil {
		return "", fmt.Errorf("build referrers-registry: %w", err)
	}
	defer unlock()

	out := filepath.Join(buildDir, "referrers-registry")
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", out, referrersRegistryPackage)
	cmd.Dir = sourceDir()
	if output, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build referrers-registry: go build %s: %w\n%s", referrersRegistryPackage, err, strings.TrimSpace(string(output)))
	}
	return out, nil
}

const referrersRegistryPackage = "github.com/stepper-cd/stepper/internal/testenv/cmd/referrers-registry"

// sourceDir is this package's source directory, so go build finds the module
// whatever the caller's working directory; "" (the working directory) when
// the binary was built with -trimpath.
func sourceDir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok || !filepath.IsAbs(file) {
		return ""
	}
	if _, err := os.Stat(file); err != nil {
		return ""
	}
	return filepath.Dir(file)
}

// lockFile takes an exclusive advisory lock on path.
func lockFile(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}
