package gate_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/stepper-cd/stepper/internal/config"
	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/gate"
	"github.com/stepper-cd/stepper/internal/release"
	"github.com/stepper-cd/stepper/internal/signing"
)

func digest(c byte) string { return "sha256:" + strings.Repeat(string(c), 64) }

const repo = "registry.example/vendor/api"

var (
	digestA, digestB = digest('a'), digest('b')
	now              = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
)

// fakeSignatures answers Verify from a table by digest; a digest not in
// it is unsigned.
type fakeSignatures struct {
	keys  map[string]string // digest → key ID
	errs  map[string]error  // digest → error
	calls []string
}

func (f *fakeSignatures) Verify(_ context.Context, img name.Digest) (*signing.Verified, error) {
	f.calls = append(f.calls, img.DigestStr())
	if err := f.errs[img.DigestStr()]; err != nil {
		return nil, err
	}
	if k, ok := f.keys[img.DigestStr()]; ok {
		return &signing.Verified{KeyID: k, Ref: img.Context().String() + ":" + strings.Replace(img.DigestStr(), ":", "-", 1) + ".sig"}, nil
	}
	return nil, unsigned(img.DigestStr())
}

func unsigned(d string) error {
	return exit.Mark(exit.Failed, fmt.Errorf("%w: no signature of %s by an approved key", signing.ErrUnsigned, d))
}

// fakeAttestations lists statements by predicate type, or fails with err.
type fakeAttestations struct {
	list  map[string][]signing.VerifiedStatement
	err   error
	calls []string
}

func (f *fakeAttestations) Attestations(_ context.Context, img name.Digest, predicateType string) ([]signing.VerifiedStatement, error) {
	f.calls = append(f.calls, predicateType)
	if f.err != nil {
		return nil, f.err
	}
	return f.list[predicateType], nil
}

// fakeRegistry holds every image but those errs names.
type fakeRegistry struct {
	errs  map[string]error // digest → error
	calls []string
}

func (f *fakeRegistry) Exists(_ context.Context, img name.Digest) error {
	f.calls = append(f.calls, img.DigestStr())
	return f.errs[img.DigestStr()]
}

// fakeCharts has every chart version but those errs names by "chart version".
type fakeCharts struct {
	errs  map[string]error
	calls []string
}

func (f *fakeCharts) Available(_ context.Context, repo, chart, version string) error {
	f.calls = append(f.calls, repo+" "+chart+" "+version)
	return f.errs[chart+" "+version]
}

type fakes struct {
	sigs   *fakeSignatures
	atts   *fakeAttestations
	reg    *fakeRegistry
	charts *fakeCharts
}

func newFakes() *fakes {
	return &fakes{
		sigs:   &fakeSignatures{keys: map[string]string{digestA: "key-1", digestB: "key-1"}, errs: map[string]error{}},
		atts:   &fakeAttestations{list: map[string][]signing.VerifiedStatement{}},
		reg:    &fakeRegistry{errs: map[string]error{}},
		charts: &fakeCharts{errs: map[string]error{}},
	}
}

func (f *fakes) checker() *gate.Checker {
	return &gate.Checker{Signatures: f.sigs, Attestations: f.atts, Registry: f.reg, Charts: f.charts, Now: func() time.Time { return now }}
}

func (f *fakes) calls() int {
	return len(f.sigs.calls) + len(f.atts.calls) + len(f.reg.calls) + len(f.charts.calls)
}

func statement(t *testing.T, predicateType, ref string, predicate any) signing.VerifiedStatement {
	t.Helper()
	raw, err := json.Marshal(predicate)
	if err != nil {
		t.Fatal(err)
	}
	return signing.VerifiedStatement{
		Verified:  signing.Verified{KeyID: "key-evidence", Ref: ref},
		Statement: signing.Statement{PredicateType: predicateType, Predicate: raw},
	}
}

// smoke is evidence that fits want(): api at digestA in staging with
// chart 1.2.0, tested an hour after its deploy, two days ago.
func smoke() release.SmokeEvidence {
	return release.SmokeEvidence{
		Environment: "staging", App: "api", Digest: digestA, ChartVersion: "1.2.0",
		TestedAt: now.Add(-47 * time.Hour),
		Checks:   []release.CheckRecord{{Name: "rollout", Kind: release.CheckRollout, Passed: true}, {Name: "health", Kind: release.CheckHealth, Passed: true}},
	}
}

