package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
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

// tools lists the executables the chosen components need.
func (o Options) tools() []string {
	var tools []string
	if !o.SkipRegistry {
		tools = append(tools, "docker-registry")
	}
	if !o.SkipReferrersRegistry {
		tools = append(tools, "go")
	}
	if !o.SkipGit {
		tools = append(tools, "git")
	}
	if !o.SkipKube {
		tools = append(tools, "etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "go")
	}
	return tools
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
// a first start may compile the referrers registry.
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
	env := map[string]string{"STEPPER_TEST_PLATFORM_DIR": p.Dir}
	if p.Registry != nil {
		env["STEPPER_TEST_REGISTRY"] = p.Registry.Host
	}
	if p.ReferrersRegistry != nil {
		env["STEPPER_TEST_REFERRERS_REGISTRY"] = p.ReferrersRegistry.Host
	}
	if p.Git != nil {
		env["STEPPER_TEST_GIT_URL"] = p.Git.URL
		env["STEPPER_TEST_GIT_DIR"] = p.Git.Dir
	}
	if p.Kube != nil {
		env["KUBECONFIG"] = p.Kube.Kubeconfig
		env["STEPPER_TEST_KUBE_SERVER"] = p.Kube.Server
	}
	return env
}

// EnvNames returns the names of Env in a stable order.
func EnvNames(env map[string]string) []string {
	names := make([]string, 0, len(env))
	for name := range env {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// StartForTest starts a platform for one test in a temporary directory and
// stops it when the test ends. A missing tool skips the test, or fails it
// under CI=true. For one platform per package, see Shared.
func StartForTest(t testing.TB, opts Options) *Platform {
	t.Helper()
	for _, tool := range opts.tools() {
		RequireTool(t, tool)
	}
	p, err := Start(t.Context(), t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	return p
}

// Shared is one platform for a whole test binary, started by the first test
// that asks for it. Stop it from TestMain:
//
//	var platform = testenv.NewShared(testenv.Options{SkipKube: true})
//
//	func TestMain(m *testing.M) {
//		code := m.Run()
//		platform.Stop()
//		os.Exit(code)
//	}
type Shared struct {
	opts Options
	once sync.Once
	dir  string
	p    *Platform
	err  error
}

// NewShared prepares a shared platform; nothing starts until Get.
func NewShared(opts Options) *Shared { return &Shared{opts: opts} }

// Get returns the shared platform, starting it on first use. A missing tool
// skips the calling test (fails it under CI=true); a failed start fails
// every test that asks.
func (s *Shared) Get(t testing.TB) *Platform {
	t.Helper()
	for _, tool := range s.opts.tools() {
		RequireTool(t, tool)
	}
	s.once.Do(func() {
		s.dir, s.err = os.MkdirTemp("", "stepper-testenv-")
		if s.err != nil {
			return
		}
		// Not the test's context: the platform outlives the first test.
		s.p, s.err = Start(context.Background(), s.dir, s.opts)
	})
	if s.err != nil {
		t.Fatalf("shared test platform: %v", s.err)
	}
	return s.p
}

// Stop stops the platform if it was started and removes its directory.
func (s *Shared) Stop() {
	s.p.Stop()
	if s.dir != "" {
		_ = os.RemoveAll(s.dir)
	}
}
