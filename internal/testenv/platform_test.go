package testenv_test

import (
	"context"
	"os"
	"testing"

	"github.com/stepper-cd/stepper/internal/testenv"
)

// platform is shared by every test in this package: starting it once keeps
// the package fast.
var platform = testenv.NewShared(testenv.Options{})

func TestMain(m *testing.M) {
	code := m.Run()
	platform.Stop()
	os.Exit(code)
}

func TestPlatformEnv(t *testing.T) {
	p := platform.Get(t)
	env := p.Env()
	for _, name := range []string{
		"STEPPER_LOCAL_REGISTRY", "STEPPER_LOCAL_REFERRERS_REGISTRY",
		"STEPPER_LOCAL_GIT_URL", "STEPPER_LOCAL_GIT_DIR", "KUBECONFIG",
	} {
		if env[name] == "" {
			t.Errorf("Env()[%s] is empty; env: %v", name, env)
		}
	}
	if _, err := os.Stat(env["KUBECONFIG"]); err != nil {
		t.Errorf("kubeconfig: %v", err)
	}
}

func BenchmarkPlatformStart(b *testing.B) {
	for _, tool := range []string{"docker-registry", "git", "go", "etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"} {
		testenv.RequireTool(b, tool)
	}
	for b.Loop() {
		p, err := testenv.Start(context.Background(), b.TempDir(), testenv.Options{})
		if err != nil {
			b.Fatal(err)
		}
		p.Stop()
	}
}
