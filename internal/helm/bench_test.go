package helm_test

import (
	"testing"
	"time"

	"github.com/stepper-cd/stepper/internal/helm"
)

// BenchmarkRender50 renders a typical chart (Deployment, Service, HPA,
// PDB, ServiceAccount, ConfigMap, a hook Job) 50 times, as validating a
// desired state of 50 applications does, and reports milliseconds per 50.
func BenchmarkRender50(b *testing.B) {
	c := helm.New(helm.Options{CacheDir: b.TempDir()})
	ch, err := c.Load(b.Context(), helm.ChartRef{Path: "testdata/charts/web"})
	if err != nil {
		b.Fatal(err)
	}
	opts := helm.RenderOptions{Release: "web", Namespace: "prod", Set: []string{"replicaCount=3"}}
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		for range 50 {
			if _, err := c.Render(b.Context(), ch, opts); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(time.Since(start).Milliseconds())/float64(b.N), "ms/50")
}
