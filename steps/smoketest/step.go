package smoketest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/helm"
	"github.com/stepper-cd/stepper/internal/httpcheck"
	"github.com/stepper-cd/stepper/internal/land"
	"github.com/stepper-cd/stepper/internal/logging"
	"github.com/stepper-cd/stepper/internal/release"
	"github.com/stepper-cd/stepper/internal/report"
	"github.com/stepper-cd/stepper/internal/signing"
)

// Workloads waits for a release's objects and counts their pods' restarts:
// internal/kube.
type Workloads interface {
	Wait(ctx context.Context, objects []*unstructured.Unstructured, timeout time.Duration) error
	Restarts(ctx context.Context, objects []*unstructured.Unstructured) (map[string]int, error)
}

// Releases reads a release's current manifest: internal/helm.
type Releases interface {
	Status(ctx context.Context, cl helm.Cluster, release, namespace string) (*helm.ReleaseResult, error)
}

// Attester signs an in-toto statement about an image and attaches it.
type Attester interface {
	Attest(ctx context.Context, img name.Digest, st signing.Statement) (string, error)
}

// States reads an environment's desired state: internal/land's Checkouts.
type States interface {
	Read(ctx context.Context, s land.Spec, local string) (*land.State, error)
}

// Step is smoke-test with the systems it uses. Workloads and Releases may
// be nil when the cluster is not consulted (--no-wait and no soak);
// Attester when no evidence is attached; States when the URL is given.
type Step struct {
	Workloads Workloads
	Releases  Releases
	Cluster   helm.Cluster
	Attester  Attester
	States    States
	Version   string
	Now       func() time.Time
	// Rollback, set with --rollback-on-failure, returns the app to its
	// last good release after a failed check, giving the failure as the
	// reason, and says what it restored.
	Rollback func(ctx context.Context, namespace, reason string) (string, error)
}

// Job is one run.
type Job struct {
	Options
	Namespace   string
	PipelineURL string
	// DesiredState is where the environment's desired state lives: without
	// --url, the app's URL comes from its DNS values there (with --state,
	// from that checkout).
	DesiredState land.Spec
	// AllowRolloutOnly (smokeTest.allowRolloutOnly) lets evidence be signed
	// when none of the HTTP checks ran.
	AllowRolloutOnly bool
	// DryRun says what would run and runs nothing.
	DryRun bool
}

// Check is one check that ran: its kind (release.CheckRollout, ...) and
// its result.
type Check struct {
	Kind string
	report.Check
}

// Outcome is what the smoke test found, about which release.
type Outcome struct {
	Env, App, Namespace string
	// Image is the image tested: --image, --from-result, else the one the
	// release's workload runs.
	Image release.Ref
	// URL is the app's base URL; "" when no HTTP check could run.
	URL string
	// ChartVersion is the Helm release's chart version, when the cluster
	// was consulted.
	ChartVersion string
	// DesiredStateCommit is the desired-state commit the URL was read at,
	// when it was read from the repository.
	DesiredStateCommit string
	Checks             []Check
	Attestation        string
	// RolledBack names what --rollback-on-failure restored.
	RolledBack string
	// Planned lists, for a dry run, what would run.
	Planned []string
}

// Passed reports whether every check passed.
func (o *Outcome) Passed() bool {
	return len(o.Checks) > 0 && failed(o.Checks) == 0
}

// Encode writes the outcome into a result: the release.SmokeTested record
// and every check.
func (o *Outcome) Encode(r *report.Result) {
	release.SmokeTested{Env: o.Env, App: o.App, Image: o.Image, Checks: o.kinds(), Attestation: o.Attestation}.Encode(r)
	if o.RolledBack != "" {
		r.Outputs[release.OutRestored] = o.RolledBack
	}
	r.Checks = nil
	for _, c := range o.Checks {
		r.Checks = append(r.Checks, c.Check)
	}
}

func (o *Outcome) kinds() []string {
	var k []string
	for _, c := range o.Checks {
		if !slices.Contains(k, c.Kind) {
			k = append(k, c.Kind)
		}
	}
	return k
}