func validation() release.ValidationEvidence {
	return release.ValidationEvidence{App: "api", Digest: digestA, Passed: true, Rules: 12, ValidatedAt: now.Add(-72 * time.Hour)}
}

// want is api at digestA entering prod from staging, where it landed two
// days ago; prod runs digestB.
func want() gate.Want {
	return gate.Want{
		Release:  gate.Release{App: "api", Image: release.Ref{Repository: repo, Tag: "1.2", Digest: digestA}, ChartRepo: "https://charts.example", Chart: "service", ChartVersion: "1.2.0"},
		Env:      "prod",
		Gates:    config.Gates{MaxAge: "168h", Soak: "24h", HotfixSoak: "1h"},
		From:     []string{"staging"},
		Current:  &gate.Release{App: "api", Image: release.Ref{Repository: repo, Tag: "1.1", Digest: digestB}, ChartRepo: "https://charts.example", Chart: "service", ChartVersion: "1.1.0"},
		Deployed: now.Add(-48 * time.Hour),
	}
}

func only(w gate.Want, g config.Gate) gate.Want { w.Only = []config.Gate{g}; return w }

// one runs a single gate and returns its verdict.
func one(t *testing.T, f *fakes, w gate.Want, g config.Gate) gate.Result {
	t.Helper()
	got, err := f.checker().Check(t.Context(), only(w, g))
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if len(got) != 1 || got[0].Gate != g || got[0].App != w.App {
		t.Fatalf("Check returned %+v, want one %s verdict for %s", got, g, w.App)
	}
	if got[0].Wanted == "" || (!got[0].Off && got[0].Found == "") {
		t.Errorf("verdict without Wanted or Found: %+v", got[0])
	}
	return got[0]
}

// verdict asserts a result's pass and that Found holds each of found.
func verdict(t *testing.T, r gate.Result, passed bool, found ...string) {
	t.Helper()
	if r.Passed != passed {
		t.Errorf("%s passed=%v, want %v\n  %s", r.Gate, r.Passed, passed, r)
	}
	for _, s := range found {
		if !strings.Contains(r.Found, s) {
			t.Errorf("%s found %q, want it to say %q", r.Gate, r.Found, s)
		}
	}
	if !passed && r.Evidence != "" {
		t.Errorf("a failed verdict names evidence %q", r.Evidence)
	}
}

func TestSigned(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		passed bool
		found  []string
	}{
		{name: "signed by an approved key", passed: true, found: []string{"signed by key key-1"}},
		{name: "unsigned", err: unsigned(digestA), found: []string{"unsigned", digestA}},
		{name: "revoked key", err: exit.Mark(exit.Failed, fmt.Errorf("%w: key-0", signing.ErrRevokedKey)), found: []string{"revoked"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakes()
			if tc.err != nil {
				f.sigs.errs[digestA] = tc.err
			}
			r := one(t, f, want(), config.GateSigned)
			verdict(t, r, tc.passed, tc.found...)
			if !strings.Contains(r.Wanted, repo+"@"+digestA) || !strings.Contains(r.Wanted, "approved key") {
				t.Errorf("wanted %q: say which digest and by whom", r.Wanted)
			}
			if tc.passed && !strings.HasSuffix(r.Evidence, ".sig") {
				t.Errorf("evidence %q, want the signature's ref", r.Evidence)
			}
		})
	}
}

// A registry that cannot answer is an error, never a verdict: "unsigned"
// from a 429 is how cosign let releases through (RELIABILITY.md).
func TestSignedInfraIsError(t *testing.T) {
	f := newFakes()
	f.sigs.errs[digestA] = exit.Infraf("registry.example: 503 Service Unavailable")
	got, err := f.checker().Check(t.Context(), want())
	if err == nil || exit.ClassOf(err) != exit.Infra {
		t.Fatalf("err = %v, want the infrastructure error", err)
	}
	if len(got) != 0 {
		t.Fatalf("verdicts %+v besides the error", got)
	}
	if len(f.atts.calls) != 0 {
		t.Error("gates after the failed one still ran")
	}
}

// An image written without a digest fails the gate; it is not verified by tag.
func TestSignedUnpinned(t *testing.T) {
	f := newFakes()
	w := want()
	w.Image.Digest = ""
	verdict(t, one(t, f, w, config.GateSigned), false, "no digest")
	if len(f.sigs.calls) != 0 {
		t.Errorf("a tag was verified: %v", f.sigs.calls)
	}
}

