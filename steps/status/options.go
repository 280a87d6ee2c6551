// Package status is the status step: the environment × app board. For
// each app in each environment of the chain it reads the desired release,
// verifies its evidence in the registry now (signed, validated,
// smoke-tested there), tells who landed it and when, whether it may be
// promoted to the next environment and which gate stops it, its holds and
// rollbacks, and, given the cluster, what runs there against what is
// desired. It only reads: nothing is written anywhere.
package status

import (
	"fmt"
	"time"
)

// Options are the inputs of status.
type Options struct {
	Env string `placeholder:"ENV" help:"Only this environment of the chain (the next one is read too, for what stops a promotion into it)."`
	App string `placeholder:"NAME" help:"Only this app."`
	// HTML is where the page goes; the CLI writes it.
	HTML  string `name:"html" placeholder:"FILE" type:"path" help:"Also write the board as one self-contained HTML page (no external assets), every cell linking to its evidence: a GitLab Pages or Jenkins HTML-publisher artifact."`
	Depth int    `default:"200" help:"How many of the newest desired-state commits of each environment to read for who landed what, holds and rollbacks."`

	Kubeconfig  string        `placeholder:"FILE" type:"path" help:"Show drift: what the cluster runs (Helm revision, ready or not) against the desired state. The cluster holds every environment shown, each app in its namespace (the environment's name when the desired state names none); with a cluster per environment, give --env."`
	KubeContext string        `placeholder:"NAME" help:"With --kubeconfig: the kubeconfig context."`
	ReadyWait   time.Duration `default:"2s" help:"With --kubeconfig: how long to watch an app's workloads for readiness before calling it not ready."`

	Concurrency int `default:"16" help:"How many apps' evidence is looked up at once."`
}

// Validate checks the combination of inputs.
func (o *Options) Validate() error {
	if o.Depth < 1 {
		return fmt.Errorf("--depth %d: read at least one commit", o.Depth)
	}
	if o.Concurrency < 1 {
		return fmt.Errorf("--concurrency %d: look up at least one app at a time", o.Concurrency)
	}
	if o.Kubeconfig == "" && o.KubeContext != "" {
		return fmt.Errorf("--kube-context goes with --kubeconfig")
	}
	if o.ReadyWait <= 0 {
		return fmt.Errorf("--ready-wait %s: give how long to watch, like 2s", o.ReadyWait)
	}
	return nil
}
