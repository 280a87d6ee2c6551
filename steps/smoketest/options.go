// Package smoketest is the smoke-test step: prove a deployed release is
// healthy (rolled out, probes passing, endpoints answering) and record the
// evidence that promotion later requires.
package smoketest

import (
	"fmt"
	"net/url"
	"time"
)

// Options are the inputs of smoke-test.
type Options struct {
	Env          string        `required:"" placeholder:"ENV" help:"Environment the release runs in."`
	App          string        `placeholder:"NAME" help:"Application (release) name. Defaults to the CI project name."`
	URLs         []string      `name:"url" placeholder:"URL" help:"Endpoint that must answer; repeatable."`
	ExpectStatus int           `default:"200" help:"HTTP status every --url must return."`
	Timeout      time.Duration `default:"5m" help:"How long the release may take to become healthy."`
}

// Validate checks the combination of inputs.
func (o *Options) Validate() error {
	for _, u := range o.URLs {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return fmt.Errorf("--url %q: want an http:// or https:// URL", u)
		}
	}
	if o.ExpectStatus < 100 || o.ExpectStatus > 599 {
		return fmt.Errorf("--expect-status %d: not an HTTP status", o.ExpectStatus)
	}
	if o.Timeout <= 0 {
		return fmt.Errorf("--timeout %s: must be positive", o.Timeout)
	}
	return nil
}
