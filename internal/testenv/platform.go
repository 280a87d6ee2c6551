package testenv

import (
	"context"
	"os"
	"sync"
	"testing"

	"github.com/stepper-cd/stepper/internal/local"
)

// The platform's components live in package local, which the stepper
// binary runs for `stepper local`; these names keep the tests' spelling.
type (
	Platform      = local.Platform
	Options       = local.Options
	Registry      = local.Registry
	GitServer     = local.GitServer
	AuthGitServer = local.AuthGitServer
	Repo          = local.Repo
	Kube          = local.Kube
	KubeOptions   = local.KubeOptions
	Node          = local.Node
)

var (
	Start              = local.Start
	StartRegistry      = local.StartRegistry
	StartRegistryAuth  = local.StartRegistryAuth
	StartGitServer     = local.StartGitServer
	StartAuthGitServer = local.StartAuthGitServer
	StartKube          = local.StartKube
	DefaultNodes       = local.DefaultNodes
	Tool               = local.Tool
	CacheDir           = local.CacheDir
	EnvNames           = local.EnvNames
	BaseImage          = local.BaseImage
	PushBaseImage      = local.PushBaseImage
	FluxCRDDir         = local.FluxCRDDir
)

const (
	BaseImageUID         = local.BaseImageUID
	ChaosFailBeforeReady = local.ChaosFailBeforeReady
	ChaosFailAfterReady  = local.ChaosFailAfterReady
)

// RequireTool returns the path of a tool a test needs. A missing tool skips
// the test on a developer machine and fails it under CI=true, where every
// tool is expected to be installed.
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	path, err := Tool(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	return path
}

// RequireFluxCRDDir is FluxCRDDir for tests: it skips, or fails under CI=true.
func RequireFluxCRDDir(t testing.TB) string {
	t.Helper()
	dir, err := FluxCRDDir()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	return dir
}

// StartForTest starts a platform for one test in a temporary directory and
// stops it when the test ends. A missing tool skips the test, or fails it
// under CI=true. For one platform per package, see Shared.
func StartForTest(t testing.TB, opts Options) *Platform {
	t.Helper()
	for _, tool := range opts.Tools() {
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
	for _, tool := range s.opts.Tools() {
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
