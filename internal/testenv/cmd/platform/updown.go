package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// upTimeout bounds waiting for `serve` to publish its state; a first run
// compiles the referrers registry.
const upTimeout = 4 * time.Minute

// up starts `serve` detached, in its own session so it survives this
// process and the terminal, and waits until it publishes its state.
func up(stateDir, skip string, out io.Writer) error {
	s, err := readState(stateDir)
	if err != nil {
		return err
	}
	if s.alive(stateDir) {
		fmt.Fprintf(out, "platform already running (pid %d); environment in %s:\n", s.PID, envPath(stateDir))
		return printEnv(stateDir, out)
	}
	removeState(stateDir)
	if err := os.RemoveAll(dataDir(stateDir)); err != nil {
		return fmt.Errorf("up: clear old data: %w", err)
	}
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return fmt.Errorf("up: %w", err)
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("up: %w", err)
	}
	logFile, err := os.Create(logPath(stateDir))
	if err != nil {
		return fmt.Errorf("up: %w", err)
	}
	defer logFile.Close()

	cmd := exec.Command(self, "serve", "-state", stateDir, "-skip", skip)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("up: start server: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	deadline := time.After(upTimeout)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-exited:
			return fmt.Errorf("up: platform server exited (%v); its log %s:\n%s", err, logPath(stateDir), tail(logPath(stateDir)))
		case <-deadline:
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
			return fmt.Errorf("up: platform not ready after %s; its log %s:\n%s", upTimeout, logPath(stateDir), tail(logPath(stateDir)))
		case <-tick.C:
		}
		s, err := readState(stateDir)
		if err != nil || s == nil || s.PID != cmd.Process.Pid {
			continue
		}
		fmt.Fprintf(out, "platform running (pid %d); environment in %s:\n", s.PID, envPath(stateDir))
		return printEnv(stateDir, out)
	}
}

// down stops the running platform, if any.
func down(stateDir string, out io.Writer) error {
	s, err := readState(stateDir)
	if err != nil {
		return err
	}
	if !s.alive(stateDir) {
		removeState(stateDir)
		fmt.Fprintln(out, "platform not running")
		return nil
	}
	// The server stops its components on SIGTERM; they die with it anyway.
	_ = syscall.Kill(s.PID, syscall.SIGTERM)
	for range 150 {
		if !s.alive(stateDir) {
			removeState(stateDir)
			fmt.Fprintln(out, "platform stopped")
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = syscall.Kill(s.PID, syscall.SIGKILL)
	removeState(stateDir)
	fmt.Fprintf(out, "platform killed (pid %d did not stop within 15s)\n", s.PID)
	return nil
}

// status reports whether the platform runs; it fails when it does not, so
// scripts can test it.
func status(stateDir string, out io.Writer) error {
	s, err := readState(stateDir)
	if err != nil {
		return err
	}
	if !s.alive(stateDir) {
		return errors.New("not running; start it with `platform up`")
	}
	fmt.Fprintf(out, "platform running (pid %d) since %s; data in %s\n", s.PID, s.Started.Format(time.RFC3339), s.Dir)
	return printEnv(stateDir, out)
}

func printEnv(stateDir string, out io.Writer) error {
	data, err := os.ReadFile(envPath(stateDir))
	if err != nil {
		return fmt.Errorf("read environment: %w", err)
	}
	_, err = out.Write(data)
	return err
}

func tail(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	return strings.Join(lines, "\n")
}
