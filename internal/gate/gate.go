// Package gate checks what a release must show to enter an environment:
// its signature, a passing validate attestation, a smoke-test attestation
// from the environment before, and that a rollback stays possible. promote
// checks the gates before it writes anything; the apply job checks the
// evidence again before it installs, so a release pushed into a desired
// state by hand does not skip them.
//
// Every check asks the registry and the chart repository now: nothing is
// taken from a result file, which anyone who runs a job can write.
package gate

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/stepper-cd/stepper/internal/config"
	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/release"
	"github.com/stepper-cd/stepper/internal/signing"
)

// Signatures verifies an image's signature with the approved keys.
type Signatures interface {
	Verify(ctx context.Context, img name.Digest) (*signing.Verified, error)
}

// Attestations lists the attestations of a predicate type about an image
// that verify with the keys evidence must be signed with.
type Attestations interface {
	Attestations(ctx context.Context, img name.Digest, predicateType string) ([]signing.VerifiedStatement, error)
}

// Registry tells whether an image is still in the registry: nil when it
// is, an error of class Failed when it is not, another error when the
// registry cannot say.
type Registry interface {
	Exists(ctx context.Context, img name.Digest) error
}

// Charts tells whether a chart version can still be installed: nil when it
// can, an error of class Failed when the repository no longer has it.
type Charts interface {
	Available(ctx context.Context, repo, chart, version string) error
}

// Checker checks gates against the registry and the chart repositories.
type Checker struct {
	Signatures   Signatures
	Attestations Attestations
	Registry     Registry
	Charts       Charts
	// Now is the clock for ages and soaks; nil means time.Now.
	Now func() time.Time
}

// Release is one app's release as a desired state names it.
type Release struct {
	App   string
	Image release.Ref
	// ChartRepo is the chart repository URL; empty for a chart kept with
	// the desired state, which is always available with it.
	ChartRepo, Chart, ChartVersion string
}

// Want is what one app must show to enter an environment.
type Want struct {
	Release
	// Env is the environment entered, and Gates its gates.
	Env   string
	Gates config.Gates
	// From are the environments whose smoke test counts: the previous one
	// of the chain for promote; for the apply job, the previous one of
	// every chain the environment is in.
	From []string
	// Deployed is when the release landed in From (the last deploy of the
	// app there), and DeployCommit that commit; zero when unknown.
	Deployed     time.Time
	DeployCommit string
	// Hotfix uses the environment's hotfix soak.
	Hotfix bool
	// Current is what the environment runs now, which a rollback returns
	// to; nil when the app is new there.
	Current *Release
	// Only limits the check to these gates (the apply job checks the
	// evidence, not the rollback target); all when empty.
	Only []config.Gate
}

// Result is one gate's verdict about one app.
type Result struct {
	Gate config.Gate `json:"gate"`
	App  string      `json:"app"`
	// Passed, or Off when the environment switched the gate off.
	Passed bool `json:"passed"`
	Off    bool `json:"off,omitempty"`
	// Wanted is what the gate looked for, Found what it found.
	Wanted string `json:"wanted"`
	Found  string `json:"found"`
	// Evidence is the signature or attestation that passed it.
	Evidence string `json:"evidence,omitempty"`
	// At is when the evidence was made (the smoke test's time).
	At time.Time `json:"at,omitzero"`
}

func (r Result) String() string {
	verdict := "passed"
	switch {
	case r.Off:
		verdict = "off"
	case !r.Passed:
		verdict = "FAILED"
	}
	s := fmt.Sprintf("%-12s %-20s %-6s wanted %s", r.Gate, r.App, verdict, r.Wanted)
	if r.Found != "" {
		s += "; found " + r.Found
	}
	return s
}

// Check runs every gate of w and returns each verdict, in a fixed order.
// A registry or repository that cannot be reached is an error, never a
// verdict: a gate only fails on what it saw.
func (c *Checker) Check(ctx context.Context, w Want) ([]Result, error) {
	checks := []struct {
		gate config.Gate
		run  func(context.Context, Want) (Result, error)
	}{
		{config.GateSigned, c.signed},
		{config.GateValidated, c.validated},
		{config.GateSmokeTested, c.smokeTested},
		{config.GateRollback, c.rollback},
	}
	var out []Result
	for _, ch := range checks {
		if len(w.Only) > 0 && !slices.Contains(w.Only, ch.gate) {
			continue
		}
		if !w.Gates.On(ch.gate) {
			out = append(out, Result{Gate: ch.gate, App: w.App, Off: true, Wanted: "nothing: switched off in " + w.Env})
			continue
		}
		r, err := ch.run(ctx, w)
		if err != nil {
			return out, err
		}
		r.Gate, r.App = ch.gate, w.App
		out = append(out, r)
	}
	return out, nil
}

