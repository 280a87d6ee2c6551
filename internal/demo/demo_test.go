package demo_test

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stepper-cd/stepper/internal/demo"
	"github.com/stepper-cd/stepper/internal/local"
	"github.com/stepper-cd/stepper/internal/testenv"
)

// TestDemo runs what `make demo` runs, on both eHealth chains, the shop and
// the government's layout: every phase through the stepper binary against
// a local clone with the control plane, the demo checking the registry,
// the desired-state repositories and the cluster after each. They run one
// after the other: each starts its own control plane.
func TestDemo(t *testing.T) {
	for _, tool := range append((local.Options{SkipRegistry: true}).Tools(), "go") {
		testenv.RequireTool(t, tool)
	}
	bin := filepath.Join(t.TempDir(), "stepper")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/stepper-cd/stepper/cmd/stepper").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	source, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		platform, chain string
		// want are lines of the narration that show the platform's own
		// routes were taken.
		want []string
	}{
		{"ehealth", "internal", []string{"merged !1", "Jenkins build #1 of ehealth-promote-prod succeeded", "rolled-back"}},
		{"ehealth", "vendor", []string{"merged !1", "Jenkins build #1 of ehealth-promote-prod succeeded", "rolled-back"}},
		{"shop", "release", []string{"image automation", "master-1.0.0", "rolled-back"}},
		{"gov", "release", []string{"merged !1", "hocs/deploy-prod", "rolled-back"}},
	} {
		t.Run(c.platform+"-"+c.chain, func(t *testing.T) {
			var out bytes.Buffer
			dir := t.TempDir()
			steps, err := demo.Run(t.Context(), demo.Options{Bin: bin, Source: source, Dir: dir, Platform: c.platform, Chain: c.chain, Out: &out})
			if err != nil {
				t.Fatalf("%v\n%s", err, tail(out.String(), 80))
			}
			if len(steps) < 8 {
				t.Errorf("%d phases ran, want at least 8", len(steps))
			}
			for _, want := range append([]string{"━━ done ━━", "total"}, c.want...) {
				if !strings.Contains(out.String(), want) {
					t.Errorf("the narration lacks %q", want)
				}
			}
			if _, err := local.ReadState(filepath.Join(dir, "clone")); err != nil {
				t.Error(err)
			}
			t.Logf("%s", tail(out.String(), 14))
		})
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
