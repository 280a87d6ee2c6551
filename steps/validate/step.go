package validate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/helm"
	"github.com/stepper-cd/stepper/internal/logging"
	"github.com/stepper-cd/stepper/internal/policy"
	"github.com/stepper-cd/stepper/internal/release"
	"github.com/stepper-cd/stepper/internal/report"
	"github.com/stepper-cd/stepper/internal/runtimecheck"
	"github.com/stepper-cd/stepper/internal/signing"
)

// Images reads images from the registry: internal/registry.
type Images interface {
	Image(ctx context.Context, ref string) (v1.Image, name.Digest, error)
}

// Verifier checks an image's signature against the approved keys:
// internal/signing with the configured public keys.
type Verifier interface {
	Verify(ctx context.Context, img name.Digest) (*signing.Verified, error)
}

// Charts loads and renders Helm charts: internal/helm.
type Charts interface {
	Load(ctx context.Context, ref helm.ChartRef) (*helm.LoadedChart, error)
	Latest(ctx context.Context, repo, name string) (string, error)
	Render(ctx context.Context, ch *helm.LoadedChart, o helm.RenderOptions) ([]helm.Object, error)
}

// Runtime starts an image and checks it behaves: internal/runtimecheck.
type Runtime interface {
	Check(ctx context.Context, o runtimecheck.Options) (*runtimecheck.Result, error)
}

// Attester signs an in-toto statement about an image and attaches it:
// internal/signing with signing.key.
type Attester interface {
	Attest(ctx context.Context, img name.Digest, st signing.Statement) (string, error)
}

// Step is validate with the systems it reads. Verifier, Charts and Runtime
// may be nil when nothing needs them; Attester when no verdict is attached
// (--attest).
type Step struct {
	Images   Images
	Verifier Verifier
	Charts   Charts
	Runtime  Runtime
	Attester Attester
	Policy   *policy.Policy
	Config   policy.Config
	// Version is stepper's, recorded in the attached verdicts.
	Version string
	// Approved are the approved base images as configured (baseImages).
	Approved []string
	// Now is the clock for waiver expiry; nil means time.Now.
	Now func() time.Time

	claimMu   sync.Mutex
	claims    map[string][]policy.ApprovedBase
	basesOnce sync.Once
	bases     []policy.ApprovedBase
	basesErr  error
}

// Target is one app to check: any of an image, a chart and a desired-state
// entry.
type Target struct {
	Env, App string
	// Image is the image reference, as the desired state or the command
	// line gives it.
	Image string
	// Chart is the chart to render; nil when there is none.
	Chart *helm.ChartRef
	// Render says how to render Chart: release, namespace, values.
	Render helm.RenderOptions
	// State is the app's desired-state entry when one was read.
	State *policy.StateEntry
	// RuntimeCheck starts the image and checks health, uid and SIGTERM.
	RuntimeCheck bool
	HealthPort   int
}

// Job is one run: the apps to check and how.
type Job struct {
	Targets []Target
	// Parallel bounds how many apps are checked at once; 0 means 32.
	Parallel int
	// Insecure lets the runtime check pull over plain HTTP.
	Insecure bool
	// PipelineURL is the CI pipeline's, recorded in the attached verdicts.
	PipelineURL string
}

// Outcome is what a run found.
type Outcome struct {
	// Report holds the findings and the rules checked per app; it is set
	// even when Run fails part way.
	Report *policy.Report
	// Validated are the verdicts attached to the apps' images, passing or
	// not, in the order of Job.Targets; set even when Run fails.
	Validated []release.Validated
}

// Encode writes the outcome into a result: the findings as its details,
// and the attached verdicts.
func (o *Outcome) Encode(r *report.Result) {
	r.Details = o.Report
	for _, v := range o.Validated {
		v.Encode(r)
	}
}

