package validate

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/logging"
	"github.com/stepper-cd/stepper/internal/release"
	"github.com/stepper-cd/stepper/internal/signing"
)

// attest signs the verdict on t (what check found, res) as a
// release.ValidationEvidence and attaches it to the image digest, when an
// Attester is set and t's image is pinned by digest. A failing verdict is
// attached too, so the record is honest; promote accepts only a passing
// one. It returns nil when nothing was attached.
func (s *Step) attest(ctx context.Context, job Job, t Target, res *checked, policyDigest string) (*release.Validated, error) {
	if s.Attester == nil || t.Image == "" {
		return nil, nil
	}
	log := logging.From(ctx).With().Str(logging.Env, t.Env).Str(logging.App, t.App).Str(logging.Image, t.Image).Logger()
	img, err := release.ParseRef(t.Image)
	if err != nil || img.Digest == "" {
		// A tag can move after validate; a verdict about it proves nothing.
		log.Warn().Msg("no validate record attached: the image is not pinned by digest (IMAGE@sha256:...)")
		return nil, nil
	}
	errs, warns, _ := count(res.findings)
	ev := release.ValidationEvidence{
		App: t.App, Environment: t.Env, Image: t.Image, Digest: res.digest.DigestStr(), ChartVersion: res.chartVersion,
		Passed: errs == 0, Errors: errs, Warnings: warns, Rules: len(res.rules), Policy: policyDigest,
		ValidatedAt: s.now().UTC(), PipelineURL: job.PipelineURL, StepperVersion: s.Version,
	}
	predicate, err := json.Marshal(ev)
	if err != nil {
		return nil, err
	}
	algorithm, hex, _ := strings.Cut(ev.Digest, ":")
	st := signing.Statement{Type: signing.StatementType, PredicateType: release.ValidatePredicateType, Predicate: predicate,
		Subject: []signing.Subject{{Name: res.digest.Context().Name(), Digest: map[string]string{algorithm: hex}}}}
	ref, err := s.Attester.Attest(ctx, res.digest, st)
	if err != nil {
		return nil, fmt.Errorf("attach the validate record to %s: %w", res.digest, err)
	}
	log.Info().Str(logging.Digest, ev.Digest).Bool("passed", ev.Passed).Str("attestation", ref).Msg("attached the signed validate record")
	return &release.Validated{Env: t.Env, App: t.App, Image: img, Passed: ev.Passed, Attestation: ref}, nil
}

// prepareAttest runs before any check, so that a verdict that could not be
// attached stops validate before it works: every target names its app,
// whom the verdict is about. It returns "sha256:<hex>" of the policy file
// for the verdicts; "" with no Attester or with the built-in rules. The
// file is read again for it, right before the checks start.
func (s *Step) prepareAttest(job Job) (string, error) {
	if s.Attester == nil {
		return "", nil
	}
	for _, t := range job.Targets {
		if t.App == "" && t.Image != "" {
			return "", exit.Usagef("--attest records the verdict on %s for an app: give --app (in a CI job, the project's name is the default)", t.Image)
		}
	}
	if s.Policy == nil || s.Policy.File == "" {
		return "", nil
	}
	b, err := os.ReadFile(s.Policy.File)
	if err != nil {
		return "", exit.Usagef("policy %s: read it to record its digest in the validate records: %v", s.Policy.File, err)
	}
	return fmt.Sprintf("sha256:%x", sha256.Sum256(b)), nil
}
