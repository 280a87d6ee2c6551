package validate

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/policy"
	"github.com/stepper-cd/stepper/internal/release"
	"github.com/stepper-cd/stepper/internal/report"
	"github.com/stepper-cd/stepper/internal/signing"
)

// oneImage is a registry holding one image under every reference.
type oneImage struct{ img v1.Image }

// newOneImage is a registry holding a random image, and its digest.
func newOneImage(t *testing.T) (oneImage, string) {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	h, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return oneImage{img}, h.String()
}

func (o oneImage) Image(_ context.Context, ref string) (v1.Image, name.Digest, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, name.Digest{}, err
	}
	h, err := o.img.Digest()
	if err != nil {
		return nil, name.Digest{}, err
	}
	return o.img, r.Context().Digest(h.String()), nil
}

// recordingAttester keeps the statements it is asked to attach.
type recordingAttester struct {
	mu  sync.Mutex
	got []signing.Statement
	err error
}

func (a *recordingAttester) Attest(_ context.Context, img name.Digest, st signing.Statement) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err != nil {
		return "", a.err
	}
	a.got = append(a.got, st)
	return img.Context().Tag(strings.Replace(img.DigestStr(), ":", "-", 1) + ".att").String(), nil
}

func (a *recordingAttester) evidence(t *testing.T) []release.ValidationEvidence {
	t.Helper()
	var out []release.ValidationEvidence
	for _, st := range a.got {
		if st.PredicateType != release.ValidatePredicateType || st.Type != signing.StatementType {
			t.Errorf("statement of type %s about %s", st.Type, st.PredicateType)
		}
		ev, err := release.DecodeValidationEvidence(st.Predicate)
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Subject) != 1 || "sha256:"+st.Subject[0].Digest["sha256"] != ev.Digest {
			t.Errorf("subjects %+v, want the digest %s alone", st.Subject, ev.Digest)
		}
		out = append(out, ev)
	}
	return out
}

// A failing app's verdict is attached as failed; with a policy that turns
// its errors into warnings, as passed, naming the policy by its digest. An
// image known only by tag gets no verdict.
func TestAttachesEachVerdict(t *testing.T) {
	images, digest := newOneImage(t)
	pinned := "registry.example/vendor/api:1@" + digest
	now := time.Date(2026, 12, 4, 21, 40, 0, 0, time.UTC)
	att := &recordingAttester{}
	s := &Step{Images: images, Attester: att, Version: "1.2.3", Now: func() time.Time { return now }}
	job := Job{PipelineURL: "https://gitlab.example/p/7", Targets: []Target{
		{Env: "exttest", App: "api", Image: pinned},
		{App: "tagged", Image: "registry.example/vendor/api:1"},
	}}
	out, err := s.Run(t.Context(), job)
	if exit.ClassOf(err) != exit.Failed {
		t.Fatalf("Run: %v, want the findings to fail it", err)
	}
	evs := att.evidence(t)
	if len(evs) != 1 || len(out.Validated) != 1 {
		t.Fatalf("%d statements, %d verdicts; want one of each, for the pinned image", len(evs), len(out.Validated))
	}
	ev := evs[0]
	if ev.Passed || ev.Errors == 0 || ev.App != "api" || ev.Environment != "exttest" || ev.Digest != digest || ev.Image != pinned ||
		ev.Rules == 0 || !ev.ValidatedAt.Equal(now) || ev.PipelineURL != job.PipelineURL || ev.StepperVersion != "1.2.3" || ev.Policy != "" {
		t.Errorf("evidence %+v", ev)
	}
	if err := ev.Proves("api", digest); err == nil {
		t.Error("a failing verdict proves validation")
	}
	if v := out.Validated[0]; v.Passed || v.App != "api" || v.Image.Digest != digest || !strings.HasSuffix(v.Attestation, ".att") {
		t.Errorf("verdict %+v", v)
	}
	r := &report.Result{}
	out.Encode(r)
	if r.Outputs[release.OutValidateAttestation] != out.Validated[0].Attestation || r.Details != out.Report {
		t.Errorf("result outputs %v, details %v", r.Outputs, r.Details)
	}

	// The same app under a policy that makes each of its errors a warning.
	var rules []string
	for _, f := range out.Report.Findings {
		if f.App == "api" && f.Severity == policy.Error {
			rules = append(rules, fmt.Sprintf("  %s: {severity: warning}\n", f.Rule))
		}
	}
	file := filepath.Join(t.TempDir(), "policy.yaml")
	body := "rules:\n" + strings.Join(rules, "")
	if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if s.Policy, err = policy.Load(file); err != nil {
		t.Fatal(err)
	}
	att.got = nil
	if _, err := s.Run(t.Context(), Job{Targets: job.Targets[:1]}); err != nil {
		t.Fatalf("Run with the lenient policy: %v", err)
	}
	evs = att.evidence(t)
	if len(evs) != 1 {
		t.Fatalf("%d statements, want 1", len(evs))
	}
	ev = evs[0]
	if want := fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(body))); !ev.Passed || ev.Errors != 0 || ev.Warnings < len(rules) || ev.Policy != want {
		t.Errorf("evidence %+v, want passed with %d warnings and policy %s", ev, len(rules), want)
	}
	if err := ev.Proves("api", digest); err != nil {
		t.Errorf("Proves: %v", err)
	}
}

// No app name: the verdict cannot say whose it is. A failed attachment
// fails the run with what could not be attached.
func TestAttestRefusals(t *testing.T) {
	images, digest := newOneImage(t)
	pinned := "registry.example/vendor/api@" + digest
	s := &Step{Images: images, Attester: &recordingAttester{}}
	if _, err := s.Run(t.Context(), Job{Targets: []Target{{Image: pinned}}}); exit.ClassOf(err) != exit.Usage || !strings.Contains(err.Error(), "--app") {
		t.Errorf("no app: %v, want a usage error naming --app", err)
	}
	s.Attester = &recordingAttester{err: exit.Infraf("registry down")}
	out, err := s.Run(t.Context(), Job{Targets: []Target{{App: "api", Image: pinned}}})
	if exit.ClassOf(err) != exit.Infra || !strings.Contains(err.Error(), "attach the validate record to "+pinned) {
		t.Errorf("attester failing: %v, want an infrastructure error naming the image", err)
	}
	if len(out.Validated) != 0 {
		t.Errorf("verdicts %+v after a failed attachment", out.Validated)
	}
	s.Attester = nil
	if _, err := s.Run(t.Context(), Job{Targets: []Target{{App: "api", Image: pinned}}}); exit.ClassOf(err) != exit.Failed {
		t.Errorf("without an attester: %v, want the findings alone", err)
	}
}