func TestValidated(t *testing.T) {
	pass := validation()
	failing := validation()
	failing.Passed, failing.Errors = false, 3
	otherApp := validation()
	otherApp.App = "web"
	otherDigest := validation()
	otherDigest.Digest = digestB
	noRules := validation()
	noRules.Rules = 0
	for _, tc := range []struct {
		name     string
		list     []any
		err      error
		passed   bool
		found    []string
		evidence string
	}{
		{name: "passing", list: []any{pass}, passed: true, found: []string{"validated at 2025-05-29T12:00:00Z", "key-evidence"}, evidence: "att-0"},
		{name: "passed false", list: []any{failing}, found: []string{"none that passes", "validate failed it", "3 error(s)"}},
		{name: "another app", list: []any{otherApp}, found: []string{"about app web, not api"}},
		{name: "another digest", list: []any{otherDigest}, found: []string{"about " + digestB + ", not " + digestA}},
		{name: "no rules checked", list: []any{noRules}, found: []string{"checked no rules"}},
		{name: "not a validate record", list: []any{map[string]string{"verdict": "ok"}}, found: []string{"app and digest are required"}},
		{name: "none", found: []string{"no attestation"}},
		{name: "unsigned", err: unsigned(digestA), found: []string{"unsigned"}},
		{name: "a failing then a passing one", list: []any{failing, pass}, passed: true, evidence: "att-1"},
		{name: "reasons listed once", list: []any{otherApp, otherApp}, found: []string{"2 validate attestation(s), none that passes: the validate record is about app web, not api"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakes()
			for i, p := range tc.list {
				f.atts.list[release.ValidatePredicateType] = append(f.atts.list[release.ValidatePredicateType], statement(t, release.ValidatePredicateType, fmt.Sprintf("att-%d", i), p))
			}
			f.atts.err = tc.err
			r := one(t, f, want(), config.GateValidated)
			verdict(t, r, tc.passed, tc.found...)
			if r.Evidence != tc.evidence {
				t.Errorf("evidence %q, want %q", r.Evidence, tc.evidence)
			}
			if tc.name == "reasons listed once" && strings.Count(r.Found, "about app web") != 1 {
				t.Errorf("found %q repeats a reason", r.Found)
			}
			if !strings.Contains(r.Wanted, "api at aaaaaaaaaaaa") {
				t.Errorf("wanted %q: say which app and digest", r.Wanted)
			}
		})
	}
}

func TestValidatedInfraIsError(t *testing.T) {
	f := newFakes()
	f.atts.err = errors.New("dial tcp: connection refused")
	if _, err := f.checker().Check(t.Context(), only(want(), config.GateValidated)); err == nil || exit.ClassOf(err) != exit.Infra {
		t.Fatalf("err = %v, want the infrastructure error", err)
	}
}

