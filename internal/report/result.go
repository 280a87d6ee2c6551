// Package report writes what a step did for the next CI job and for people:
// the result file (JSON), GitLab dotenv outputs and JUnit XML. Everything is
// masked with the run's secrets and written atomically, so a reader never
// sees half a file.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/stepper-cd/stepper/internal/ci"
	"github.com/stepper-cd/stepper/internal/secret"
)

// Status is how a step ended.
type Status string

// Statuses a step can end with.
const (
	Succeeded   Status = "succeeded"
	Failed      Status = "failed"      // the step ran and what it checks failed (exit 1)
	Errored     Status = "error"       // usage, configuration or infrastructure error (exit 2, 3)
	Interrupted Status = "interrupted" // SIGINT or SIGTERM (exit 130, 143)
	Skipped     Status = "skipped"
)

// Result is one step's outcome: the file CI jobs hand to each other with
// --result, and the audit record of the run.
type Result struct {
	Step      string            `json:"step"`
	Status    Status            `json:"status"`
	ExitCode  int               `json:"exitCode"`
	DryRun    bool              `json:"dryRun,omitempty"`
	Env       string            `json:"env,omitempty"`
	App       string            `json:"app,omitempty"`
	Image     string            `json:"image,omitempty"`
	Digest    string            `json:"digest,omitempty"`
	StartedAt time.Time         `json:"startedAt"`
	Duration  Seconds           `json:"duration"`
	CI        ci.Info           `json:"ci"`
	Outputs   map[string]string `json:"outputs,omitempty"`
	Checks    []Check           `json:"checks,omitempty"`
	// Details is what a verb reports beyond checks, such as validate's
	// findings; it is encoded as it is.
	Details any    `json:"details,omitempty"`
	Error   string `json:"error,omitempty"`
	Version string `json:"stepperVersion,omitempty"`
}

// Check is one thing a step verified, reported as a JUnit test case too.
type Check struct {
	Name     string  `json:"name"`
	Status   Status  `json:"status"` // succeeded, failed or skipped
	Message  string  `json:"message,omitempty"`
	Duration Seconds `json:"duration,omitempty"`
}

// Seconds is a duration that encodes as a number of seconds.
type Seconds time.Duration

// MarshalJSON writes the duration as seconds with millisecond precision.
func (s Seconds) MarshalJSON() ([]byte, error) {
	return fmt.Appendf(nil, "%.3f", time.Duration(s).Seconds()), nil
}

// UnmarshalJSON reads a number of seconds.
func (s *Seconds) UnmarshalJSON(b []byte) error {
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("duration: want seconds as a number: %w", err)
	}
	*s = Seconds(time.Duration(f * float64(time.Second)))
	return nil
}

// WriteJSON writes r to path as indented JSON, masked.
func WriteJSON(path string, r *Result, secrets *secret.Set) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("result %s: %w", path, err)
	}
	return writeAtomic(path, []byte(secrets.Mask(string(b))+"\n"))
}

// MaxResultSize bounds a result file ReadJSON accepts. A result a step wrote
// is a few kilobytes; anything near this size did not come from stepper.
const MaxResultSize = 4 << 20

// ReadJSON reads a result file written by WriteJSON, so a later job can use
// an earlier job's outcome.
func ReadJSON(path string) (*Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("result file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxResultSize+1))
	if err != nil {
		return nil, fmt.Errorf("result file %s: %w", path, err)
	}
	if len(b) > MaxResultSize {
		return nil, fmt.Errorf("result file %s: larger than %d MiB, not a stepper result; pass the file the previous step wrote with --result", path, MaxResultSize>>20)
	}
	r, err := parseResult(b)
	if err != nil {
		return nil, fmt.Errorf("result file %s: not a stepper result: %w", path, err)
	}
	return r, nil
}

// parseResult decodes a result file's bytes.
func parseResult(b []byte) (*Result, error) {
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// writeAtomic writes data to a temporary file beside path and renames it into
// place, so a crash never leaves a truncated report for the next job.
// WriteFileAtomic writes data to path so that a reader never sees half of
// it: a temporary file in the same directory, renamed into place.
func WriteFileAtomic(path string, data []byte) error { return writeAtomic(path, data) }

func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(f.Name()) // no-op after a successful rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
