package runtimecheck

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/logging"
)

// Time limits of engine calls; the caller's context bounds them too.
const (
	pullTimeout = 10 * time.Minute
	callTimeout = 30 * time.Second
)

// label marks the containers this package starts, so a stray one can be
// found and removed by hand.
const label = "io.stepper.runtimecheck=true"

// engineError is an engine call that exited non-zero.
type engineError struct {
	argv   []string
	code   int
	stderr string
}

func (e *engineError) Error() string {
	msg := fmt.Sprintf("%s exited with code %d", strings.Join(e.argv, " "), e.code)
	if e.stderr != "" {
		msg += ": " + e.stderr
	}
	return msg
}

// run calls the engine with args under callTimeout and returns its
// standard output.
func (e *Engine) run(ctx context.Context, args ...string) (string, error) {
	return e.runFor(ctx, callTimeout, args...)
}

func (e *Engine) runFor(ctx context.Context, timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := e.command(ctx, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err == nil {
		return stdout.String(), nil
	}
	if ctx.Err() != nil {
		return "", fmt.Errorf("%s %s: %w", e.Kind, args[0], context.Cause(ctx))
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		return "", &engineError{argv: cmd.Args, code: exitErr.ExitCode(), stderr: lastLines(stderr.String(), 10)}
	}
	return "", fmt.Errorf("%s %s: %w", e.Kind, args[0], err)
}

func (e *Engine) command(ctx context.Context, args ...string) *exec.Cmd {
	argv := append(append([]string{e.Path}, e.StorageArgs...), args...)
	logging.From(ctx).Trace().Strs("argv", argv).Msg("run container engine")
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = e.environ()
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

func (e *Engine) pull(ctx context.Context, o Options) error {
	args := []string{"pull", "--quiet"}
	if o.Insecure && e.Kind == Podman {
		args = append(args, "--tls-verify=false")
	}
	if _, err := e.runFor(ctx, pullTimeout, append(args, o.Image)...); err != nil {
		return infraError(ctx, fmt.Errorf("runtime check: pull %s: %w", o.Image, err))
	}
	return nil
}

// exposedPort picks the container port from the image's ExposedPorts.
func (e *Engine) exposedPort(ctx context.Context, image string) (int, error) {
	out, err := e.run(ctx, "image", "inspect", "--format", "{{json .Config.ExposedPorts}}", image)
	if err != nil {
		return 0, infraError(ctx, fmt.Errorf("runtime check: inspect %s: %w", image, err))
	}
	var exposed map[string]struct{}
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &exposed); err != nil {
		return 0, exit.Infraf("runtime check: inspect %s: exposed ports %q: %v", image, out, err)
	}
	return choosePort(exposed), nil
}

// choosePort picks 8080 when the image exposes it or no TCP port at all,
// else the lowest exposed TCP port.
func choosePort(exposed map[string]struct{}) int {
	var ports []int
	for spec := range exposed {
		num, proto, _ := strings.Cut(spec, "/")
		if proto != "" && proto != "tcp" {
			continue
		}
		if p, err := strconv.Atoi(num); err == nil && p > 0 {
			ports = append(ports, p)
		}
	}
	if len(ports) == 0 || slices.Contains(ports, DefaultPort) {
		return DefaultPort
	}
	return slices.Min(ports)
}

// container is one started container. exited is closed when its process
// has ended, as `wait` reports.
type container struct {
	e    *Engine
	name string
	// hostPort is where the container port is published on 127.0.0.1.
	hostPort string
	started  time.Time

	exited   chan struct{}
	exitCode string // what `wait` printed, valid once exited is closed
	waitErr  error
	stopWait context.CancelFunc

	// startFailure says why the engine could not start the image's
	// process, when that is the image's fault (exit codes 126 and 127 of
	// docker and podman run).
	startFailure string
}

// start runs the image detached with a unique name, its port published on
// 127.0.0.1, and begins waiting for its exit. A non-nil container must be
// removed, even with an error.
func (e *Engine) start(ctx context.Context, o Options) (*container, error) {
	c := &container{e: e, name: "stepper-check-" + randomHex(6)}
	port := strconv.Itoa(o.Port)
	args := []string{"run", "--detach", "--name", c.name, "--label", label, "--pull", "never",
		"--publish", "127.0.0.1::" + port, "--env", "PORT=" + port}
	args = append(append(args, e.ExtraRunArgs...), o.Image)
	if e.beforeRun != nil {
		e.beforeRun(c.name)
	}
	// run is never interrupted, only bounded by callTimeout: podman killed
	// after it has set up the container's network but before it has
	// recorded it leaves the port forward (an iptables DNAT rule for
	// 127.0.0.1:<host port>) behind when the container is removed, and
	// that rule then takes every later connection to the port, whoever
	// listens on it. A cancelled check waits for run, then removes the
	// container.
	_, err := e.run(context.WithoutCancel(ctx), args...)
	c.started = time.Now()
	if ctx.Err() != nil {
		return c, ctx.Err()
	}
	var engErr *engineError
	switch {
	case errors.As(err, &engErr) && (engErr.code == 126 || engErr.code == 127):
		c.startFailure = strings.TrimPrefix(engErr.stderr, "Error: ")
		return c, nil
	case err != nil:
		return c, infraError(ctx, fmt.Errorf("runtime check: start %s: %w", o.Image, err))
	}
	state, err := c.inspect(ctx)
	if err != nil {
		return c, err
	}
	for _, b := range state.NetworkSettings.Ports[port+"/tcp"] {
		if b.HostPort != "" {
			c.hostPort = b.HostPort
			break
		}
	}
	if c.hostPort == "" && state.State.Running {
		return c, exit.Infraf("runtime check: %s did not publish container port %s on 127.0.0.1", e.Kind, port)
	}
	c.waitForExit(ctx)
	return c, nil
}

// waitForExit runs `wait` in the background until the container exits or
// remove stops it.
func (c *container) waitForExit(ctx context.Context) {
	ctx, c.stopWait = context.WithCancel(ctx)
	c.exited = make(chan struct{})
	go func() {
		defer close(c.exited)
		// No callTimeout: the container may rightly run for the whole check.
		out, err := c.e.runFor(ctx, 24*time.Hour, "wait", c.name)
		c.exitCode, c.waitErr = strings.TrimSpace(lastLines(out, 1)), err
	}()
}

// hasExited reports whether the container's process has ended; an error
// means `wait` itself failed, or ctx ended.
func (c *container) hasExited(ctx context.Context) (bool, error) {
	select {
	case <-c.exited:
	default:
		return false, nil
	}
	if c.waitErr == nil {
		return true, nil
	}
	return false, infraError(ctx, fmt.Errorf("runtime check: wait for the container: %w", c.waitErr))
}

// containerState is the part of `container inspect` both engines print
// alike.
type containerState struct {
	ID    string `json:"Id"`
	State struct {
		Running  bool
		Pid      int
		ExitCode int
	}
	NetworkSettings struct {
		Ports map[string][]struct {
			HostIP   string `json:"HostIp"`
			HostPort string
		}
	}
}

func (c *container) inspect(ctx context.Context) (*containerState, error) {
	out, err := c.e.run(ctx, "container", "inspect", c.name)
	if err != nil {
		return nil, infraError(ctx, fmt.Errorf("runtime check: inspect container: %w", err))
	}
	var states []containerState
	if err := json.Unmarshal([]byte(out), &states); err != nil || len(states) != 1 {
		return nil, exit.Infraf("runtime check: inspect container %s: unexpected output %.200q", c.name, out)
	}
	return &states[0], nil
}

// logs returns the container's last lines of output, for failure messages.
func (c *container) logs(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	out, _ := c.e.command(ctx, "logs", "--tail", "20", c.name).CombinedOutput() // an app logs to either stream
	return strings.TrimSpace(string(out))
}

// remove force-removes the container. It runs on a context of its own, so
// a cancelled check still leaves nothing behind.
func (c *container) remove(ctx context.Context) {
	if c.stopWait != nil {
		c.stopWait()
		<-c.exited
	}
	ctx = context.WithoutCancel(ctx)
	args := []string{"rm", "--force", "--volumes"}
	if c.e.Kind == Podman {
		args = append(args, "--time", "0") // podman would wait 10s for SIGTERM first
	}
	if _, err := c.e.run(ctx, append(args, c.name)...); err != nil {
		var engErr *engineError
		if errors.As(err, &engErr) && strings.Contains(strings.ToLower(engErr.stderr), "no such container") {
			return // run failed before creating it
		}
		logging.From(ctx).Warn().Err(err).Str("container", c.name).Msg("could not remove runtime check container; remove it by hand")
	}
}

// infraError marks err as an infrastructure error, unless ctx ended: a
// cancelled check is an interruption, not the engine's failure.
func infraError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return err
	}
	return exit.Mark(exit.Infra, err)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