func TestSmokeTested(t *testing.T) {
	type evidence struct {
		ref string
		e   any
	}
	with := func(edit func(*release.SmokeEvidence)) any {
		e := smoke()
		edit(&e)
		return e
	}
	for _, tc := range []struct {
		name     string
		want     func(*gate.Want)
		list     []evidence
		passed   bool
		found    []string
		evidence string
	}{
		{
			name: "right env, app and digest", list: []evidence{{"smoke-1", smoke()}},
			passed: true, evidence: "smoke-1", found: []string{"tested in staging at 2025-05-30T13:00:00Z", "key-evidence", "checks health,rollout"},
		},
		{
			name: "another environment", list: []evidence{{"smoke-1", with(func(e *release.SmokeEvidence) { e.Environment = "dev" })}},
			found: []string{"none that fits", "evidence of dev"},
		},
		{
			name: "another app", list: []evidence{{"smoke-1", with(func(e *release.SmokeEvidence) { e.App = "web" })}},
			found: []string{"about app web, not api"},
		},
		{
			name: "another digest", list: []evidence{{"smoke-1", with(func(e *release.SmokeEvidence) { e.Digest = digestB })}},
			found: []string{"about " + digestB},
		},
		{
			name: "stale: tested before the last deploy", list: []evidence{{"smoke-1", with(func(e *release.SmokeEvidence) { e.TestedAt = now.Add(-49 * time.Hour) })}},
			found: []string{"before the last deploy to staging"},
		},
		{
			name: "another chart version", list: []evidence{{"smoke-1", with(func(e *release.SmokeEvidence) { e.ChartVersion = "1.1.0" })}},
			found: []string{"the test ran with chart 1.1.0, not 1.2.0"},
		},
		{
			name: "evidence without a chart version counts", list: []evidence{{"smoke-1", with(func(e *release.SmokeEvidence) { e.ChartVersion = "" })}},
			passed: true, evidence: "smoke-1",
		},
		{
			name:  "older than maxAge",
			want:  func(w *gate.Want) { w.Deployed = now.Add(-300 * time.Hour) },
			list:  []evidence{{"smoke-1", with(func(e *release.SmokeEvidence) { e.TestedAt = now.Add(-200 * time.Hour) })}},
			found: []string{"the test ran 200h0m0s ago, more than gates.maxAge 168h0m0s"},
		},
		{
			name:   "no maxAge: any age",
			want:   func(w *gate.Want) { w.Deployed, w.Gates.MaxAge = now.Add(-300*time.Hour), "" },
			list:   []evidence{{"smoke-1", with(func(e *release.SmokeEvidence) { e.TestedAt = now.Add(-200 * time.Hour) })}},
			passed: true, evidence: "smoke-1",
		},
		{
			name:  "within the soak",
			want:  func(w *gate.Want) { w.Deployed = now.Add(-2 * time.Hour) },
			list:  []evidence{{"smoke-1", with(func(e *release.SmokeEvidence) { e.TestedAt = now.Add(-time.Hour) })}},
			found: []string{"smoke-tested, but it has run in staging for 2h0m0s of the 24h0m0s soak", "promote after 2025-06-02T10:00:00Z"},
		},
		{
			name:   "hotfix: the shorter soak is over",
			want:   func(w *gate.Want) { w.Deployed, w.Hotfix = now.Add(-2*time.Hour), true },
			list:   []evidence{{"smoke-1", with(func(e *release.SmokeEvidence) { e.TestedAt = now.Add(-time.Hour) })}},
			passed: true, evidence: "smoke-1",
		},
		{
			name:  "hotfix: within even the shorter soak",
			want:  func(w *gate.Want) { w.Deployed, w.Hotfix = now.Add(-30*time.Minute), true },
			list:  []evidence{{"smoke-1", with(func(e *release.SmokeEvidence) { e.TestedAt = now.Add(-10 * time.Minute) })}},
			found: []string{"of the 1h0m0s soak", "promote after 2025-06-01T12:30:00Z"},
		},
		{
			name: "a failed check",
			list: []evidence{{"smoke-1", with(func(e *release.SmokeEvidence) {
				e.Checks = append(e.Checks, release.CheckRecord{Name: "GET /orders", Kind: release.CheckHTTP, Passed: false})
			})}},
			found: []string{`check "GET /orders" failed`},
		},
		{
			name: "no checks recorded", list: []evidence{{"smoke-1", with(func(e *release.SmokeEvidence) { e.Checks = nil })}},
			found: []string{"records no checks"},
		},
		{
			name:  "tested against another desired-state commit",
			want:  func(w *gate.Want) { w.DeployCommit = "1111111111111111" },
			list:  []evidence{{"smoke-1", with(func(e *release.SmokeEvidence) { e.DesiredStateCommit = "2222222222222222" })}},
			found: []string{"desired-state commit 222222222222, not 111111111111"},
		},
		{
			name: "not smoke-test evidence", list: []evidence{{"smoke-1", map[string]string{"environment": "staging"}}},
			found: []string{"environment, app and digest are required"},
		},
		{
			name: "none", found: []string{"no attestation"},
		},
		{
			name: "only the second of two fits",
			list: []evidence{
				{"smoke-dev", with(func(e *release.SmokeEvidence) { e.Environment = "dev" })},
				{"smoke-staging", smoke()},
			},
			passed: true, evidence: "smoke-staging",
		},
		{
			name:   "any of several From",
			want:   func(w *gate.Want) { w.From = []string{"staging-eu", "staging"} },
			list:   []evidence{{"smoke-1", smoke()}},
			passed: true, evidence: "smoke-1",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakes()
			for _, e := range tc.list {
				f.atts.list[release.SmokePredicateType] = append(f.atts.list[release.SmokePredicateType], statement(t, release.SmokePredicateType, e.ref, e.e))
			}
			w := want()
			if tc.want != nil {
				tc.want(&w)
			}
			r := one(t, f, w, config.GateSmokeTested)
			verdict(t, r, tc.passed, tc.found...)
			if r.Evidence != tc.evidence {
				t.Errorf("evidence %q, want %q", r.Evidence, tc.evidence)
			}
			if tc.passed && r.At.IsZero() {
				t.Error("a passing smoke test has no time")
			}
			for _, s := range []string{"api at aaaaaaaaaaaa", "in " + strings.Join(w.From, " or "), "with chart 1.2.0"} {
				if !strings.Contains(r.Wanted, s) {
					t.Errorf("wanted %q, want it to say %q", r.Wanted, s)
				}
			}
		})
	}
}

