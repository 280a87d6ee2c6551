package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/stepper-cd/stepper/internal/config"
	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/helm"
	"github.com/stepper-cd/stepper/internal/kube"
	"github.com/stepper-cd/stepper/internal/report"
	"github.com/stepper-cd/stepper/internal/signing"
	"github.com/stepper-cd/stepper/steps/smoketest"
)

// SmokeTestCmd is `stepper smoke-test`.
type SmokeTestCmd struct {
	smoketest.Options `embed:""`
}

// Help is the long help of the command.
func (SmokeTestCmd) Help() string {
	return `Proves a deployed release works in its environment before anyone
promotes it: waits for the app's workloads to roll out (kstatus, failing fast
with a diagnosis on crashing pods), checks that the health endpoints answer
200, runs each --check, checks that B3 tracing headers propagate to the
app's downstream (--b3-path; stepper runs the capture endpoint the app's
downstream URL points at), and that no pod restarts during a short soak.
Every request carries User-Agent: stepper/<version>.

On success it attaches a signed in-toto attestation "smoke-tested in ENV"
(the time, the checks, the pipeline) to the image digest; promote reads it.
Exit 1 when a check fails. --dry-run lists the checks it would run.

Examples:

    stepper smoke-test --env exttest --app patient-api --url https://patients.exttest.example \
        --check '/api/ping json=status=ok' --b3-path /api/ping --junit smoke.xml
    stepper smoke-test --env inttest --url http://127.0.0.1:8080 --no-wait --no-evidence --soak 0
`
}

// Run runs the step.
func (c *SmokeTestCmd) Run(ctx context.Context, rt *Runtime, cfg *config.Config) error {
	env, err := rt.resolveEnv(cfg, c.Env)
	if err != nil {
		return err
	}
	if err := rt.resolveApp(&c.App); err != nil {
		return err
	}
	st := cfg.SmokeTest
	if err := c.Defaults(st.HealthPaths, st.Checks, st.B3Path, st.B3Listen, st.Soak); err != nil {
		return exit.Mark(exit.Usage, err)
	}
	if c.URL == "" && (c.State != "" || env.DesiredState.Repo != "") {
		url, err := appURL(ctx, cfg, env, c.State, c.App)
		if err != nil {
			return err
		}
		c.URL = url
	}
	job := smoketest.Job{Options: c.Options, Namespace: orDefault(c.Namespace, c.Env), PipelineURL: rt.CI.PipelineURL}
	if c.FromResult != "" {
		prev, err := report.ReadJSON(c.FromResult)
		if err != nil {
			return exit.Mark(exit.Usage, fmt.Errorf("--from-result: %w", err))
		}
		job.Image = prev.Outputs["image-ref"]
	}
	if rt.Globals.DryRun {
		rt.Details = func(w io.Writer) error { return writePlannedChecks(w, job) }
		return nil
	}
	step := &smoketest.Step{Version: Version}
	if c.Wait || c.SoakFor() > 0 {
		step.Cluster = helm.Cluster{Kubeconfig: c.Kubeconfig, Context: c.KubeContext}
		step.Releases = helm.New(helm.Options{CacheDir: cacheDir("charts")})
		w, err := kube.WaiterFromKubeconfig(c.Kubeconfig, c.KubeContext, kube.WaiterOptions{Namespace: job.Namespace})
		if err != nil {
			return err
		}
		step.Workloads = w
	}
	if !c.NoEvidence {
		client, err := registryClient(ctx, rt, cfg)
		if err != nil {
			return err
		}
		key, opts, err := loadSigner(ctx, rt, cfg, client)
		if err != nil {
			return err
		}
		step.Attester = statementAttester{key: key, opts: opts}
	}
	out, err := step.Run(ctx, job)
	if out != nil {
		rt.Result.Checks = out.Checks
		if out.Image != "" {
			rt.Result.Image = out.Image
			if _, d, ok := strings.Cut(out.Image, "@"); ok {
				rt.Result.Digest = d
			}
		}
		if out.Attestation != "" {
			rt.Result.Outputs = map[string]string{"smoke-attestation": out.Attestation}
		}
	}
	return err
}

// statementAttester signs in-toto statements with the configured key.
type statementAttester struct {
	key  *signing.Key
	opts signing.Options
}

func (a statementAttester) Attest(ctx context.Context, img name.Digest, st signing.Statement) (string, error) {
	return signing.Attest(ctx, a.key, img, st, a.opts)
}

// writePlannedChecks is --dry-run: the checks, without running them.
func writePlannedChecks(w io.Writer, job smoketest.Job) error {
	fmt.Fprintf(w, "smoke-test %s/%s would run:\n", job.Env, job.App)
	if job.Wait {
		fmt.Fprintf(w, "  wait for release %s/%s to roll out (kstatus, fail fast, timeout %s)\n", job.Namespace, job.App, job.Timeout)
	}
	if job.URL != "" {
		for _, p := range job.HealthPaths {
			fmt.Fprintf(w, "  GET %s%s answers 200\n", strings.TrimRight(job.URL, "/"), p)
		}
		for _, c := range job.Check {
			fmt.Fprintf(w, "  check %s against %s\n", c, job.URL)
		}
		if job.B3Path != "" {
			fmt.Fprintf(w, "  B3 headers sent to %s%s reach the capture endpoint on %s\n", strings.TrimRight(job.URL, "/"), job.B3Path, job.B3Listen)
		}
	}
	if job.SoakFor() > 0 {
		fmt.Fprintf(w, "  no pod restarts during a %s soak\n", job.SoakFor())
	}
	if !job.NoEvidence {
		fmt.Fprintln(w, "  then attach signed smoke-test evidence to the image digest")
	}
	return nil
}

// appURL is https:// and the app's host name, as its DNS values say in the
// environment's desired state (values.dns keys; ingress.host by default). A
// value that already carries a scheme is taken as it is.
func appURL(ctx context.Context, cfg *config.Config, env *config.Environment, state, app string) (string, error) {
	doc, _, cleanup, err := loadState(ctx, cfg, env, state)
	if err != nil {
		return "", err
	}
	defer cleanup()
	a, err := doc.App(app)
	if err != nil {
		return "", exit.Mark(exit.Usage, fmt.Errorf("smoke-test: %w", err))
	}
	keys := make([]string, 0, len(a.Config.DNS))
	for k := range a.Config.DNS {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	// Host keys first: TLS entries may hold secret names.
	slices.SortStableFunc(keys, func(x, y string) int {
		return cmpBool(strings.Contains(y, "host"), strings.Contains(x, "host"))
	})
	for _, k := range keys {
		v := strings.TrimSpace(a.Config.DNS[k])
		if strings.Contains(v, "://") {
			return strings.TrimRight(v, "/"), nil
		}
		if strings.Contains(v, ".") && !strings.ContainsAny(v, " /") {
			return "https://" + v, nil
		}
	}
	return "", exit.Usagef("smoke-test %s/%s: the desired state gives the app no host name (values.dns keys); pass --url", env.Name, app)
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}
