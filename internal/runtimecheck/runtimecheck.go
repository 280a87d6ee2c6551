// Package runtimecheck starts an image with a container engine (podman or
// docker) and checks what the platform enforces once a container runs: that
// the health endpoint answers, that the process does not run as root, and
// that it exits on SIGTERM within the platform's kill deadline. A check that
// does not pass is a result, not an error; errors are for an engine that is
// missing or fails.
package runtimecheck

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/logging"
)

// Engine kinds.
const (
	Podman = "podman"
	Docker = "docker"
)

// Check names, in the order Check runs them.
const (
	CheckHealth  = "health"
	CheckNonRoot = "non-root-uid"
	CheckSIGTERM = "sigterm"
)

// Defaults for Options left zero.
const (
	DefaultHealthPath   = "/healthz"
	DefaultPort         = 8080
	DefaultStartTimeout = 30 * time.Second
	// DefaultKillDeadline is the platform's: Kubernetes'
	// terminationGracePeriodSeconds as the platform sets it.
	DefaultKillDeadline = 10 * time.Second
)

// Engine is a container engine CLI.
type Engine struct {
	Path string // the podman or docker executable
	Kind string // Podman or Docker
	// StorageArgs are global flags put before every subcommand, such as
	// podman's --root, --runroot and --storage-driver, or docker's --host.
	StorageArgs []string
	// ExtraRunArgs are added to `run`, such as --runtime or --ulimit.
	ExtraRunArgs []string
	// Environ is the engine's environment; nil means os.Environ().
	Environ []string

	// beforeRun, when set, is told each container's name just before the
	// engine is asked to run it (tests use it to cancel mid-run).
	beforeRun func(name string)
}

// Options say what to run and what the platform demands of it.
type Options struct {
	// Image is the image to run, by digest.
	Image string
	// HealthPath is polled with GET until it answers 2xx; default /healthz.
	HealthPath string
	// Port is the container port the app listens on. Zero means the image's
	// exposed TCP port (8080 if it exposes several and 8080 is one of them,
	// else the lowest), or 8080 when it exposes none. The container gets it
	// as $PORT too, as the platform sets it.
	Port int
	// StartTimeout bounds the wait for the health endpoint; default 30s.
	StartTimeout time.Duration
	// KillDeadline is how long the platform waits after SIGTERM before it
	// kills; default 10s.
	KillDeadline time.Duration
	// Insecure pulls over plain HTTP, for registries on 127.0.0.1 (podman's
	// --tls-verify=false; docker trusts 127.0.0.1 by itself).
	Insecure bool
}

// Result is what the checks found.
type Result struct {
	Checks []Check `json:"checks"`
}

// Passed reports whether every check passed.
func (r *Result) Passed() bool {
	for _, c := range r.Checks {
		if !c.Passed {
			return false
		}
	}
	return true
}

// Check is one runtime check's outcome.
type Check struct {
	Name     string        `json:"name"` // CheckHealth, CheckNonRoot or CheckSIGTERM
	Passed   bool          `json:"passed"`
	Message  string        `json:"message"`
	Duration time.Duration `json:"duration"`
}

// Detect finds an engine: podman when it is on PATH, else docker when
// `docker info` answers. lookPath nil means exec.LookPath; environ nil means
// os.Environ().
func Detect(lookPath func(string) (string, error), environ []string) (*Engine, error) {
	if lookPath == nil {
		lookPath = exec.LookPath
	}
	if path, err := lookPath(Podman); err == nil {
		return &Engine{Path: path, Kind: Podman, Environ: environ}, nil
	}
	if path, err := lookPath(Docker); err == nil {
		e := &Engine{Path: path, Kind: Docker, Environ: environ}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := e.run(ctx, "info", "--format", "{{.ServerVersion}}"); err == nil {
			return e, nil
		}
	}
	return nil, exit.Usagef("--runtime needs a container engine: install podman, or run where a Docker engine answers `docker info`")
}

// Check pulls o.Image, starts it, runs the checks and removes the container,
// whatever happens, cancellation included.
func (e *Engine) Check(ctx context.Context, o Options) (*Result, error) {
	o = o.withDefaults()
	if o.Image == "" {
		return nil, exit.Usagef("runtime check: no image to run")
	}
	if e.Kind != Podman && e.Kind != Docker {
		return nil, exit.Usagef("runtime check: engine kind %q: use %s or %s", e.Kind, Podman, Docker)
	}
	log := logging.From(ctx).With().Str(logging.Image, o.Image).Logger()
	if err := e.pull(ctx, o); err != nil {
		return nil, err
	}
	if o.Port == 0 {
		port, err := e.exposedPort(ctx, o.Image)
		if err != nil {
			return nil, err
		}
		o.Port = port
	}
	c, err := e.start(ctx, o)
	if c != nil {
		defer c.remove(ctx)
	}
	if err != nil {
		return nil, err
	}
	if c.startFailure != "" {
		return notStarted(c.startFailure), nil
	}
	res := &Result{}
	for _, check := range []func(context.Context, Options) (Check, error){
		c.checkHealth, // the app must be up before its process is looked at
		c.checkNonRoot,
		c.checkSIGTERM, // last: it ends the container
	} {
		got, err := check(ctx, o)
		if err != nil {
			return nil, err
		}
		log.Debug().Str("check", got.Name).Bool("passed", got.Passed).Int64(logging.Duration, got.Duration.Milliseconds()).Msg(got.Message)
		res.Checks = append(res.Checks, got)
	}
	return res, nil
}

// notStarted fails every check for a container the engine could not start.
func notStarted(why string) *Result {
	msg := "not checked: the container did not start: " + why
	return &Result{Checks: []Check{
		{Name: CheckHealth, Message: msg},
		{Name: CheckNonRoot, Message: msg},
		{Name: CheckSIGTERM, Message: msg},
	}}
}

func (o Options) withDefaults() Options {
	if o.HealthPath == "" {
		o.HealthPath = DefaultHealthPath
	}
	if o.HealthPath[0] != '/' {
		o.HealthPath = "/" + o.HealthPath
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = DefaultStartTimeout
	}
	if o.KillDeadline <= 0 {
		o.KillDeadline = DefaultKillDeadline
	}
	return o
}

func (e *Engine) environ() []string {
	if e.Environ != nil {
		return e.Environ
	}
	return os.Environ()
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.1fs", d.Seconds()) }
