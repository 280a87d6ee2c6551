package smoketest

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/release"
	"github.com/stepper-cd/stepper/internal/report"
	"github.com/stepper-cd/stepper/internal/signing"
)

// evidence signs "smoke-tested in ENV" about the image digest: a
// release.SmokeEvidence naming the digest, the chart version and the
// desired-state commit when known, and the kind of every check.
func (s *Step) evidence(ctx context.Context, job Job, out *Outcome) (string, error) {
	if s.Attester == nil {
		return "", exit.Usagef("smoke-test evidence is signed with signing.key: set it, or pass --no-evidence for a local run")
	}
	if out.Image.IsZero() {
		return "", exit.Usagef("no image to attach the evidence to: pass --image or --from-result")
	}
	digest, err := out.Image.NameDigest()
	if err != nil {
		return "", exit.Usagef("image %q: evidence attaches to a digest (IMAGE@sha256:...)", out.Image)
	}
	now := time.Now().UTC()
	if s.Now != nil {
		now = s.Now().UTC()
	}
	ev := release.SmokeEvidence{
		Environment: job.Env, App: job.App, Namespace: job.Namespace,
		Image: out.Image.String(), Digest: out.Image.Digest, ChartVersion: out.ChartVersion,
		DesiredStateCommit: out.DesiredStateCommit, TestedAt: now,
		PipelineURL: job.PipelineURL, StepperVersion: s.Version,
	}
	for _, c := range out.Checks {
		ev.Checks = append(ev.Checks, release.CheckRecord{Name: c.Name, Kind: c.Kind, Passed: c.Passed(), Duration: time.Duration(c.Duration).Seconds()})
	}
	// The guard of Run refuses early when there is no URL; this one holds
	// whatever made the HTTP checks not run.
	if !ev.RanHTTPChecks() && !job.AllowRolloutOnly {
		return "", rolloutOnly(job)
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return "", err
	}
	st := signing.Statement{
		Type:          signing.StatementType,
		Subject:       []signing.Subject{{Name: digest.Context().Name(), Digest: map[string]string{"sha256": strings.TrimPrefix(digest.DigestStr(), "sha256:")}}},
		PredicateType: release.SmokePredicateType,
		Predicate:     b,
	}
	return s.Attester.Attest(ctx, digest, st)
}

// rolloutOnly is the refusal to sign evidence when none of the platform's
// HTTP checks ran: a rollout proves the pods started, not that the app
// answers.
func rolloutOnly(job Job) error {
	return exit.Usagef("smoke-test %s/%s: none of the HTTP checks would run (no --url, and no host name for the app in the desired state), and a rollout alone proves the pods started, not that the app answers: give --url, or set smokeTest.allowRolloutOnly: true to sign evidence of the rollout alone (or pass --no-evidence)", job.Env, job.App)
}

// Passed reports whether the check succeeded.
func (c Check) Passed() bool { return c.Status == report.Succeeded }
