package cli

import (
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
