package helm

import (
	"strings"
	"testing"
	"time"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/testenv"
)

// An index bigger than the limit is refused before it is parsed, with an
// error that says what is wrong.
func TestReadIndexRefusesOversizedIndex(t *testing.T) {
	body := "apiVersion: v1\nentries:\n" + strings.Repeat("  # padding\n", 200)
	_, _, err := readIndex("https://charts.example", "https://charts.example/index.yaml", strings.NewReader(body), 1024)
	if err == nil || exit.ClassOf(err) != exit.Infra || !strings.Contains(err.Error(), "larger than 1024 bytes") {
		t.Fatalf("readIndex(oversized) = %v, want a size error", err)
	}
	idx, size, err := readIndex("https://charts.example", "https://charts.example/index.yaml", strings.NewReader(body), int64(len(body)))
	if err != nil || idx == nil || size != len(body) {
		t.Fatalf("readIndex(at the limit) = %v, %d, %v", idx, size, err)
	}
}

// A chart repository that accepts the connection and never answers fails
// the fetch once the client's per-request timeout passes.
func TestSilentRepositoryTimesOut(t *testing.T) {
	addr := testenv.StartSilentServer(t)
	c := New(Options{CacheDir: t.TempDir(), Timeout: 100 * time.Millisecond})
	t.Cleanup(func() { _ = c.Close() })
	_, err := c.Versions(t.Context(), "http://"+addr, "web")
	if err == nil || exit.ClassOf(err) != exit.Infra || !strings.Contains(err.Error(), "Timeout") {
		t.Fatalf("Versions against a silent repository = %v (class %v), want an infrastructure timeout", err, exit.ClassOf(err))
	}
}
