package local

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// Options choose the platform's components; the zero value starts all.
type Options struct {
	SkipRegistry          bool
	SkipReferrersRegistry bool
	SkipGit               bool
	SkipKube              bool
	Kube                  KubeOptions
}

// Tools lists the executables the chosen components need.
func (o Options) Tools() []string {
	var tools []string
	if !o.SkipRegistry {
		tools = append(tools, "docker-registry")
	}
	if !o.SkipGit {
		tools = append(tools, "git")
	}
	if !o.SkipKube {
		tools = append(tools, "etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
	}
	return tools
}

// components names what the options start, for progress lines.
func (o Options) components() []string {
	var c []string
	if !o.SkipRegistry {
		c = append(c, "docker-registry")
	}
	if !o.SkipReferrersRegistry {
		c = append(c, "the registry with the referrers API")
	}
	if !o.SkipGit {
		c = append(c, "git")
	}
	if !o.SkipKube {
		c = append(c, "Kubernetes (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok)")
	}
	return c
}

// Platform is the set of running components; a skipped one is nil.
type Platform struct {
	// Registry has no referrers API (docker-registry 2.8).
	Registry *Registry
	// ReferrersRegistry implements the referrers API.
	ReferrersRegistry *Registry
	Git               *GitServer
	Kube              *Kube
	// Dir holds every component's data and logs.
	Dir string
}

// startTimeout bounds a start when the caller's context has no deadline;
// building nothing, it is generous for a loaded machine.
const startTimeout = 3 * time.Minute

// Start starts the chosen components concurrently under dir, one
// subdirectory each, and returns once all are ready. On failure nothing is
// left running.
func Start(ctx context.Context, dir string, opts Options) (*Platform, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("start platform: %w", err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, startTimeout)
		defer cancel()
	}
	p := &Platform{Dir: dir}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	start := func(skip bool, name string, run func(dir string) error) {
		if skip {
			return
		}
		wg.Go(func() {
			if err := run(filepath.Join(dir, name)); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	start(opts.SkipRegistry, "registry", func(dir string) (err error) {
		p.Registry, err = StartRegistry(ctx, dir, false)
		return err
	})
	start(opts.SkipReferrersRegistry, "referrers-registry", func(dir string) (err error) {
		p.ReferrersRegistry, err = StartRegistry(ctx, dir, true)
		return err
	})
	start(opts.SkipGit, "git", func(dir string) (err error) {
		p.Git, err = StartGitServer(ctx, dir)
		return err
	})
	start(opts.SkipKube, "kube", func(dir string) (err error) {
		p.Kube, err = StartKube(ctx, dir, opts.Kube)
		return err
	})
	wg.Wait()
	if len(errs) > 0 {
		p.Stop()
		return nil, fmt.Errorf("start platform in %s: %w", dir, errors.Join(errs...))
	}
	return p, nil
}

// Stop stops every component; the data stays in Dir.
func (p *Platform) Stop() {
	if p != nil {
		stopAll(p.Registry, p.ReferrersRegistry, p.Git, p.Kube)
	}
}

// Env describes the running platform as environment variables, the
// contract with the demo and with tests run against `platform up`.
func (p *Platform) Env() map[string]string {
	env := map[string]string{"STEPPER_LOCAL_DIR": p.Dir}
	if p.Registry != nil {
		env["STEPPER_LOCAL_REGISTRY"] = p.Registry.Host
	}
	if p.ReferrersRegistry != nil {
		env["STEPPER_LOCAL_REFERRERS_REGISTRY"] = p.ReferrersRegistry.Host
	}
	if p.Git != nil {
		env["STEPPER_LOCAL_GIT_URL"] = p.Git.URL
		env["STEPPER_LOCAL_GIT_DIR"] = p.Git.Dir
	}
	if p.Kube != nil {
		env["KUBECONFIG"] = p.Kube.Kubeconfig
		env["STEPPER_LOCAL_KUBE_SERVER"] = p.Kube.Server
	}
	return env
}

// EnvVars are the variables of this package that start with STEPPER_ but
// are no configuration keys, which stepper's configuration ignores: every
// variable Env may set but KUBECONFIG, and the cache's (see CacheDir and
// Tool).
var EnvVars = []string{"STEPPER_LOCAL_DIR", "STEPPER_LOCAL_REGISTRY", "STEPPER_LOCAL_REFERRERS_REGISTRY",
	"STEPPER_LOCAL_GIT_URL", "STEPPER_LOCAL_GIT_DIR", "STEPPER_LOCAL_KUBE_SERVER", "STEPPER_CACHE", "STEPPER_TOOLS_BIN"}

// EnvNames returns the names of Env in a stable order.
func EnvNames(env map[string]string) []string {
	names := make([]string, 0, len(env))
	for name := range env {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}