// The normal soak refuses what the hotfix soak lets through: the same
// evidence, only Hotfix differs.
func TestSmokeTestedHotfixSoakIsShorter(t *testing.T) {
	f := newFakes()
	f.atts.list[release.SmokePredicateType] = []signing.VerifiedStatement{statement(t, release.SmokePredicateType, "smoke-1", func() release.SmokeEvidence {
		e := smoke()
		e.TestedAt = now.Add(-time.Hour)
		return e
	}())}
	w := want()
	w.Deployed = now.Add(-3 * time.Hour)
	verdict(t, one(t, f, w, config.GateSmokeTested), false, "promote after")
	w.Hotfix = true
	verdict(t, one(t, f, w, config.GateSmokeTested), true)
	// Without a hotfixSoak, a hotfix soaks as long as any release.
	w.Gates.HotfixSoak = ""
	verdict(t, one(t, f, w, config.GateSmokeTested), false, "of the 24h0m0s soak")
}

// The first environment of a chain has nothing before it: the gate passes
// without asking the registry.
func TestSmokeTestedFirstEnvironment(t *testing.T) {
	f := newFakes()
	w := want()
	w.From = nil
	verdict(t, one(t, f, w, config.GateSmokeTested), true, "prod is the first environment")
	if len(f.atts.calls) != 0 {
		t.Errorf("attestations asked for: %v", f.atts.calls)
	}
}

func TestSmokeTestedInfraIsError(t *testing.T) {
	f := newFakes()
	f.atts.err = exit.Infraf("registry.example: 429 Too Many Requests")
	if _, err := f.checker().Check(t.Context(), only(want(), config.GateSmokeTested)); exit.ClassOf(err) != exit.Infra {
		t.Fatalf("err = %v, want the infrastructure error", err)
	}
}

func TestRollback(t *testing.T) {
	gone := exit.Failedf("MANIFEST_UNKNOWN: manifest unknown")
	notListed := exit.Failedf("chart service 1.1.0 is not in https://charts.example (it has 3 versions)")
	for _, tc := range []struct {
		name   string
		setup  func(*fakes, *gate.Want)
		passed bool
		found  []string
	}{
		{name: "both resolvable", passed: true, found: []string{"both resolvable"}},
		{
			name:  "rollback target gone from the registry",
			setup: func(f *fakes, _ *gate.Want) { f.reg.errs[digestB] = gone },
			found: []string{"the rollback target " + repo + "@" + digestB + " is gone from the registry: MANIFEST_UNKNOWN"},
		},
		{
			name:  "release entering gone from the registry",
			setup: func(f *fakes, _ *gate.Want) { f.reg.errs[digestA] = gone },
			found: []string{"the release entering " + repo + "@" + digestA + " is gone"},
		},
		{
			name:  "rollback target unsigned",
			setup: func(f *fakes, _ *gate.Want) { delete(f.sigs.keys, digestB) },
			found: []string{"the rollback target " + repo + "@" + digestB + " no longer verifies", "unsigned"},
		},
		{
			name:  "rollback target's chart version no longer available",
			setup: func(f *fakes, _ *gate.Want) { f.charts.errs["service 1.1.0"] = notListed },
			found: []string{"the rollback target chart service 1.1.0 is not available"},
		},
		{
			name: "new app",
			setup: func(_ *fakes, w *gate.Want) {
				w.Current = nil
			},
			passed: true, found: []string{"resolvable; the app is new in prod"},
		},
		{
			name: "current unpinned with a tag",
			setup: func(_ *fakes, w *gate.Want) {
				w.Current.Image = release.Ref{Repository: repo, Tag: "1.1"}
			},
			found: []string{"the rollback target " + repo + ":1.1 does not resolve"},
		},
		{
			name: "current names neither tag nor digest",
			setup: func(_ *fakes, w *gate.Want) {
				w.Current.Image = release.Ref{Repository: repo}
			},
			found: []string{"is not pinned by digest"},
		},
		{
			name: "chart kept with the desired state",
			setup: func(f *fakes, w *gate.Want) {
				w.ChartRepo, w.Current.ChartRepo = "", ""
				f.charts.errs["service 1.1.0"] = notListed
			},
			passed: true,
		},
		{
			name: "both fail: each named",
			setup: func(f *fakes, _ *gate.Want) {
				f.reg.errs[digestA] = gone
				f.charts.errs["service 1.1.0"] = notListed
			},
			found: []string{"the release entering", "; the rollback target chart service 1.1.0"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakes()
			w := want()
			if tc.setup != nil {
				tc.setup(f, &w)
			}
			r := one(t, f, w, config.GateRollback)
			verdict(t, r, tc.passed, tc.found...)
			if w.Current != nil && !strings.Contains(r.Wanted, "rollback target") {
				t.Errorf("wanted %q: name the rollback target", r.Wanted)
			}
		})
	}
}

