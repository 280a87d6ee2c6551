package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/stepper-cd/stepper/internal/report"
	"github.com/stepper-cd/stepper/internal/secret"
)

// A panic inside a command ends like an infrastructure error: exit 3, a
// result file that says the step errored, and no secret in the message.
func TestPanicInCommandIsMaskedAndRecorded(t *testing.T) {
	secrets := secret.NewSet()
	secrets.Add(canary)
	resultPath := filepath.Join(t.TempDir(), "result.json")
	var logs bytes.Buffer
	cleaned := false
	rt := &Runtime{
		Globals:  &Globals{Result: resultPath},
		Log:      zerolog.New(secrets.Writer(&logs)).Level(zerolog.DebugLevel),
		Secrets:  secrets,
		Result:   &report.Result{Step: "deploy", StartedAt: time.Now().UTC()},
		cleanups: []func(){func() { cleaned = true }},
	}

	code := runStep(context.Background(), rt, func() error { panic("bad token " + canary) })

	if code != 3 {
		t.Errorf("exit code = %d, want 3", code)
	}
	if !cleaned {
		t.Error("cleanups did not run after the panic")
	}
	b, err := os.ReadFile(resultPath)
	if err != nil {
		t.Fatalf("result file: %v", err)
	}
	var r report.Result
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if r.Status != report.Errored || r.ExitCode != 3 {
		t.Errorf("result status %q exit %d, want %q exit 3", r.Status, r.ExitCode, report.Errored)
	}
	if !strings.Contains(r.Error, "panic: bad token "+secret.Masked) {
		t.Errorf("result error = %q, want the masked panic message", r.Error)
	}
	for name, out := range map[string]string{"result file": string(b), "log": logs.String()} {
		if strings.Contains(out, canary) {
			t.Errorf("%s holds the secret:\n%s", name, out)
		}
	}
}

func TestRunRecoveredPassesErrorsThrough(t *testing.T) {
	if err := runRecovered(func() error { return nil }); err != nil {
		t.Errorf("runRecovered(nil) = %v", err)
	}
}