// Run waits for the release, runs the checks, soaks, and on success attaches
// signed evidence to the image digest.
func (s *Step) Run(ctx context.Context, job Job) (*Outcome, error) {
	log := logging.From(ctx)
	out := &Outcome{Env: job.Env, App: job.App, Namespace: job.Namespace}
	if err := s.target(ctx, job, out); err != nil {
		return out, err
	}
	job.Namespace = out.Namespace
	if out.URL == "" && (len(job.Check) > 0 || job.B3Path != "") {
		return out, exit.Usagef("--check and --b3-path need --url, the app's base URL")
	}
	if out.URL == "" && !job.NoEvidence && !job.AllowRolloutOnly {
		return out, rolloutOnly(job)
	}
	if job.DryRun {
		out.Planned = plan(job, out.URL)
		return out, nil
	}
	var objects []*unstructured.Unstructured
	if s.Releases != nil {
		rel, err := s.Releases.Status(ctx, s.Cluster, job.App, job.Namespace)
		if err != nil {
			return out, err
		}
		out.ChartVersion = rel.ChartVersion
		if objects, err = decodeManifest(rel.Manifest); err != nil {
			return out, exit.Infraf("release %s/%s: read its manifest: %v", job.Namespace, job.App, err)
		}
		// Helm's manifests name no namespace: the release's is theirs.
		for _, o := range objects {
			if o.GetNamespace() == "" {
				o.SetNamespace(job.Namespace)
			}
		}
		if out.Image.IsZero() {
			out.Image, _ = release.ParseRef(imageOf(objects))
		}
	}
	if job.Wait && s.Workloads != nil {
		start := time.Now()
		err := s.Workloads.Wait(ctx, objects, job.Timeout)
		out.Checks = append(out.Checks, check(release.CheckRollout, "rollout", start, err))
		if err != nil {
			if exit.ClassOf(err) != exit.Failed {
				return out, err
			}
			return out, exit.Failedf("smoke-test %s/%s: the rollout is not healthy: %v", job.Env, job.App, err)
		}
	}
	opts := httpcheck.Options{UserAgent: "stepper/" + s.Version, RequestTimeout: job.RequestTimeout, Deadline: job.Timeout}
	if out.URL != "" {
		base := strings.TrimRight(out.URL, "/")
		// The capture endpoint is up for every check: the app's downstream
		// points at it, so its other endpoints may call it too.
		var capture *httpcheck.Capture
		if job.B3Path != "" {
			c, err := httpcheck.StartCapture(job.B3Listen)
			if err != nil {
				return out, exit.Usagef("--b3-listen %s: %v", job.B3Listen, err)
			}
			defer c.Close()
			capture = c
			log.Info().Str("capture", capture.URL()).Msg("B3 capture endpoint listening; the app's downstream URL must point here")
		}
		for _, p := range job.HealthPaths {
			out.Checks = append(out.Checks, fromResult(release.CheckHealth, httpcheck.Run(ctx, httpcheck.Check{Name: "GET " + p + " answers 200", URL: base + p, ExpectStatus: 200}, opts)))
		}
		for _, spec := range job.Check {
			c, _ := ParseCheck(spec)
			out.Checks = append(out.Checks, fromResult(release.CheckHTTP, httpcheck.Run(ctx, httpcheck.Check{
				Name: c.Method + " " + spec, URL: base + c.Path, Method: c.Method, ExpectStatus: c.Status,
				BodyContains: c.Body, JSONField: c.JSONField, JSONEquals: c.JSONEquals,
			}, opts)))
		}
		if capture != nil {
			r := httpcheck.B3(ctx, httpcheck.Check{Name: "B3 headers propagate from " + job.B3Path, URL: base + job.B3Path}, capture, opts)
			out.Checks = append(out.Checks, fromResult(release.CheckB3, r))
		}
	}
	if ctx.Err() != nil {
		return out, ctx.Err()
	}
	if job.SoakFor() > 0 && s.Workloads != nil && failed(out.Checks) == 0 {
		out.Checks = append(out.Checks, s.soak(ctx, objects, job.SoakFor()))
	}
	if len(out.Checks) == 0 {
		return out, exit.Usagef("smoke-test %s/%s: no checks to run: give --url (and --check), or let it wait for the release in the cluster", job.Env, job.App)
	}
	if n := failed(out.Checks); n > 0 {
		err := exit.Failedf("smoke-test %s/%s: %d of %d checks failed", job.Env, job.App, n, len(out.Checks))
		if job.RollbackOnFailure && s.Rollback != nil {
			restored, rerr := s.Rollback(ctx, job.Namespace, failedNames(out.Checks))
			out.RolledBack = restored
			if rerr != nil {
				err = errors.Join(err, fmt.Errorf("--rollback-on-failure: %w", rerr))
			} else {
				log.Warn().Str("restored", restored).Msg("smoke test failed: rolled back")
			}
		}
		return out, err
	}
	if job.NoEvidence {
		return out, nil
	}
	att, err := s.evidence(ctx, job, out)
	if err != nil {
		return out, err
	}
	out.Attestation = att
	log.Info().Str(logging.Image, out.Image.String()).Str("attestation", att).Msg("attached signed smoke-test evidence")
	return out, nil
}

