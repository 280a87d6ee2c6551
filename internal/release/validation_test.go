package release

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stepper-cd/stepper/internal/report"
)

func passingValidation() ValidationEvidence {
	return ValidationEvidence{App: "api", Environment: "exttest", Image: "h/v/api:1@" + d1, Digest: d1, Passed: true,
		Warnings: 1, Rules: 27, ValidatedAt: time.Date(2026, 12, 4, 21, 40, 12, 0, time.UTC)}
}

// A record reads back as written, and only a passing one about the app and
// digest asked for proves anything.
func TestValidationEvidence(t *testing.T) {
	in := passingValidation()
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := DecodeValidationEvidence(b)
	if err != nil || out != in {
		t.Fatalf("read back %+v, %v; want %+v", out, err, in)
	}
	if err := out.Proves("api", d1); err != nil {
		t.Errorf("Proves: %v", err)
	}
	d2 := "sha256:" + strings.Repeat("cd", 32)
	for _, tc := range []struct {
		name       string
		edit       func(*ValidationEvidence)
		app, digst string
		want       string
	}{
		{"other app", nil, "web", d1, "about app api, not web"},
		{"other digest", nil, "api", d2, "about " + d1 + ", not " + d2},
		{"failed", func(e *ValidationEvidence) { e.Passed, e.Errors = false, 2 }, "api", d1, "validate failed it at 2026-12-04T21:40:12Z with 2 error(s)"},
		{"passed with errors", func(e *ValidationEvidence) { e.Errors = 1 }, "api", d1, "with 1 error(s)"},
		{"no rules", func(e *ValidationEvidence) { e.Rules = 0 }, "api", d1, "checked no rules"},
	} {
		e := passingValidation()
		if tc.edit != nil {
			tc.edit(&e)
		}
		if err := e.Proves(tc.app, tc.digst); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Proves = %v, want %q", tc.name, err, tc.want)
		}
	}
	for _, bad := range []string{`{"app":"api"}`, `{"digest":"` + d1 + `"}`, `[]`} {
		if _, err := DecodeValidationEvidence([]byte(bad)); err == nil || !strings.Contains(err.Error(), "validate record") {
			t.Errorf("DecodeValidationEvidence(%s) = %v, want an error naming the validate record", bad, err)
		}
	}
}

// Each app's attestation is listed in the result, in order; an app without
// one adds nothing.
func TestValidatedEncode(t *testing.T) {
	r := &report.Result{}
	for _, v := range []Validated{{App: "a", Attestation: "h/v/a:sha256-1.att"}, {App: "b"}, {App: "c", Attestation: "h/v/c@sha256:2"}} {
		v.Encode(r)
	}
	if got := r.Outputs[OutValidateAttestation]; got != "h/v/a:sha256-1.att,h/v/c@sha256:2" {
		t.Errorf("outputs.%s = %q", OutValidateAttestation, got)
	}
	empty := &report.Result{}
	Validated{App: "a"}.Encode(empty)
	if len(empty.Outputs) != 0 {
		t.Errorf("outputs %v for an app without an attestation", empty.Outputs)
	}
}