// Run checks every target and returns the findings. Apps are checked side
// by side. A system that cannot be reached is an error, never a pass: a
// finding is only ever left out because its rule held. An error-level
// finding left after waivers fails the run (exit.Failed). With an
// Attester, each app's verdict is signed and attached to its image once
// its checks are done (see attest).
func (s *Step) Run(ctx context.Context, job Job) (*Outcome, error) {
	parallel := job.Parallel
	if parallel <= 0 {
		parallel = 32
	}
	rep := &policy.Report{Checked: map[string][]string{}}
	out := &Outcome{Report: rep}
	policyDigest, err := s.prepareAttest(job)
	if err != nil {
		return out, err
	}
	validated := make([]*release.Validated, len(job.Targets))
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(parallel)
	for i, t := range job.Targets {
		g.Go(func() error {
			res, err := s.check(gctx, t, job.Insecure)
			if err != nil {
				return fmt.Errorf("%s: %w", label(t), err)
			}
			if validated[i], err = s.attest(gctx, job, t, res, policyDigest); err != nil {
				return fmt.Errorf("%s: %w", label(t), err)
			}
			mu.Lock()
			defer mu.Unlock()
			rep.Findings = append(rep.Findings, res.findings...)
			rep.Checked[label(t)] = res.rules
			return nil
		})
	}
	err = g.Wait()
	for _, v := range validated {
		if v != nil {
			out.Validated = append(out.Validated, *v)
		}
	}
	if err != nil {
		return out, err
	}
	slices.SortStableFunc(rep.Findings, func(a, b policy.Finding) int {
		return strings.Compare(a.Env+"/"+a.App, b.Env+"/"+b.App)
	})
	if rep.Failed() {
		return out, exit.Failedf("validate: %s", Summary(rep))
	}
	return out, nil
}

func label(t Target) string {
	switch {
	case t.App != "" && t.Env != "":
		return t.Env + "/" + t.App
	case t.App != "":
		return t.App
	}
	return t.Image
}

// checked is what checking one target found.
type checked struct {
	findings []policy.Finding
	// rules are the ids of the rules checked.
	rules []string
	// digest is what the target's image resolved to; zero without one.
	digest name.Digest
	// chartVersion is the version of the chart rendered, if any.
	chartVersion string
}

