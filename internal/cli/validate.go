package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/stepper-cd/stepper/internal/config"
	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/helm"
	"github.com/stepper-cd/stepper/internal/land"
	"github.com/stepper-cd/stepper/internal/policy"
	"github.com/stepper-cd/stepper/internal/release"
	"github.com/stepper-cd/stepper/internal/report"
	"github.com/stepper-cd/stepper/internal/runtimecheck"
	"github.com/stepper-cd/stepper/steps/validate"
)

// ValidateCmd is `stepper validate`.
type ValidateCmd struct {
	validate.Options `embed:""`
}

// Help is the long help of the command.
func (ValidateCmd) Help() string {
	return `Checks a release against the platform's container rules, offline and in
seconds, so a vendor learns in its own merge request what the platform's
gate would reject. The image: built on an approved base (layers, not just
the annotation), non-root, signed by an approved key, from the approved
registry, pinned by digest, exec-form entrypoint. The chart: from an official
repository, at its newest version, renders. The rendered manifests: two or
more replicas across zones, a PodDisruptionBudget, probes, requests and a
memory limit, non-root, stateless, a 10 s grace period, maxUnavailable 0,
secrets by reference. The desired state: the app is there, pinned. A policy
file changes severities, adds CEL rules and waives a rule for an app until a
date.

Findings print as a table (or --output json), and go to --junit and
--code-quality files for GitLab. Exit 1 when an error-level finding is left.

With --attest, each app's verdict on its image pinned by digest (passed or
not, error and warning counts, rules checked, the policy file's digest,
time, pipeline) is signed with signing.evidenceKey (else signing.key) and attached to the digest as an
in-toto attestation; promote accepts only a passing one.

Examples:

    stepper validate --image harbor.example/vendor/api@sha256:4f1c...
    stepper validate --from-result build.json --chart ./chart --junit validate.xml
    stepper validate --env exttest --app patient-api --code-quality gl-code-quality.json
    stepper validate --env exttest --all --state ./dsf
    stepper validate --image harbor.example/vendor/api@sha256:4f1c... --runtime
    stepper validate --from-result build.json --app patient-api --attest --result validate.json
`
}

// Run runs the step.
func (c *ValidateCmd) Run(ctx context.Context, rt *Runtime, cfg *config.Config, clients *Clients) error {
	// The key first, so a missing one is said before any work; a dry run
	// attaches nothing and needs none.
	var attester validate.Attester
	if c.Attest && !rt.Globals.DryRun {
		key, opts, err := clients.EvidenceSigner()
		if err != nil {
			return err
		}
		attester = statementAttester{key: key, opts: opts}
	}
	targets, err := c.targets(ctx, rt, cfg, clients)
	if err != nil {
		return err
	}
	pol, err := c.policy(cfg)
	if err != nil {
		return err
	}
	images, err := clients.Registry()
	if err != nil {
		return err
	}
	step := &validate.Step{
		Images:   images,
		Charts:   clients.Helm(),
		Policy:   pol,
		Attester: attester,
		Version:  Version,
		Approved: cfg.BaseImages,
		Config: policy.Config{
			ApprovedRegistry: cfg.Registry.Host,
			OfficialRepos:    cfg.Charts.Repositories,
			PlatformRules:    cfg.PlatformRules(),
			UnsignedBuild:    c.UnsignedBuild,
		},
	}
	if v, err := clients.Verifier(); err != nil {
		return err
	} else if v != nil { // a nil *ApprovedKeys must stay a nil interface
		step.Verifier = v
	}
	job := validate.Job{Targets: targets, PipelineURL: rt.CI.PipelineURL}
	if c.Runtime {
		engine, err := runtimecheck.Detect(nil, rt.Environ)
		if err != nil {
			return err
		}
		step.Runtime = engine
		// Registries on this machine speak plain HTTP; podman must be told.
		host := cfg.Registry.Host
		job.Insecure = cfg.Registry.Insecure || strings.HasPrefix(host, "127.0.0.1:") || strings.HasPrefix(host, "localhost:")
	}
	out, runErr := step.Run(ctx, job)
	out.Encode(rt.Result)
	rep := out.Report
	rt.JUnit = func(w io.Writer) error { return policy.WriteJUnit(w, rep, pol.Rules()) }
	rt.Details = func(w io.Writer) error { return policy.WriteTable(w, rep, rt.Terminal) }
	if c.CodeQuality != "" {
		if err := writeFileWith(c.CodeQuality, func(w io.Writer) error { return policy.WriteCodeQuality(w, rep) }); err != nil {
			rt.Log.Error().Err(err).Str("file", c.CodeQuality).Msg("writing the Code Quality file failed")
		}
	}
	return runErr
}

// targets are the apps to check: the desired state's (--env), or one made
// of --image/--from-result and --chart.
func (c *ValidateCmd) targets(ctx context.Context, rt *Runtime, cfg *config.Config, clients *Clients) ([]validate.Target, error) {
	image := c.Image
	if c.FromResult != "" {
		prev, err := report.ReadJSON(c.FromResult)
		if err != nil {
			return nil, exit.Mark(exit.Usage, fmt.Errorf("--from-result: %w", err))
		}
		ref, err := release.ImageFromResult("--from-result "+c.FromResult, prev)
		if err != nil {
			return nil, err
		}
		image = ref.String()
	}
	if c.Env == "" {
		if c.App == "" {
			c.App = rt.CI.ProjectName
		}
		rt.Result.App = c.App
		t := validate.Target{App: c.App, Image: image, RuntimeCheck: c.Runtime}
		if c.Chart != "" {
			ref := validate.ParseChart(c.Chart, c.ChartVersion)
			t.Chart = &ref
			t.Render = helm.RenderOptions{Release: orDefault(c.App, "release"), Namespace: "default", ValueFiles: c.Values, Set: c.Set}
		}
		rt.Result.Image = image
		return []validate.Target{t}, nil
	}
	env, err := rt.resolveEnv(cfg, c.Env)
	if err != nil {
		return nil, err
	}
	var names []string
	if !c.All {
		if err := rt.resolveApp(&c.App); err != nil {
			return nil, err
		}
		names = []string{c.App}
	}
	state, err := clients.Checkouts().Read(ctx, land.SpecOf(cfg, env), c.State)
	if err != nil {
		return nil, err
	}
	rt.cleanups = append(rt.cleanups, state.Close)
	targets, err := validate.StateTargets(state.Doc, env.Name, names, state.Dir)
	if err != nil {
		return nil, err
	}
	for i := range targets {
		targets[i].RuntimeCheck = c.Runtime
		if image != "" && len(targets) == 1 {
			targets[i].Image = image // the image just built, in place of the deployed one
		}
	}
	return targets, nil
}

func (c *ValidateCmd) policy(cfg *config.Config) (*policy.Policy, error) {
	path := c.Policy
	if path == "" {
		path = cfg.Validate.Policy.Expand()
	}
	return policy.Load(path)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// writeFileWith writes what fn writes to path, atomically.
func writeFileWith(path string, fn func(io.Writer) error) error {
	var b bytes.Buffer
	if err := fn(&b); err != nil {
		return err
	}
	return report.WriteFileAtomic(path, b.Bytes())
}
