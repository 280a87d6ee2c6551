package gitrepo_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/gitrepo"
	"github.com/stepper-cd/stepper/internal/testenv"
)

// A remote that accepts the connection and never answers does not hold
// the job: the command is given up on after its bound, as an
// infrastructure error that says so.
func TestSilentRemoteTimesOut(t *testing.T) {
	addr := testenv.StartSilentServer(t)
	url := "http://" + addr + "/vendor-x/dsf.git"
	_, err := gitrepo.Open(t.Context(), url, "master", t.TempDir()+"/repo", gitrepo.Options{CommandTimeout: 2 * time.Second})
	if err == nil || exit.ClassOf(err) != exit.Infra || !strings.Contains(err.Error(), "did not finish within 2s") {
		t.Fatalf("clone of a silent remote: %v (class %v)", err, exit.ClassOf(err))
	}
}