// check gathers the facts of one target and hands them to the policy.
func (s *Step) check(ctx context.Context, t Target, insecure bool) (*checked, error) {
	log := logging.From(ctx)
	start := time.Now()
	in := policy.Input{Env: t.Env, App: t.App, State: t.State}
	// The image and the chart are independent: read them side by side.
	var digest name.Digest
	g, gctx := errgroup.WithContext(ctx)
	if t.Image != "" {
		g.Go(func() error {
			img, d, err := s.image(gctx, t.Image)
			in.Image, digest = img, d
			return err
		})
	}
	if t.Chart != nil {
		g.Go(func() error {
			ch, objs, err := s.chart(gctx, t)
			in.Chart, in.Objects = ch, objs
			if err != nil {
				return err
			}
			in.WorkloadImages, err = s.workloadImages(gctx, t.Image, objs)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if t.RuntimeCheck && in.Image != nil {
		rr, err := s.runtime(ctx, t, digest, insecure)
		if err != nil {
			return nil, err
		}
		in.Runtime = rr
	}
	cfg := s.config(ctx)
	if in.Image != nil {
		cfg.ApprovedBases = append(cfg.ApprovedBases, s.claimedBase(ctx, in.Image)...)
	}
	findings := s.Policy.Check(cfg, in, s.now())
	for i := range findings {
		if findings[i].File == "" && t.State != nil {
			findings[i].File, findings[i].Line = t.State.File, t.State.Line
		}
	}
	log.Debug().Str(logging.App, t.App).Str(logging.Env, t.Env).Int("findings", len(findings)).
		Int64(logging.Duration, time.Since(start).Milliseconds()).Msg("checked")
	res := &checked{findings: findings, rules: s.Policy.Checked(in), digest: digest}
	if in.Chart != nil {
		res.chartVersion = in.Chart.Version
	}
	return res, nil
}

// referenceOnly is what the reference itself says of an image: registry,
// tag and digest. ref must parse.
func referenceOnly(ref string) policy.Image {
	parsed, _ := name.ParseReference(ref)
	out := policy.Image{Ref: ref, Registry: parsed.Context().RegistryStr()}
	if d, ok := parsed.(name.Digest); ok {
		out.Digest = d.DigestStr()
	}
	if tagged, ok := strings.CutPrefix(ref, parsed.Context().Name()+":"); ok {
		out.Tag, _, _ = strings.Cut(tagged, "@")
	}
	return out
}

func registryOf(ref string) string {
	parsed, _ := name.ParseReference(ref)
	return parsed.Context().RegistryStr()
}

// image reads an image's config, layers and annotations and verifies its
// signature, all by the digest the reference resolves to once.
func (s *Step) image(ctx context.Context, ref string) (*policy.Image, name.Digest, error) {
	if _, err := name.ParseReference(ref); err != nil {
		return nil, name.Digest{}, exit.Usagef("image %q: %v", ref, err)
	}
	out := new(policy.Image)
	*out = referenceOnly(ref)
	img, resolved, err := s.Images.Image(ctx, ref)
	if err != nil {
		return nil, name.Digest{}, fmt.Errorf("image %s: %w", ref, err)
	}
	out.ResolvedDigest = resolved.DigestStr()
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, name.Digest{}, exit.Infraf("image %s: read config: %v", ref, err)
	}
	out.User = cfg.Config.User
	out.Entrypoint, out.Cmd = cfg.Config.Entrypoint, cfg.Config.Cmd
	for _, d := range cfg.RootFS.DiffIDs {
		out.DiffIDs = append(out.DiffIDs, d.String())
	}
	if m, err := img.Manifest(); err == nil {
		out.Annotations = m.Annotations
	}
	if s.Verifier == nil {
		out.Signature = policy.SignatureResult{Problem: "no public keys configured (signing.publicKeys)"}
	} else if v, err := s.Verifier.Verify(ctx, resolved); err == nil {
		out.Signature = policy.SignatureResult{Verified: true, KeyID: v.KeyID}
	} else if exit.ClassOf(err) == exit.Failed {
		out.Signature = policy.SignatureResult{Problem: err.Error()}
	} else {
		// Fail closed: a registry that cannot say whether the image is
		// signed stops validate; it never reads as unsigned or signed.
		return nil, name.Digest{}, fmt.Errorf("verify signature of %s: %w", resolved, err)
	}
	return out, resolved, nil
}

// workloadImages reads each image the rendered manifests run, besides the
// app's own image (checked in full already), so the image rules see every
// image the release runs. An image outside the approved registry is not
// fetched: that registry is the vendor's choice, not the platform's, and
// no signature found there could make the image acceptable.
func (s *Step) workloadImages(ctx context.Context, own string, objs []policy.Object) ([]policy.WorkloadImage, error) {
	var ownName string
	if r, err := name.ParseReference(own); own != "" && err == nil {
		ownName = r.Name()
	}
	var out []policy.WorkloadImage
	for _, ci := range policy.ContainerImages(objs) {
		parsed, err := name.ParseReference(ci.Ref)
		if err != nil {
			return nil, exit.Usagef("%s (%s) runs image %q: %v", ci.Where, ci.Template, ci.Ref, err)
		}
		if parsed.Name() != ownName {
			out = append(out, policy.WorkloadImage{Image: policy.Image{Ref: ci.Ref}, Where: ci.Where, Template: ci.Template})
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for i := range out {
		w := &out[i]
		g.Go(func() error {
			ref, where := w.Ref, w.Where
			if !policy.FromApprovedRegistry(s.Config.ApprovedRegistry, ref, registryOf(ref)) {
				w.Image = referenceOnly(ref)
				w.Signature.Problem = "not looked up: validate reads images only from the approved registry " + s.Config.ApprovedRegistry
				return nil
			}
			img, _, err := s.image(gctx, ref)
			if err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
			w.Image = *img
			return nil
		})
	}
	return out, g.Wait()
}

// chart loads and renders the target's chart and looks up the newest
// version of it in its repository.
func (s *Step) chart(ctx context.Context, t Target) (*policy.Chart, []policy.Object, error) {
	if s.Charts == nil {
		return nil, nil, errors.New("no chart client")
	}
	ref := *t.Chart
	out := &policy.Chart{Name: ref.Name, Version: ref.Version, Repo: ref.Repo, Local: ref.Path != ""}
	if out.Local {
		out.Repo = ref.Path
	}
	ch, err := s.Charts.Load(ctx, ref)
	if err != nil {
		return nil, nil, err
	}
	meta := ch.Metadata()
	out.Name, out.Version, out.README, out.Annotations = meta.Name, meta.Version, meta.README, meta.Annotations
	if !out.Local {
		latest, err := s.Charts.Latest(ctx, ref.Repo, ref.Name)
		if err != nil {
			return nil, nil, err
		}
		out.Latest = latest
	}
	objs, err := s.Charts.Render(ctx, ch, t.Render)
	if err != nil {
		if exit.ClassOf(err) != exit.Failed {
			return nil, nil, err
		}
		out.RenderError = err.Error()
		return out, nil, nil
	}
	pobjs := make([]policy.Object, len(objs))
	for i, o := range objs {
		pobjs[i] = policy.Object{Object: o.Object, Template: o.Template}
	}
	return out, pobjs, nil
}

// runtime starts the image and reports what its checks saw.
func (s *Step) runtime(ctx context.Context, t Target, digest name.Digest, insecure bool) ([]policy.RuntimeResult, error) {
	if s.Runtime == nil {
		return nil, exit.Usagef("--runtime needs podman or docker on this machine")
	}
	res, err := s.Runtime.Check(ctx, runtimecheck.Options{Image: digest.String(), HealthPath: s.Config.HealthPath, Port: t.HealthPort, Insecure: insecure})
	if err != nil {
		return nil, err
	}
	out := []policy.RuntimeResult{}
	for _, c := range res.Checks {
		out = append(out, policy.RuntimeResult{Check: c.Name, Passed: c.Passed, Message: c.Message})
	}
	return out, nil
}

// claimedBase is the base an image's annotations name, when it is in an
// approved repository: its layers are then read so the layer-prefix check
// can prove (or refute) the claim. The annotation alone proves nothing.
func (s *Step) claimedBase(ctx context.Context, img *policy.Image) []policy.ApprovedBase {
	claimed, digest := img.Annotations[ocispec.AnnotationBaseImageName], img.Annotations[ocispec.AnnotationBaseImageDigest]
	if claimed == "" || digest == "" {
		return nil
	}
	repo, err := name.ParseReference(claimed)
	if err != nil {
		return nil
	}
	approved := false
	for _, a := range s.Approved {
		if ar, err := name.ParseReference(a); err == nil && ar.Context().Name() == repo.Context().Name() {
			approved = true
		}
	}
	if !approved {
		return nil
	}
	ref := repo.Context().Digest(digest).String()
	s.claimMu.Lock()
	defer s.claimMu.Unlock()
	if b, ok := s.claims[ref]; ok {
		return b
	}
	var out []policy.ApprovedBase
	if base, d, err := s.Images.Image(ctx, ref); err == nil {
		if cfg, err := base.ConfigFile(); err == nil {
			b := policy.ApprovedBase{Name: repo.Context().Name(), Digest: d.DigestStr()}
			for _, id := range cfg.RootFS.DiffIDs {
				b.DiffIDs = append(b.DiffIDs, id.String())
			}
			out = append(out, b)
		}
	}
	if s.claims == nil {
		s.claims = map[string][]policy.ApprovedBase{}
	}
	s.claims[ref] = out
	return out
}

// config completes the policy configuration with the approved bases'
// layers, resolved once per run.
func (s *Step) config(ctx context.Context) policy.Config {
	s.basesOnce.Do(func() { s.bases, s.basesErr = s.resolveBases(ctx) })
	cfg := s.Config
	cfg.ApprovedBases = s.bases
	return cfg
}

func (s *Step) resolveBases(ctx context.Context) ([]policy.ApprovedBase, error) {
	var out []policy.ApprovedBase
	for _, ref := range s.Approved {
		img, d, err := s.Images.Image(ctx, ref)
		if err != nil {
			logging.From(ctx).Warn().Err(err).Str(logging.Image, ref).Msg("approved base image cannot be read; images on it will fail the base rule")
			continue
		}
		cfg, err := img.ConfigFile()
		if err != nil {
			continue
		}
		b := policy.ApprovedBase{Name: ref, Digest: d.DigestStr()}
		for _, id := range cfg.RootFS.DiffIDs {
			b.DiffIDs = append(b.DiffIDs, id.String())
		}
		out = append(out, b)
	}
	return out, nil
}

func (s *Step) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}