// The release entering was just verified by the signed gate; only the
// rollback target is verified again here.
func TestRollbackVerifiesOnlyTheTarget(t *testing.T) {
	f := newFakes()
	one(t, f, want(), config.GateRollback)
	if len(f.sigs.calls) != 1 || f.sigs.calls[0] != digestB {
		t.Errorf("verified %v, want only the rollback target %s", f.sigs.calls, digestB)
	}
}

func TestRollbackInfraIsError(t *testing.T) {
	for name, setup := range map[string]func(*fakes){
		"registry":    func(f *fakes) { f.reg.errs[digestB] = exit.Infraf("registry.example: 502 Bad Gateway") },
		"signature":   func(f *fakes) { f.sigs.errs[digestB] = errors.New("read tcp: connection reset by peer") },
		"charts":      func(f *fakes) { f.charts.errs["service 1.2.0"] = exit.Infraf("charts.example: 500") },
		"interrupted": func(f *fakes) { f.charts.errs["service 1.1.0"] = fmt.Errorf("get index.yaml: %w", context.Canceled) },
	} {
		t.Run(name, func(t *testing.T) {
			f := newFakes()
			setup(f)
			got, err := f.checker().Check(t.Context(), only(want(), config.GateRollback))
			if err == nil || exit.ClassOf(err) == exit.Failed {
				t.Fatalf("err = %v (verdicts %+v), want the error itself, not a failed gate", err, got)
			}
		})
	}
}

func TestOffGatesAreReportedNotRun(t *testing.T) {
	f := newFakes()
	w := want()
	w.Gates.Off = []config.Gate{config.GateSigned, config.GateValidated, config.GateSmokeTested, config.GateRollback}
	got, err := f.checker().Check(t.Context(), w)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 {
		t.Fatalf("got %d verdicts, want 4: %+v", len(got), got)
	}
	for i, g := range []config.Gate{config.GateSigned, config.GateValidated, config.GateSmokeTested, config.GateRollback} {
		r := got[i]
		if r.Gate != g || !r.Off || r.Passed || r.App != "api" || !strings.Contains(r.Wanted, "switched off in prod") {
			t.Errorf("verdict %d: %+v, want %s off", i, r, g)
		}
		if !strings.Contains(r.String(), "off") {
			t.Errorf("String() = %q, want it to say off", r.String())
		}
	}
	if n := f.calls(); n != 0 {
		t.Errorf("%d calls to the registry for gates that are off", n)
	}
	if err := gate.Refusal("promote", got); err != nil {
		t.Errorf("Refusal of gates that are off: %v", err)
	}
}

func TestOneGateOff(t *testing.T) {
	f := newFakes()
	w := want()
	w.Gates.Off = []config.Gate{config.GateValidated}
	f.atts.list[release.SmokePredicateType] = []signing.VerifiedStatement{statement(t, release.SmokePredicateType, "smoke-1", smoke())}
	got, err := f.checker().Check(t.Context(), w)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 || !got[1].Off || got[0].Off || got[2].Off || got[3].Off {
		t.Fatalf("verdicts %+v, want only validated off", got)
	}
	for _, p := range f.atts.calls {
		if p == release.ValidatePredicateType {
			t.Error("validate attestations asked for although the gate is off")
		}
	}
}

