package citemplates

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stepper-cd/stepper/internal/testenv"
)

var (
	binOnce sync.Once
	binDir  string
	binErr  error
	binOut  []byte

	// kube is one cluster for the package; the pipelines use namespaces of
	// their own.
	kube = testenv.NewShared(testenv.Options{SkipRegistry: true, SkipReferrersRegistry: true, SkipGit: true})
)

func TestMain(m *testing.M) {
	code := m.Run()
	kube.Stop()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// stepperBinary builds the stepper of this tree once per test binary, as
// the pipelines run it.
func stepperBinary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		if binDir, binErr = os.MkdirTemp("", "stepper-citemplates-"); binErr != nil {
			return
		}
		binOut, binErr = exec.Command("go", "build", "-o", filepath.Join(binDir, "stepper"), "github.com/stepper-cd/stepper/cmd/stepper").CombinedOutput()
	})
	if binErr != nil {
		t.Fatalf("go build: %v\n%s", binErr, binOut)
	}
	return filepath.Join(binDir, "stepper")
}
