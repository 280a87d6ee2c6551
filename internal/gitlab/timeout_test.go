package gitlab

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/secret"
	"github.com/stepper-cd/stepper/internal/testenv"
)

// A GitLab that accepts the connection and never answers fails the call
// with an infrastructure error once one attempt's bound passes.
func TestGitLabSilentInstanceTimesOut(t *testing.T) {
	addr := testenv.StartSilentServer(t)
	c, err := New(Options{URL: "http://" + addr, Token: secret.NewValue("glpat-some-token-0000", nil), Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute) // generous: only a hang reaches it
	defer cancel()
	_, err = c.EnsureMergeRequest(ctx, promotion())
	if exit.ClassOf(err) != exit.Infra || !strings.Contains(err.Error(), "did not answer in time") {
		t.Fatalf("class %v: %v, want an infrastructure timeout", exit.ClassOf(err), err)
	}
	if ctx.Err() != nil {
		t.Fatal("the call ran into the test's own deadline instead of the attempt bound")
	}
}
