package registry_test

import (
	"testing"
	"time"

	"github.com/stepper-cd/stepper/internal/registry"
)

// BenchmarkRepushUnchanged pushes a 50 MiB image again to the repository
// that has it, the common case of a pipeline re-run. Target: 0 bytes and
// well under 300 ms per push.
func BenchmarkRepushUnchanged(b *testing.B) {
	reg := platform.Get(b).Registry
	c := registry.New(registry.Options{})
	img := randomImage(b, 10<<20, 5)
	repo := reg.Host + "/bench/repush"
	if _, err := c.Push(b.Context(), repo, img); err != nil {
		b.Fatal(err)
	}
	var sent int64
	start := time.Now()
	for b.Loop() {
		pushed, err := c.Push(b.Context(), repo, img)
		if err != nil {
			b.Fatal(err)
		}
		sent += pushed.BytesUploaded
	}
	if sent != 0 {
		b.Fatalf("re-pushing an unchanged image sent %d bytes", sent)
	}
	b.ReportMetric(float64(sent)/float64(b.N), "bytes/op")
	b.ReportMetric(float64(time.Since(start).Milliseconds())/float64(b.N), "ms/op")
}
