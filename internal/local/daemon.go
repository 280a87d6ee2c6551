package local

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// State is what a running clone publishes in DIR/state.json once it is
// ready: the serve process, the components' addresses and the clone.
type State struct {
	// PID is the serve process; stopping it stops every component.
	PID     int               `json:"pid"`
	Started time.Time         `json:"started"`
	Dir     string            `json:"dir"`
	Env     map[string]string `json:"env"`
	// Clone is what `local up` seeded, nil for a bare platform.
	Clone *Clone `json:"clone,omitempty"`
}

// The files of a state directory.
func statePath(dir string) string { return filepath.Join(dir, "state.json") }

// EnvPath is the file of export lines for `source`.
func EnvPath(dir string) string { return filepath.Join(dir, "env") }

// LogPath is the serve process's log.
func LogPath(dir string) string { return filepath.Join(dir, "serve.log") }

func dataDir(dir string) string { return filepath.Join(dir, "data") }

// DefaultDir is where `stepper local` keeps its clone: ~/.cache/stepper/local.
func DefaultDir() (string, error) {
	cache, err := CacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(cache, "local"), nil
}

// ReadState returns the published state of dir, or nil when there is none.
func ReadState(dir string) (*State, error) {
	data, err := os.ReadFile(statePath(dir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", statePath(dir), err)
	}
	var s State
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("read %s: %w; remove the directory (stepper local down) and start again", statePath(dir), err)
	}
	return &s, nil
}

