package cli

import (
	"bytes"
	"context"
	"io"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/stepper-cd/stepper/internal/config"
	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/kube"
	"github.com/stepper-cd/stepper/internal/report"
	"github.com/stepper-cd/stepper/steps/status"
)

// StatusCmd is `stepper status`.
type StatusCmd struct {
	status.Options `embed:""`
}

// Help is the long help of the command.
func (StatusCmd) Help() string {
	return `The environment × app board: for every app in every environment of the
chain (or --env, --app), what its desired state names and what stands
behind it, read now:
  - the release: image tag and digest, chart version;
  - its evidence, verified in the registry with the approved keys: signed,
    validated, and smoke-tested in this environment since it landed;
  - who landed it, how (deploy, promote, rollback) and when, from the
    desired-state history, linked to the commit and its pipeline;
  - whether it may be promoted to the next environment: the next
    environment's gates asked exactly as promote asks them, and the gate
    that stops it;
  - holds and rollbacks;
  - with --kubeconfig, drift: the Helm release's revision and status, the
    images it runs and whether its workloads are ready, against the
    desired release.

Each desired state is read once; evidence is looked up for many apps at
once (--concurrency), each image once for the whole board. status only
reads. Text is a table; -o json the whole board; --html FILE a
self-contained page whose every cell links to its evidence.

Examples:

    stepper status
    stepper status --env exttest --app patient-api -o json
    stepper status --html public/index.html
    stepper status --env inttest --kubeconfig ~/.kube/inttest
`
}

// Run reads the board and prints it.
func (c *StatusCmd) Run(ctx context.Context, rt *Runtime, cfg *config.Config, clients *Clients) error {
	if c.Env != "" {
		if _, err := rt.resolveEnv(cfg, c.Env); err != nil {
			return err
		}
	}
	rt.Result.App = c.App
	gates, err := clients.Gates()
	if err != nil {
		return err
	}
	reg, err := clients.Registry()
	if err != nil {
		return err
	}
	step := &status.Step{States: clients.Checkouts(), Evidence: gates, Registry: reg}
	if c.Kubeconfig != "" {
		step.Releases = clients.Helm()
		step.Workloads = &namespacedWaiters{kubeconfig: c.Kubeconfig, context: c.KubeContext}
	}
	board, err := step.Run(ctx, status.Job{Options: c.Options, Config: cfg})
	if err != nil {
		return err
	}
	rt.Result.Details = board
	rt.Details = func(w io.Writer) error { return status.WriteText(w, board) }
	if c.HTML != "" {
		var b bytes.Buffer
		if err := status.WriteHTML(&b, board); err != nil {
			return err
		}
		if err := report.WriteFileAtomic(c.HTML, []byte(rt.Secrets.Mask(b.String()))); err != nil {
			return exit.Usagef("--html %s: %v", c.HTML, err)
		}
	}
	return nil
}

// namespacedWaiters are kube waiters for the cluster of a kubeconfig, one
// per namespace (where a release's objects that name none live), made
// when first asked for.
type namespacedWaiters struct {
	kubeconfig, context string
	mu                  sync.Mutex
	waiters             map[string]*kube.Waiter
}

// Wait implements status.Workloads.
func (n *namespacedWaiters) Wait(ctx context.Context, namespace string, objects []*unstructured.Unstructured, timeout time.Duration) error {
	n.mu.Lock()
	w, ok := n.waiters[namespace]
	if !ok {
		var err error
		if w, err = kube.WaiterFromKubeconfig(n.kubeconfig, n.context, kube.WaiterOptions{Namespace: namespace}); err != nil {
			n.mu.Unlock()
			return err
		}
		if n.waiters == nil {
			n.waiters = map[string]*kube.Waiter{}
		}
		n.waiters[namespace] = w
	}
	n.mu.Unlock()
	return w.Wait(ctx, objects, timeout)
}
