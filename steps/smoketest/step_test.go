package smoketest

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/stepper-cd/stepper/internal/desiredstate"
	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/helm"
	"github.com/stepper-cd/stepper/internal/land"
	"github.com/stepper-cd/stepper/internal/release"
	"github.com/stepper-cd/stepper/internal/signing"
)

const digest = "sha256:4f1c0000000000000000000000000000000000000000000000000000000000aa"

// rolledOut is a cluster where the release of api rolled out: chart 1.4.0,
// one Deployment running the image by digest.
type rolledOut struct{}

func (rolledOut) Status(context.Context, helm.Cluster, string, string) (*helm.ReleaseResult, error) {
	return &helm.ReleaseResult{ChartVersion: "1.4.0", Manifest: `
apiVersion: apps/v1
kind: Deployment
metadata: {name: api}
spec:
  template:
    spec:
      containers: [{name: api, image: "registry.example/vendor-x/api:1.4.2@` + digest + `"}]
`}, nil
}

func (rolledOut) Wait(context.Context, []*unstructured.Unstructured, time.Duration) error {
	return nil
}

func (rolledOut) Restarts(context.Context, []*unstructured.Unstructured) (map[string]int, error) {
	return nil, nil
}

// attester keeps the statements it is asked to sign.
type attester struct{ signed []signing.Statement }

func (a *attester) Attest(_ context.Context, _ name.Digest, st signing.Statement) (string, error) {
	a.signed = append(a.signed, st)
	return "registry.example/vendor-x/api:sha256-4f1c.att", nil
}

// states hands out one desired state, read at commit.
type states struct {
	doc    desiredstate.Document
	commit string
}

func (s states) Read(context.Context, land.Spec, string) (*land.State, error) {
	return &land.State{Doc: s.doc, Commit: s.commit}, nil
}

func job(o Options) Job {
	o.Env, o.App = "exttest", "api"
	o.Wait, o.Timeout, o.RequestTimeout = true, time.Minute, time.Second
	if err := o.Defaults(nil, nil, "", "", "0s"); err != nil {
		panic(err)
	}
	return Job{Options: o, Namespace: "exttest"}
}

// The defect: after the rollout alone, with no URL for the HTTP checks,
// smoke-test signed "smoke-tested" evidence. It refuses now, saying what
// to do, and signs nothing.
func TestRolloutOnlyIsRefused(t *testing.T) {
	a := &attester{}
	s := &Step{Workloads: rolledOut{}, Releases: rolledOut{}, Attester: a}
	_, err := s.Run(t.Context(), job(Options{}))
	if exit.ClassOf(err) != exit.Usage || !strings.Contains(fmt.Sprint(err), "give --url, or set smokeTest.allowRolloutOnly") {
		t.Fatalf("err = %v, want a usage error naming --url and smokeTest.allowRolloutOnly", err)
	}
	if len(a.signed) > 0 {
		t.Errorf("signed rollout-only evidence: %s", a.signed[0].Predicate)
	}
}

// With smokeTest.allowRolloutOnly the evidence is signed and says it is of
// the rollout only, of which digest and chart version.
func TestRolloutOnlyAllowed(t *testing.T) {
	a := &attester{}
	s := &Step{Workloads: rolledOut{}, Releases: rolledOut{}, Attester: a}
	j := job(Options{})
	j.AllowRolloutOnly = true
	out, err := s.Run(t.Context(), j)
	if err != nil {
		t.Fatal(err)
	}
	ev := signedEvidence(t, a)
	if ev.RanHTTPChecks() || strings.Join(ev.Kinds(), ",") != release.CheckRollout {
		t.Errorf("kinds %v", ev.Kinds())
	}
	if ev.Digest != digest || ev.ChartVersion != "1.4.0" || out.Image.Tag != "1.4.2" {
		t.Errorf("evidence of %s chart %q, image %s", ev.Digest, ev.ChartVersion, out.Image)
	}
}

// Without --url the URL comes from the app's DNS values in the desired
// state, and the evidence names the desired-state commit it was read at.
func TestURLAndCommitFromDesiredState(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(app.Close)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "exttest.yaml"), []byte(`apps:
  api:
    namespace: exttest
    enabled: true
    chart: ehealth/api
    version: 1.4.0
    set:
      image.repository: registry.example/vendor-x/api
      image.tag: 1.4.2
      ingress.hosts[0].host: `+app.URL+`
`), 0o644)
	doc, err := desiredstate.Load(filepath.Join(dir, "exttest.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	a := &attester{}
	s := &Step{Workloads: rolledOut{}, Releases: rolledOut{}, Attester: a, States: states{doc: doc, commit: "0a1b2c3d4e5f"}}
	j := job(Options{})
	j.DesiredState = land.Spec{Env: "exttest", Repo: "https://git.example/env.git"}
	out, err := s.Run(t.Context(), j)
	if err != nil {
		t.Fatal(err)
	}
	if out.URL != app.URL {
		t.Errorf("URL %q, want %q", out.URL, app.URL)
	}
	ev := signedEvidence(t, a)
	if ev.DesiredStateCommit != "0a1b2c3d4e5f" || strings.Join(ev.Kinds(), ",") != "health,rollout" {
		t.Errorf("evidence commit %q, kinds %v", ev.DesiredStateCommit, ev.Kinds())
	}
}

func signedEvidence(t *testing.T, a *attester) release.SmokeEvidence {
	t.Helper()
	if len(a.signed) != 1 {
		t.Fatalf("%d statements signed, want 1", len(a.signed))
	}
	if a.signed[0].PredicateType != release.SmokePredicateType {
		t.Errorf("predicate type %s", a.signed[0].PredicateType)
	}
	ev, err := release.DecodeSmokeEvidence(a.signed[0].Predicate)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}
