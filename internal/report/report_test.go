package report

import (
	"flag"
	"github.com/stepper-cd/stepper/internal/testenv"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stepper-cd/stepper/internal/ci"
	"github.com/stepper-cd/stepper/internal/secret"
)

var update = flag.Bool("update", false, "rewrite golden files")

const canary = "canary-report-pw-42aa" // test secret, made for the tests

func sample() *Result {
	return &Result{
		Step: "smoke-test", Status: Failed, ExitCode: 1, Env: "exttest", App: "patient-api",
		Image:     "127.0.0.1:5000/vendor/patient-api:1.4.2",
		Digest:    "sha256:4f1c3b6f5d8e0a7b9c2d1e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b",
		StartedAt: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC),
		Duration:  Seconds(2500 * time.Millisecond),
		CI:        ci.Info{System: ci.GitLab, CommitSHA: "0123456789abcdef", Ref: "master", User: "alice"},
		Outputs:   map[string]string{"release": "patient-api", "dsf-commit": "abc123"},
		Checks: []Check{
			{Name: "readiness /healthz", Status: Succeeded, Duration: Seconds(time.Second)},
			{Name: "GET /api/ping", Status: Failed, Message: "status 500 from https://u:" + canary + "@api.example/ping\nbody: oops"},
			{Name: "tracing headers", Status: Skipped, Message: "no tracing endpoint configured"},
		},
		Error: "smoke-test exttest/patient-api: 1 of 3 checks failed",
	}
}

func secrets() *secret.Set {
	s := secret.NewSet()
	s.Add(canary)
	return s
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestJSONRoundTripAndMasking(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out", "result.json")
	if err := WriteJSON(path, sample(), secrets()); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	if strings.Contains(string(raw), canary) {
		t.Fatal("secret leaked into the result file")
	}
	golden(t, "result.json", raw)
	back, err := ReadJSON(path)
	if err != nil {
		t.Fatal(err)
	}
	if back.Digest != sample().Digest || back.Duration != sample().Duration || len(back.Checks) != 3 {
		t.Errorf("round trip lost data: %+v", back)
	}
}

func TestDotenv(t *testing.T) {
	b, err := Dotenv(sample(), secrets())
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "result.env", b)

	bad := sample()
	bad.Outputs = map[string]string{"notes": "two\nlines"}
	if _, err := Dotenv(bad, nil); err == nil || !strings.Contains(err.Error(), "one line") {
		t.Errorf("multi-line value: err = %v", err)
	}
	bad.Outputs = map[string]string{"bad name!": "x"}
	if _, err := Dotenv(bad, nil); err == nil || !strings.Contains(err.Error(), "letters, digits") {
		t.Errorf("bad name: err = %v", err)
	}
}

func TestJUnit(t *testing.T) {
	b, err := JUnit(sample(), secrets())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), canary) {
		t.Fatal("secret leaked into JUnit")
	}
	golden(t, "result.junit.xml", b)
	testenv.ValidateJUnit(t, filepath.Join("testdata", "result.junit.xml"))
}

func TestReadJSONRejectsGarbage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.json")
	os.WriteFile(path, []byte("{not json"), 0o644)
	if _, err := ReadJSON(path); err == nil || !strings.Contains(err.Error(), "not a stepper result") {
		t.Errorf("err = %v", err)
	}
}
