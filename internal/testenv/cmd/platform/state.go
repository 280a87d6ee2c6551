package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/stepper-cd/stepper/internal/testenv"
)

// state is what a running platform publishes in state.json.
type state struct {
	// PID is the serve process; stopping it stops every component.
	PID     int               `json:"pid"`
	Started time.Time         `json:"started"`
	Dir     string            `json:"dir"`
	Env     map[string]string `json:"env"`
}

func statePath(stateDir string) string { return filepath.Join(stateDir, "state.json") }
func envPath(stateDir string) string   { return filepath.Join(stateDir, "env") }
func logPath(stateDir string) string   { return filepath.Join(stateDir, "serve.log") }
func dataDir(stateDir string) string   { return filepath.Join(stateDir, "data") }

// writeState publishes a ready platform: state.json and the env file, each
// replaced atomically so readers never see half a file.
func writeState(stateDir string, p *testenv.Platform) error {
	s := state{PID: os.Getpid(), Started: time.Now().UTC(), Dir: p.Dir, Env: p.Env()}
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	if err := writeAtomic(envPath(stateDir), []byte(envFile(s.Env))); err != nil {
		return err
	}
	return writeAtomic(statePath(stateDir), append(data, '\n'))
}

// readState returns the published state, or nil when there is none.
func readState(stateDir string) (*state, error) {
	data, err := os.ReadFile(statePath(stateDir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	var s state
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("read state %s: %w", statePath(stateDir), err)
	}
	return &s, nil
}

func removeState(stateDir string) {
	_ = os.Remove(statePath(stateDir))
	_ = os.Remove(envPath(stateDir))
}

// alive tells whether the state's serve process still runs. Where /proc
// exists it also checks the process is a platform server for this state
// directory, not an unrelated process that inherited the pid.
func (s *state) alive(stateDir string) bool {
	if s == nil || s.PID <= 0 || syscall.Kill(s.PID, 0) != nil {
		return false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", s.PID))
	if err != nil {
		return true
	}
	args := strings.Split(string(cmdline), "\x00")
	return len(args) > 1 && args[1] == "serve" && strings.Contains(string(cmdline), stateDir)
}

// envFile renders export lines for `source`.
func envFile(env map[string]string) string {
	var b strings.Builder
	b.WriteString("# Written by `platform up`; source this file to use the local test platform.\n")
	for _, name := range testenv.EnvNames(env) {
		fmt.Fprintf(&b, "export %s=%s\n", name, shellQuote(env[name]))
	}
	return b.String()
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func writeAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
