package local

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
)

// Registry is a running OCI registry on 127.0.0.1.
type Registry struct {
	// Host is "127.0.0.1:port", the registry part of an image reference.
	Host string
	// Referrers tells whether the registry implements the OCI referrers API.
	Referrers bool

	proc *process     // docker-registry
	srv  *http.Server // the in-process referrers registry
}

// StartRegistry starts a registry storing its data under dir. With referrers
// it is go-containerregistry's registry, served from this process, which
// answers
// GET /v2/<name>/referrers/<digest>; without, it is docker-registry 2.8,
// which answers 404 there and makes clients fall back to the tag schema.
// It returns once /v2/ answers.
func StartRegistry(ctx context.Context, dir string, referrers bool) (*Registry, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("start registry: %w", err)
	}
	if referrers {
		// Bound to a port the kernel picks, so no other process can take
		// it between choosing and listening.
		srv, addr, err := serveReferrersRegistry(dir, "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		// The listener is bound: it answers from now on.
		return &Registry{Host: addr, Referrers: true, srv: srv}, nil
	}
	return startDistributionOnFreePort(ctx, dir, "", func(addr string) func(context.Context) error {
		return httpOK(http.DefaultClient, "http://"+addr+"/v2/")
	})
}

// startDistributionOnFreePort starts docker-registry on a port the kernel
// picks (127.0.0.1:0) and reads the one it got from its log. A port found
// free a moment before could be taken by another process first: the
// registry then exited, but the readiness check still passed whenever the
// other server answered /v2/ (another test binary's registry or fault
// proxy does), so the platform used a server that went away with that
// test, and every request to it was refused from then on.
func startDistributionOnFreePort(ctx context.Context, dir, extra string, ready func(addr string) func(context.Context) error) (*Registry, error) {
	// The log is appended to across starts; only this start's lines count.
	logPath := filepath.Join(dir, "docker-registry.log")
	var offset int64
	if info, err := os.Stat(logPath); err == nil {
		offset = info.Size()
	}
	proc, err := startDistribution(dir, "127.0.0.1:0", extra)
	if err != nil {
		return nil, err
	}
	addr, err := waitDistribution(ctx, proc, offset, ready)
	if err != nil {
		proc.Stop()
		return nil, fmt.Errorf("start registry: %w", err)
	}
	return &Registry{Host: addr, proc: proc}, nil
}

// waitDistribution waits until docker-registry's log, after offset, says
// which address it listens on and ready passes there, and returns that
// address. Only what the registry logs once it holds the port is trusted:
// whatever answers at an address may be another process's server.
func waitDistribution(ctx context.Context, proc *process, offset int64, ready func(addr string) func(context.Context) error) (string, error) {
	var addr string
	err := proc.waitReady(ctx, func(ctx context.Context) error {
		if addr == "" {
			if addr = listeningOn(proc.logPath, offset); addr == "" {
				return fmt.Errorf("docker-registry does not listen yet")
			}
		}
		return ready(addr)(ctx)
	})
	return addr, err
}

// listenLine is the line docker-registry logs once it listens, with the
// address it got: msg="listening on 127.0.0.1:41235".
var listenLine = regexp.MustCompile(`msg="listening on (127\.0\.0\.1:[0-9]+)`)

// listeningOn returns the address of the first listen line in the log
// after offset, or "" when there is none yet.
func listeningOn(logPath string, offset int64) string {
	f, err := os.Open(logPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return ""
	}
	// The line comes before any request is served; a few lines in.
	data, _ := io.ReadAll(io.LimitReader(f, 64<<10))
	if m := listenLine.FindSubmatch(data); m != nil {
		return string(m[1])
	}
	return ""
}

// Stop ends the registry; its data stays in its directory.
func (r *Registry) Stop() {
	if r == nil {
		return
	}
	if r.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = r.srv.Shutdown(ctx)
	}
	if r.proc != nil {
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

// serveReferrersRegistry serves go-containerregistry's registry, with the
// referrers API, from this process: blobs on disk under dir, manifests in
// memory (they last as long as the process).
func serveReferrersRegistry(dir, addr string) (*http.Server, string, error) {
	blobs := filepath.Join(dir, "blobs")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		return nil, "", fmt.Errorf("start referrers registry: %w", err)
	}
	logFile, err := os.OpenFile(filepath.Join(dir, "referrers-registry.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, "", fmt.Errorf("start referrers registry: open log: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		logFile.Close()
		return nil, "", fmt.Errorf("start referrers registry: %w", err)
	}
	srv := &http.Server{
		Handler: registry.New(
			registry.WithReferrersSupport(true),
			registry.WithBlobHandler(registry.NewDiskBlobHandler(blobs)),
			registry.Logger(log.New(logFile, "", log.LstdFlags)),
		),
		ReadHeaderTimeout: 10 * time.Second,
	}
	srv.RegisterOnShutdown(func() { logFile.Close() })
	go func() { _ = srv.Serve(ln) }()
	return srv, ln.Addr().String(), nil
}
