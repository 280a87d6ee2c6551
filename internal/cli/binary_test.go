package cli

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
	binOut  []byte
)

// stepperBinary is the stepper binary built once for the package's tests
// that run it as a process (a process list, a SIGKILL, the samples).
func stepperBinary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "stepper-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "stepper")
		binOut, binErr = exec.Command("go", "build", "-o", binPath, "github.com/stepper-cd/stepper/cmd/stepper").CombinedOutput()
	})
	if binErr != nil {
		t.Fatalf("go build: %v\n%s", binErr, binOut)
	}
	return binPath
}

// runBinary runs bin with args in dir and only the environment env, and
// returns its exit code and output; a binary that cannot start fails the
// test.
func runBinary(t testing.TB, bin string, env []string, dir string, args ...string) run {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), bin, args...)
	cmd.Env, cmd.Dir = env, dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		code = exitErr.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return run{code, stdout.String(), stderr.String()}
}