// soak watches the workloads' pods for restarts for d.
func (s *Step) soak(ctx context.Context, objects []*unstructured.Unstructured, d time.Duration) Check {
	start := time.Now()
	name := fmt.Sprintf("no pod restarts during a %s soak", d)
	before, err := s.Workloads.Restarts(ctx, objects)
	if err == nil {
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			err = ctx.Err()
		case <-t.C:
		}
	}
	var after map[string]int
	if err == nil {
		after, err = s.Workloads.Restarts(ctx, objects)
	}
	c := Check{Kind: release.CheckSoak, Check: report.Check{Name: name, Status: report.Succeeded, Duration: report.Seconds(time.Since(start))}}
	if err != nil {
		c.Status, c.Message = report.Failed, err.Error()
		return c
	}
	var grew []string
	for pod, n := range after {
		if n > before[pod] {
			grew = append(grew, fmt.Sprintf("%s restarted %d times", pod, n-before[pod]))
		}
	}
	if len(grew) > 0 {
		c.Status, c.Message = report.Failed, strings.Join(grew, "; ")
	}
	return c
}

func check(kind, name string, start time.Time, err error) Check {
	c := Check{Kind: kind, Check: report.Check{Name: name, Status: report.Succeeded, Duration: report.Seconds(time.Since(start))}}
	if err != nil {
		c.Status, c.Message = report.Failed, err.Error()
	}
	return c
}

func fromResult(kind string, r httpcheck.Result) Check {
	c := Check{Kind: kind, Check: report.Check{Name: r.Name, Status: report.Succeeded, Message: r.Message, Duration: report.Seconds(r.Duration)}}
	if !r.Passed {
		c.Status = report.Failed
	}
	return c
}

func failed(cs []Check) int {
	n := 0
	for _, c := range cs {
		if c.Status != report.Succeeded {
			n++
		}
	}
	return n
}

// decodeManifest splits a release manifest into objects.
func decodeManifest(manifest string) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(manifest), 4096)
	var out []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if err == io.EOF {
				return out, nil
			}
			return nil, err
		}
		if len(m) == 0 {
			continue
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
}

// imageOf is the first container image pinned by digest in the release's
// workloads: what the evidence is about when no image is given.
func imageOf(objects []*unstructured.Unstructured) string {
	for _, o := range objects {
		cs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
		for _, c := range cs {
			if m, ok := c.(map[string]any); ok {
				if img, _ := m["image"].(string); strings.Contains(img, "@sha256:") {
					return img
				}
			}
		}
	}
	return ""
}

// failedNames is the failed checks, for a rollback's reason.
func failedNames(checks []Check) string {
	var names []string
	for _, c := range checks {
		if c.Status == report.Failed {
			n := c.Name
			if c.Message != "" {
				n += ": " + c.Message
			}
			names = append(names, n)
		}
	}
	return "smoke test failed: " + strings.Join(names, "; ")
}
