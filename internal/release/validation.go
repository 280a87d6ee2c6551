package release

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/stepper-cd/stepper/internal/report"
)

// ValidatePredicateType names stepper's validate record, an in-toto
// predicate signed and attached to the image digest (validate --attest).
const ValidatePredicateType = "https://github.com/stepper-cd/stepper/attestations/validate/v1"

// OutValidateAttestation is the result output naming the validate records
// a run attached.
const OutValidateAttestation = "validate-attestation"

// ValidationEvidence is the predicate of "validated": which image (digest),
// for which app (and environment and chart version when known), when, by
// which policy, and the verdict. A failing verdict is recorded too, so the
// record is honest; only a passing one proves anything.
type ValidationEvidence struct {
	App          string `json:"app"`
	Environment  string `json:"environment,omitempty"`
	Image        string `json:"image,omitempty"`
	Digest       string `json:"digest"`
	ChartVersion string `json:"chartVersion,omitempty"`
	// Passed is true when no error-level finding was left after waivers.
	Passed bool `json:"passed"`
	// Errors and Warnings count the findings left after waivers.
	Errors   int `json:"errors"`
	Warnings int `json:"warnings"`
	// Rules is how many rules were checked.
	Rules int `json:"rulesChecked"`
	// Policy is "sha256:<hex>" of the policy file when one was used; empty
	// for the built-in rules.
	Policy         string    `json:"policyDigest,omitempty"`
	ValidatedAt    time.Time `json:"validatedAt"`
	PipelineURL    string    `json:"pipelineUrl,omitempty"`
	StepperVersion string    `json:"stepperVersion,omitempty"`
}

// DecodeValidationEvidence reads the predicate of a validate statement.
func DecodeValidationEvidence(predicate []byte) (ValidationEvidence, error) {
	var e ValidationEvidence
	if err := json.Unmarshal(predicate, &e); err != nil {
		return ValidationEvidence{}, fmt.Errorf("validate record: %w", err)
	}
	if e.App == "" || e.Digest == "" {
		return ValidationEvidence{}, fmt.Errorf("validate record: app and digest are required")
	}
	return e, nil
}

// Proves says why e does not show app/digest passed validation, or nil.
func (e ValidationEvidence) Proves(app, digest string) error {
	switch {
	case e.App != app:
		return fmt.Errorf("the validate record is about app %s, not %s", e.App, app)
	case e.Digest != digest:
		return fmt.Errorf("the validate record is about %s, not %s", e.Digest, digest)
	case !e.Passed || e.Errors > 0:
		return fmt.Errorf("validate failed it at %s with %d error(s)", e.ValidatedAt.Format(time.RFC3339), e.Errors)
	case e.Rules == 0:
		return fmt.Errorf("the validate record checked no rules")
	}
	return nil
}

// Validated is one app's verdict as validate --attest recorded it.
type Validated struct {
	Env, App string
	Image    Ref
	Passed   bool
	// Attestation names the signed record attached to the digest.
	Attestation string
}

// Encode writes v into r. A run over several apps encodes one Validated
// per app: outputs.validate-attestation lists their attestations,
// comma-separated in the order encoded.
func (v Validated) Encode(r *report.Result) {
	if v.Attestation == "" {
		return
	}
	o := outputs(r)
	if prev := o[OutValidateAttestation]; prev != "" {
		v.Attestation = prev + "," + v.Attestation
	}
	o.set(OutValidateAttestation, v.Attestation)
}