// Alive tells whether the state's serve process still runs. Where /proc
// exists it also checks that the process serves this directory, not an
// unrelated process that inherited the pid.
func (s *State) Alive(dir string) bool {
	if s == nil || s.PID <= 0 || syscall.Kill(s.PID, 0) != nil {
		return false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", s.PID))
	if err != nil {
		return true
	}
	return strings.Contains(string(cmdline), "\x00serve\x00") && strings.Contains(string(cmdline), dir)
}

// Spawn says how Up starts the serve process: the executable and the
// arguments that make it run Serve for dir.
type Spawn struct {
	Path string
	Args []string
}

// UpTimeout bounds waiting for the serve process to publish its state.
const UpTimeout = 5 * time.Minute

// Up starts the serve process detached, in its own session so that it
// survives this process and the terminal, and waits until it publishes its
// state. Every line the serve process logs meanwhile is copied to progress,
// so a slow first start is never silent. A clone already running is
// returned as it is (started reports false).
func Up(ctx context.Context, dir string, spawn Spawn, progress io.Writer) (s *State, started bool, err error) {
	s, err = ReadState(dir)
	if err != nil {
		return nil, false, err
	}
	if s.Alive(dir) {
		return s, false, nil
	}
	if err := cloneDir(dir); err != nil {
		return nil, false, err
	}
	// A state left by a serve process that died: its data is stale.
	if err := os.RemoveAll(dir); err != nil {
		return nil, false, fmt.Errorf("local up: clear the old clone in %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("local up: %w", err)
	}
	logFile, err := os.Create(LogPath(dir))
	if err != nil {
		return nil, false, fmt.Errorf("local up: %w", err)
	}
	defer logFile.Close()

	cmd := exec.Command(spawn.Path, spawn.Args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, false, fmt.Errorf("local up: start the serve process: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	follow := newFollower(LogPath(dir), progress)

	deadline := time.NewTimer(UpTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	fail := func(why string) error {
		follow.flush()
		// Nothing half-started stays: the data goes, the log stays for
		// the reader.
		_ = os.RemoveAll(dataDir(dir))
		return fmt.Errorf("local up: %s; the serve log %s ends:\n%s", why, LogPath(dir), tailFile(LogPath(dir), 30))
	}
	for {
		select {
		case err := <-exited:
			return nil, false, fail(fmt.Sprintf("the serve process exited (%v)", err))
		case <-deadline.C:
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
			return nil, false, fail(fmt.Sprintf("not ready after %s", UpTimeout))
		case <-ctx.Done():
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
			return nil, false, fail(ctx.Err().Error())
		case <-tick.C:
		}
		follow.flush()
		s, err := ReadState(dir)
		if err != nil || s == nil || s.PID != cmd.Process.Pid {
			continue
		}
		follow.flush()
		return s, true, nil
	}
}

// follower copies the lines a log file gains to w.
type follower struct {
	path string
	off  int64
	w    io.Writer
}

func newFollower(path string, w io.Writer) *follower { return &follower{path: path, w: w} }

func (f *follower) flush() {
	if f.w == nil {
		return
	}
	file, err := os.Open(f.path)
	if err != nil {
		return
	}
	defer file.Close()
	if _, err := file.Seek(f.off, io.SeekStart); err != nil {
		return
	}
	r := bufio.NewReader(file)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return // a partial line waits for its end
		}
		f.off += int64(len(line))
		fmt.Fprint(f.w, line)
	}
}

// cloneDir refuses a directory that holds something other than a clone:
// Up and Down remove the directory they are given, and a mistyped --dir
// must never cost a user their files.
func cloneDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) || (err == nil && len(entries) == 0) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	for _, marker := range []string{statePath(dir), LogPath(dir)} {
		if _, err := os.Stat(marker); err == nil {
			return nil
		}
	}
	return ErrNotClone{Dir: dir}
}

// ErrNotClone is a directory that is not empty and holds no local clone.
type ErrNotClone struct{ Dir string }

func (e ErrNotClone) Error() string {
	return fmt.Sprintf("%s is not empty and holds no local clone (no state.json or serve.log), so it is left alone: choose another --dir", e.Dir)
}

// Down stops the clone of dir and removes the directory: its data, keys,
// repositories and logs. It reports whether something was running. A
// directory that holds no clone is refused.
func Down(dir string) (bool, error) {
	if err := cloneDir(dir); err != nil {
		return false, err
	}
	s, err := ReadState(dir)
	if err != nil {
		// An unreadable state is still removed.
		s = nil
	}
	running := s.Alive(dir)
	if running {
		// The serve process stops its components on SIGTERM; they die
		// with it anyway (each is in a group killed with its parent).
		_ = syscall.Kill(s.PID, syscall.SIGTERM)
		stopped := false
		for range 150 {
			if !s.Alive(dir) {
				stopped = true
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if !stopped {
			_ = syscall.Kill(s.PID, syscall.SIGKILL)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return running, fmt.Errorf("local down: remove %s: %w", dir, err)
	}
	return running, nil
}

// Serve runs the platform in the foreground until ctx ends: it starts the
// components under dir, seeds the clone, publishes the state and waits.
// Everything it started stops when it returns.
func Serve(ctx context.Context, dir string, opts ServeOptions) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	logf := func(format string, args ...any) {
		fmt.Printf("%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
	}
	startCtx, cancel := context.WithTimeout(ctx, UpTimeout)
	defer cancel()
	began := time.Now()
	logf("starting %s", strings.Join(opts.Platform.components(), ", "))
	opts.Platform.Kube.Progress = logf
	p, err := Start(startCtx, dataDir(dir), opts.Platform)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	defer p.Stop()
	logf("components ready in %s", time.Since(began).Round(100*time.Millisecond))
	env := p.Env()
	if opts.Kubeconfig != "" {
		env["KUBECONFIG"] = opts.Kubeconfig
	}
	var clone *Clone
	if opts.Seed != nil {
		clone, err = opts.Seed(startCtx, p, logf)
		if err != nil {
			return fmt.Errorf("serve: %w", err)
		}
		defer clone.Close()
		for k, v := range clone.Env {
			env[k] = v
		}
	}
	s := State{PID: os.Getpid(), Started: time.Now().UTC(), Dir: dir, Env: env, Clone: clone}
	if err := writeState(dir, s); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	logf("ready in %s", time.Since(began).Round(100*time.Millisecond))
	<-ctx.Done()
	logf("stopping")
	return nil
}

// ServeOptions choose what Serve runs.
type ServeOptions struct {
	Platform Options
	// Kubeconfig is the user's cluster when the control plane is skipped.
	Kubeconfig string
	// Seed makes the clone on the running platform; nil serves the bare
	// platform.
	Seed func(ctx context.Context, p *Platform, logf func(string, ...any)) (*Clone, error)
}

// writeState publishes a ready clone: state.json and the env file, each
// replaced atomically so readers never see half a file.
func writeState(dir string, s State) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	if err := writeAtomic(EnvPath(dir), []byte(EnvFile(s.Env))); err != nil {
		return err
	}
	return writeAtomic(statePath(dir), append(data, '\n'))
}

// EnvFile renders export lines for `source`.
func EnvFile(env map[string]string) string {
	var b strings.Builder
	b.WriteString("# Written by `stepper local up`; source this file to use the local clone.\n")
	for _, name := range EnvNames(env) {
		fmt.Fprintf(&b, "export %s=%s\n", name, shellQuote(env[name]))
	}
	return b.String()
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func writeAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
