package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "stepper-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "stepper")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		os.Stderr.Write(out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func TestExitCodes(t *testing.T) {
	tests := []struct {
		args []string
		want int
	}{
		{[]string{"version"}, 0},
		{[]string{"--help"}, 0},
		{[]string{"no-such-verb"}, 2},
		{[]string{"--config", "/nonexistent/stepper.yaml", "config", "show"}, 2},
	}
	for _, tt := range tests {
		cmd := exec.Command(binary, tt.args...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
		err := cmd.Run()
		if got := cmd.ProcessState.ExitCode(); got != tt.want {
			t.Errorf("stepper %v: exit %d, want %d (%v)", tt.args, got, tt.want, err)
		}
	}
}

// A step blocked on input must stop on SIGINT/SIGTERM with 130/143 well
// within the platform's 10 s kill timeout. A FIFO as the configuration file
// blocks the read the way a hung network file system would.
func TestSignalsStopABlockedStep(t *testing.T) {
	for _, tt := range []struct {
		sig  syscall.Signal
		code int
	}{{syscall.SIGINT, 130}, {syscall.SIGTERM, 143}} {
		t.Run(tt.sig.String(), func(t *testing.T) {
			dir := t.TempDir()
			fifo := filepath.Join(dir, "stepper.yaml")
			if err := syscall.Mkfifo(fifo, 0o600); err != nil {
				t.Fatal(err)
			}
			result := filepath.Join(dir, "result.json")
			var stderr bytes.Buffer
			cmd := exec.Command(binary, "--config", fifo, "--result", result, "--log-format", "json", "config", "show")
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// Wait until it opened the FIFO to read (signal handling is
			// set up before the configuration is read): a writer's
			// non-blocking open succeeds only once a reader is there.
			// Holding the writer open keeps its read blocked. A fixed
			// sleep here lost the race on a loaded machine.
			var writer *os.File
			for deadline := time.Now().Add(10 * time.Second); writer == nil; {
				fd, err := syscall.Open(fifo, syscall.O_WRONLY|syscall.O_NONBLOCK, 0)
				if err == nil {
					writer = os.NewFile(uintptr(fd), fifo)
					break
				}
				if time.Now().After(deadline) {
					cmd.Process.Kill()
					t.Fatalf("stepper never opened the configuration to read: %v", err)
				}
				time.Sleep(20 * time.Millisecond)
			}
			defer writer.Close()
			start := time.Now()
			cmd.Process.Signal(tt.sig)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.ExitCode() != tt.code {
					t.Fatalf("exit %v, want %d; stderr:\n%s", err, tt.code, stderr.String())
				}
			case <-time.After(12 * time.Second):
				cmd.Process.Kill()
				t.Fatalf("still running 12 s after %s; stderr:\n%s", tt.sig, stderr.String())
			}
			t.Logf("stopped %s after the signal", time.Since(start))
			b, err := os.ReadFile(result)
			if err != nil || !strings.Contains(string(b), `"interrupted"`) {
				t.Errorf("result file after %s: %v\n%s", tt.sig, err, b)
			}
		})
	}
}