// Refusal is the error for the failed gates among results, or nil.
func Refusal(what string, results []Result) error {
	var failed []string
	for _, r := range results {
		if !r.Off && !r.Passed {
			failed = append(failed, fmt.Sprintf("gate %s for %s: wanted %s; found %s", r.Gate, r.App, r.Wanted, r.Found))
		}
	}
	if len(failed) == 0 {
		return nil
	}
	return exit.Failedf("%s refused:\n  %s", what, strings.Join(failed, "\n  "))
}

func (c *Checker) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// signed verifies the digest now, with the approved keys.
func (c *Checker) signed(ctx context.Context, w Want) (Result, error) {
	r := Result{Wanted: w.Image.Pinned() + " signed by an approved key"}
	d, err := w.Image.NameDigest()
	if err != nil {
		r.Found = err.Error()
		return r, nil
	}
	v, err := c.Signatures.Verify(ctx, d)
	if err != nil {
		if exit.ClassOf(err) != exit.Failed {
			return r, err
		}
		r.Found = err.Error()
		return r, nil
	}
	r.Passed, r.Found, r.Evidence = true, "signed by key "+v.KeyID, v.Ref
	return r, nil
}

// validated looks for a passing validate attestation of this app's digest.
func (c *Checker) validated(ctx context.Context, w Want) (Result, error) {
	r := Result{Wanted: "a signed, passing validate attestation for " + w.App + " at " + w.Image.ShortDigest()}
	list, found, err := c.statements(ctx, w, release.ValidatePredicateType)
	if err != nil || found != "" {
		r.Found = found
		return r, err
	}
	var why []string
	for _, s := range list {
		e, err := release.DecodeValidationEvidence(s.Statement.Predicate)
		if err != nil {
			why = append(why, err.Error())
			continue
		}
		if err := e.Proves(w.App, w.Image.Digest); err != nil {
			why = append(why, err.Error())
			continue
		}
		r.Passed, r.Found, r.Evidence, r.At = true, "validated at "+e.ValidatedAt.UTC().Format(time.RFC3339)+" (key "+s.KeyID+")", s.Ref, e.ValidatedAt
		return r, nil
	}
	r.Found = fmt.Sprintf("%d validate attestation(s), none that passes: %s", len(list), strings.Join(uniq(why), "; "))
	return r, nil
}

// smokeTested looks for a smoke-test attestation from one of w.From for
// this app, digest and chart version, newer than the app's last deploy
// there, not older than maxAge, after the soak.
func (c *Checker) smokeTested(ctx context.Context, w Want) (Result, error) {
	r := Result{Wanted: fmt.Sprintf("a signed smoke test of %s at %s in %s", w.App, w.Image.ShortDigest(), strings.Join(w.From, " or "))}
	if w.ChartVersion != "" {
		r.Wanted += " with chart " + w.ChartVersion
	}
	if len(w.From) == 0 {
		r.Passed, r.Found = true, w.Env+" is the first environment: nothing before it to have tested in"
		return r, nil
	}
	list, found, err := c.statements(ctx, w, release.SmokePredicateType)
	if err != nil || found != "" {
		r.Found = found
		return r, err
	}
	now := c.now()
	maxAge, soak := w.Gates.MaxAgeDuration(), w.Gates.SoakDuration(w.Hotfix)
	var why []string
	for _, s := range list {
		e, err := release.DecodeSmokeEvidence(s.Statement.Predicate)
		if err != nil {
			why = append(why, err.Error())
			continue
		}
		if !slices.Contains(w.From, e.Environment) {
			why = append(why, "evidence of "+e.Environment)
			continue
		}
		want := release.Want{Env: e.Environment, App: w.App, Digest: w.Image.Digest, After: w.Deployed, DesiredStateCommit: w.DeployCommit}
		if err := e.Proves(want); err != nil {
			why = append(why, err.Error())
			continue
		}
		if w.ChartVersion != "" && e.ChartVersion != "" && e.ChartVersion != w.ChartVersion {
			why = append(why, "the test ran with chart "+e.ChartVersion+", not "+w.ChartVersion)
			continue
		}
		if age := now.Sub(e.TestedAt); maxAge > 0 && age > maxAge {
			why = append(why, fmt.Sprintf("the test ran %s ago, more than gates.maxAge %s", age.Round(time.Second), maxAge))
			continue
		}
		if soaked := now.Sub(w.Deployed); soak > 0 && !w.Deployed.IsZero() && soaked < soak {
			r.Found = fmt.Sprintf("smoke-tested, but it has run in %s for %s of the %s soak; promote after %s", e.Environment, soaked.Round(time.Second), soak, w.Deployed.Add(soak).UTC().Format(time.RFC3339))
			return r, nil
		}
		r.Passed, r.Evidence, r.At = true, s.Ref, e.TestedAt
		r.Found = fmt.Sprintf("tested in %s at %s (key %s, checks %s)", e.Environment, e.TestedAt.UTC().Format(time.RFC3339), s.KeyID, strings.Join(e.Kinds(), ","))
		return r, nil
	}
	r.Found = fmt.Sprintf("%d smoke-test attestation(s), none that fits: %s", len(list), strings.Join(uniq(why), "; "))
	return r, nil
}