func TestOnlyLimitsGates(t *testing.T) {
	f := newFakes()
	f.atts.list[release.ValidatePredicateType] = []signing.VerifiedStatement{statement(t, release.ValidatePredicateType, "att", validation())}
	f.atts.list[release.SmokePredicateType] = []signing.VerifiedStatement{statement(t, release.SmokePredicateType, "smoke", smoke())}
	w := want()
	w.Only = []config.Gate{config.GateSmokeTested, config.GateValidated}
	w.Gates.Off = []config.Gate{config.GateRollback}
	got, err := f.checker().Check(t.Context(), w)
	if err != nil {
		t.Fatal(err)
	}
	var gates []config.Gate
	for _, r := range got {
		gates = append(gates, r.Gate)
	}
	// In the fixed order, not Only's; a gate left out of Only is not even
	// reported off.
	if fmt.Sprint(gates) != "[validated smoke-tested]" {
		t.Fatalf("gates %v, want [validated smoke-tested]", gates)
	}
	if len(f.sigs.calls)+len(f.reg.calls)+len(f.charts.calls) != 0 {
		t.Error("a gate outside Only asked the registry")
	}
}

func TestAllPass(t *testing.T) {
	f := newFakes()
	f.atts.list[release.ValidatePredicateType] = []signing.VerifiedStatement{statement(t, release.ValidatePredicateType, "att", validation())}
	f.atts.list[release.SmokePredicateType] = []signing.VerifiedStatement{statement(t, release.SmokePredicateType, "smoke", smoke())}
	got, err := f.checker().Check(t.Context(), want())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 {
		t.Fatalf("verdicts %+v", got)
	}
	for _, r := range got {
		if !r.Passed || r.Off {
			t.Errorf("%s", r)
		}
	}
	if err := gate.Refusal("promote api", got); err != nil {
		t.Fatalf("Refusal: %v", err)
	}
}

func TestRefusal(t *testing.T) {
	if err := gate.Refusal("promote", nil); err != nil {
		t.Fatalf("no results: %v", err)
	}
	results := []gate.Result{
		{Gate: config.GateSigned, App: "api", Passed: true, Wanted: "signed", Found: "signed by key k"},
		{Gate: config.GateValidated, App: "api", Wanted: "a passing validate attestation", Found: "no attestation"},
		{Gate: config.GateSmokeTested, App: "web", Off: true, Wanted: "nothing: switched off in prod"},
		{Gate: config.GateRollback, App: "web", Wanted: "the rollback target resolvable", Found: "the rollback target is gone"},
	}
	err := gate.Refusal("promote staging → prod", results)
	if err == nil || exit.ClassOf(err) != exit.Failed {
		t.Fatalf("err = %v, want a Failed refusal", err)
	}
	msg := err.Error()
	for _, s := range []string{
		"promote staging → prod refused:",
		"gate validated for api: wanted a passing validate attestation; found no attestation",
		"gate rollback for web: wanted the rollback target resolvable; found the rollback target is gone",
	} {
		if !strings.Contains(msg, s) {
			t.Errorf("refusal %q lacks %q", msg, s)
		}
	}
	for _, s := range []string{"gate signed", "smoke-tested"} {
		if strings.Contains(msg, s) {
			t.Errorf("refusal %q names %q, which passed or is off", msg, s)
		}
	}
}

func TestResultString(t *testing.T) {
	r := gate.Result{Gate: config.GateValidated, App: "api", Wanted: "w", Found: "f"}
	if s := r.String(); !strings.Contains(s, "FAILED") || !strings.Contains(s, "wanted w; found f") {
		t.Errorf("String() = %q", s)
	}
	r.Passed = true
	if s := r.String(); !strings.Contains(s, "passed") {
		t.Errorf("String() = %q", s)
	}
}

// A nil clock is the wall clock: fresh evidence passes.
func TestNowDefaultsToWallClock(t *testing.T) {
	f := newFakes()
	c := f.checker()
	c.Now = nil
	e := smoke()
	e.TestedAt = time.Now().Add(-time.Hour)
	f.atts.list[release.SmokePredicateType] = []signing.VerifiedStatement{statement(t, release.SmokePredicateType, "smoke", e)}
	w := only(want(), config.GateSmokeTested)
	w.Deployed = time.Now().Add(-48 * time.Hour)
	got, err := c.Check(t.Context(), w)
	if err != nil || len(got) != 1 || !got[0].Passed {
		t.Fatalf("got %+v, %v", got, err)
	}
}
