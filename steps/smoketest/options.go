// Package smoketest is the smoke-test step: prove a deployed release is
// healthy (rolled out, endpoints answering, tracing headers propagated, no
// restarts) and record the evidence that promotion later requires.
package smoketest

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Options are the inputs of smoke-test.
type Options struct {
	Env               string         `required:"" placeholder:"ENV" help:"Environment the release runs in."`
	App               string         `placeholder:"NAME" help:"Application (release) name. Defaults to the CI project name."`
	URL               string         `name:"url" placeholder:"URL" help:"Base URL of the app, like http://127.0.0.1:8080 for a local run. Default: https:// and the app's host name (its DNS values) in the environment's desired state."`
	State             string         `placeholder:"PATH" type:"path" help:"A local checkout of the desired state, to read the app's host name from, instead of cloning desiredState.repo."`
	Check             []string       `sep:"none" placeholder:"PATH [status=N] [method=M] [body=TEXT] [json=FIELD=VALUE]" help:"An HTTP check against --url; repeatable."`
	HealthPaths       []string       `name:"health-path" placeholder:"PATH" help:"Liveness and readiness endpoints that must answer 200; repeatable. Default smokeTest.healthPaths, else /healthz."`
	B3Path            string         `name:"b3-path" placeholder:"PATH" help:"An endpoint that calls the app's downstream: the B3 propagation check sends X-B3-* headers there and expects them at the capture endpoint."`
	B3Listen          string         `name:"b3-listen" placeholder:"ADDR" help:"Address of the capture endpoint the app's downstream URL points at during the test. Default smokeTest.b3Listen, else 127.0.0.1:0."`
	Soak              *time.Duration `help:"How long pod restarts must stay at zero after the checks pass (0 skips the soak). Default smokeTest.soak, else 10s."`
	Wait              bool           `default:"true" negatable:"" help:"Wait for the app's workloads to be rolled out and ready (kstatus, fail fast) before checking."`
	Namespace         string         `placeholder:"NS" help:"Namespace of the release; default the app's namespace in the environment's desired state, else the environment's name."`
	Kubeconfig        string         `placeholder:"FILE" type:"path" env:"KUBECONFIG" help:"The cluster's kubeconfig."`
	KubeContext       string         `placeholder:"NAME" help:"The kubeconfig context."`
	Image             string         `placeholder:"IMAGE@DIGEST" help:"Image the evidence is attached to. Default: the image of the app's workload."`
	FromResult        string         `placeholder:"FILE" type:"existingfile" help:"Take the image from build-sign-push's --result file."`
	RequestTimeout    time.Duration  `default:"5s" help:"Timeout of one HTTP request."`
	Timeout           time.Duration  `default:"5m" help:"How long the release may take to become healthy: rollout, then each check's retries."`
	RollbackOnFailure bool           `help:"Roll the app back when the smoke test fails."`
	NoEvidence        bool           `help:"Do not attach the signed smoke-test attestation (local runs without the signing key)."`
}

// Validate checks the combination of inputs.
func (o *Options) Validate() error {
	if o.URL != "" {
		p, err := url.Parse(o.URL)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return fmt.Errorf("--url %q: want an http:// or https:// URL", o.URL)
		}
	}
	for _, c := range o.Check {
		if _, err := ParseCheck(c); err != nil {
			return err
		}
	}
	if o.Image != "" && o.FromResult != "" {
		return fmt.Errorf("--image and --from-result both name the image: give one")
	}
	if o.Timeout <= 0 || o.RequestTimeout <= 0 || (o.Soak != nil && *o.Soak < 0) {
		return fmt.Errorf("--timeout and --request-timeout must be positive, --soak not negative")
	}
	return nil
}

// CheckSpec is one --check.
type CheckSpec struct {
	Path, Method, Body, JSONField, JSONEquals string
	Status                                    int
}

// ParseCheck reads "PATH [status=N] [method=M] [body=TEXT] [json=FIELD=VALUE]".
func ParseCheck(s string) (CheckSpec, error) {
	f := strings.Fields(s)
	if len(f) == 0 || !strings.HasPrefix(f[0], "/") {
		return CheckSpec{}, fmt.Errorf("--check %q: start with the path, like /api/ping status=200", s)
	}
	c := CheckSpec{Path: f[0], Method: "GET", Status: 200}
	for _, kv := range f[1:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return CheckSpec{}, fmt.Errorf("--check %q: %q is not KEY=VALUE (status, method, body, json)", s, kv)
		}
		switch k {
		case "status":
			n, err := strconv.Atoi(v)
			if err != nil || n < 100 || n > 599 {
				return CheckSpec{}, fmt.Errorf("--check %q: status %q is not an HTTP status", s, v)
			}
			c.Status = n
		case "method":
			c.Method = strings.ToUpper(v)
		case "body":
			c.Body = v
		case "json":
			c.JSONField, c.JSONEquals, _ = strings.Cut(v, "=")
		default:
			return CheckSpec{}, fmt.Errorf("--check %q: unknown key %q (status, method, body, json)", s, k)
		}
	}
	return c, nil
}

// Defaults fills what the flags left unset from the configuration's
// smokeTest keys, then from stepper's own defaults.
func (o *Options) Defaults(healthPaths, checks []string, b3Path, b3Listen, soak string) error {
	if len(o.HealthPaths) == 0 {
		o.HealthPaths = healthPaths
	}
	if len(o.HealthPaths) == 0 {
		o.HealthPaths = []string{"/healthz"}
	}
	if len(o.Check) == 0 {
		o.Check = checks
	}
	if o.B3Path == "" {
		o.B3Path = b3Path
	}
	if o.B3Listen == "" {
		o.B3Listen = b3Listen
	}
	if o.B3Listen == "" {
		o.B3Listen = "127.0.0.1:0"
	}
	if o.Soak == nil {
		d := 10 * time.Second
		if soak != "" {
			var err error
			if d, err = time.ParseDuration(soak); err != nil {
				return fmt.Errorf("smokeTest.soak %q: %v", soak, err)
			}
		}
		o.Soak = &d
	}
	for _, c := range o.Check {
		if _, err := ParseCheck(c); err != nil {
			return err
		}
	}
	return nil
}

// SoakFor is the soak duration once Defaults ran.
func (o *Options) SoakFor() time.Duration {
	if o.Soak == nil {
		return 0
	}
	return *o.Soak
}