// statements lists the verified attestations of a type; found is what to
// report when there are none.
func (c *Checker) statements(ctx context.Context, w Want, predicateType string) ([]signing.VerifiedStatement, string, error) {
	d, err := w.Image.NameDigest()
	if err != nil {
		return nil, err.Error(), nil
	}
	list, err := c.Attestations.Attestations(ctx, d, predicateType)
	if err != nil {
		if exit.ClassOf(err) != exit.Failed {
			return nil, "", err
		}
		return nil, err.Error(), nil
	}
	if len(list) == 0 {
		return nil, "no attestation", nil
	}
	return list, "", nil
}

// rollback checks that what the environment runs now, which a rollback
// returns to, and the release entering can both still be installed: the
// digest is in the registry and signed, the chart version in its
// repository (seed 002: rollback must always be possible).
func (c *Checker) rollback(ctx context.Context, w Want) (Result, error) {
	r := Result{Wanted: "the release entering and the one " + w.Env + " runs now (the rollback target) still resolvable"}
	rels := []Release{w.Release}
	if w.Current != nil && !w.Current.Image.IsZero() {
		rels = append(rels, *w.Current)
		r.Wanted = fmt.Sprintf("%s and the rollback target %s still resolvable (image present and signed, chart available)", w.Image.ShortDigest(), w.Current.Image.ShortDigest())
	}
	var found []string
	for i, rel := range rels {
		role := "the release entering"
		if i == 1 {
			role = "the rollback target"
		}
		problem, err := c.resolvable(ctx, rel, i == 1)
		if err != nil {
			return r, err
		}
		if problem != "" {
			found = append(found, role+" "+problem)
		}
	}
	if len(found) > 0 {
		r.Found = strings.Join(found, "; ")
		return r, nil
	}
	r.Passed, r.Found = true, "both resolvable"
	if len(rels) == 1 {
		r.Found = "resolvable; the app is new in " + w.Env
	}
	return r, nil
}

// resolvable says what keeps rel from being installed again, or "".
func (c *Checker) resolvable(ctx context.Context, rel Release, verify bool) (string, error) {
	if rel.Image.Digest == "" {
		if rel.Image.Tag != "" {
			return rel.Image.String() + " does not resolve to an image in the registry", nil
		}
		return rel.Image.String() + " is not pinned by digest, so what it names can change", nil
	}
	d, err := rel.Image.NameDigest()
	if err != nil {
		return err.Error(), nil
	}
	if err := c.Registry.Exists(ctx, d); err != nil {
		if exit.ClassOf(err) != exit.Failed {
			return "", err
		}
		return rel.Image.Pinned() + " is gone from the registry: " + err.Error(), nil
	}
	if verify {
		if _, err := c.Signatures.Verify(ctx, d); err != nil {
			if exit.ClassOf(err) != exit.Failed {
				return "", err
			}
			return rel.Image.Pinned() + " no longer verifies: " + err.Error(), nil
		}
	}
	if rel.ChartRepo != "" && rel.ChartVersion != "" {
		if err := c.Charts.Available(ctx, rel.ChartRepo, rel.Chart, rel.ChartVersion); err != nil {
			if exit.ClassOf(err) != exit.Failed {
				return "", err
			}
			return "chart " + rel.Chart + " " + rel.ChartVersion + " is not available: " + err.Error(), nil
		}
	}
	return "", nil
}

func uniq(s []string) []string {
	slices.Sort(s)
	return slices.Compact(s)
}

// Checks is what the steps use of a Checker; their tests give their own.
type Checks interface {
	Check(ctx context.Context, w Want) ([]Result, error)
}
