package release

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// SmokePredicateType names stepper's smoke-test evidence, an in-toto
// predicate signed and attached to the image digest.
const SmokePredicateType = "https://github.com/stepper-cd/stepper/attestations/smoke-test/v1"

// Check kinds a smoke test runs. The platform's standard checks are the
// HTTP ones: a rollout alone proves the pods started, not that the app
// answers.
const (
	CheckRollout = "rollout"
	CheckHealth  = "health"
	CheckHTTP    = "http"
	CheckB3      = "b3"
	CheckSoak    = "soak"
)

// SmokeEvidence is the predicate of "smoke-tested in Environment": which
// release was tested (app, digest, chart version, the desired-state commit
// that was live), when, and which checks ran.
type SmokeEvidence struct {
	Environment  string `json:"environment"`
	App          string `json:"app"`
	Namespace    string `json:"namespace,omitempty"`
	Image        string `json:"image,omitempty"`
	Digest       string `json:"digest"`
	ChartVersion string `json:"chartVersion,omitempty"`
	// DesiredStateCommit is the environment's desired-state commit that
	// deployed what was tested, when known.
	DesiredStateCommit string        `json:"desiredStateCommit,omitempty"`
	TestedAt           time.Time     `json:"testedAt"`
	Checks             []CheckRecord `json:"checks"`
	PipelineURL        string        `json:"pipelineUrl,omitempty"`
	StepperVersion     string        `json:"stepperVersion,omitempty"`
}

// CheckRecord is one check of the evidence.
type CheckRecord struct {
	Name     string  `json:"name"`
	Kind     string  `json:"kind"`
	Passed   bool    `json:"passed"`
	Duration float64 `json:"durationSeconds"`
}

// Kinds are the kinds of the checks that ran, sorted, each once.
func (e SmokeEvidence) Kinds() []string {
	var k []string
	for _, c := range e.Checks {
		if !slices.Contains(k, c.Kind) {
			k = append(k, c.Kind)
		}
	}
	slices.Sort(k)
	return k
}

// RanHTTPChecks reports whether any of the platform's HTTP checks (health
// endpoints, --check, B3) ran.
func (e SmokeEvidence) RanHTTPChecks() bool {
	return slices.ContainsFunc(e.Checks, func(c CheckRecord) bool {
		return c.Kind == CheckHealth || c.Kind == CheckHTTP || c.Kind == CheckB3
	})
}

// Want is what a promotion asks of evidence: smoke-tested in Env, for App
// and Digest, after the release's last deploy there (After, and, when
// known, the desired-state commit of that deploy).
type Want struct {
	Env, App, Digest   string
	After              time.Time
	DesiredStateCommit string
}

// Proves says why e does not prove w, or nil when it does.
func (e SmokeEvidence) Proves(w Want) error {
	switch {
	case e.Environment != w.Env:
		return fmt.Errorf("the evidence is of %s, not %s", e.Environment, w.Env)
	case e.App != w.App:
		return fmt.Errorf("the evidence is about app %s, not %s", e.App, w.App)
	case e.Digest != w.Digest:
		return fmt.Errorf("the evidence is about %s, not %s", e.Digest, w.Digest)
	case !w.After.IsZero() && e.TestedAt.Before(w.After):
		return fmt.Errorf("the test ran at %s, before the last deploy to %s at %s", e.TestedAt.Format(time.RFC3339), w.Env, w.After.Format(time.RFC3339))
	case w.DesiredStateCommit != "" && e.DesiredStateCommit != "" && e.DesiredStateCommit != w.DesiredStateCommit:
		return fmt.Errorf("the test ran against desired-state commit %s, not %s", short(e.DesiredStateCommit), short(w.DesiredStateCommit))
	}
	for _, c := range e.Checks {
		if !c.Passed {
			return fmt.Errorf("check %q failed", c.Name)
		}
	}
	if len(e.Checks) == 0 {
		return fmt.Errorf("the evidence records no checks")
	}
	return nil
}

// DecodeSmokeEvidence reads the predicate of a smoke-test statement.
func DecodeSmokeEvidence(predicate []byte) (SmokeEvidence, error) {
	var e SmokeEvidence
	if err := json.Unmarshal(predicate, &e); err != nil {
		return SmokeEvidence{}, fmt.Errorf("smoke-test evidence: %w", err)
	}
	if e.Environment == "" || e.App == "" || e.Digest == "" {
		return SmokeEvidence{}, fmt.Errorf("smoke-test evidence: environment, app and digest are required")
	}
	return e, nil
}
