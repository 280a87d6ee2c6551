package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stepper-cd/stepper/internal/testenv"
)

// BenchmarkStartup measures what every CI job pays before stepper does any
// work: the wall time and peak memory of `stepper version`, next to the
// official helm (v4) and cosign CLIs measured in the same run. The target is
// at most half of helm's time and memory.
func BenchmarkStartup(b *testing.B) {
	stepper := filepath.Join(b.TempDir(), "stepper")
	if out, err := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", stepper, ".").CombinedOutput(); err != nil {
		b.Fatalf("build stepper: %v\n%s", err, out)
	}
	cmds := []struct {
		name string
		argv []string
	}{
		{"stepper", []string{stepper, "version"}},
		{"helm", []string{testenv.RequireTool(b, "helm"), "version"}},
		{"cosign", []string{testenv.RequireTool(b, "cosign"), "version"}},
	}
	// Warm the page cache so the first run is not an outlier.
	for _, c := range cmds {
		run(b, c.argv)
	}
	wall := make([]time.Duration, len(cmds))
	peak := make([]int64, len(cmds))
	b.ResetTimer()
	for b.Loop() {
		// Interleave the tools so machine noise hits them alike.
		for i, c := range cmds {
			d, rss := run(b, c.argv)
			wall[i] += d
			peak[i] = max(peak[i], rss)
		}
	}
	n := float64(b.N)
	ms := func(i int) float64 { return float64(wall[i].Microseconds()) / 1000 / n }
	mib := func(i int) float64 { return float64(peak[i]) / 1024 }
	for i, c := range cmds {
		b.ReportMetric(ms(i), c.name+"-ms")
		b.ReportMetric(mib(i), c.name+"-peak-MiB")
	}
	// Ratios against helm v4: the target is <= 0.5 for both.
	b.ReportMetric(ms(0)/ms(1), "time-vs-helm")
	b.ReportMetric(mib(0)/mib(1), "mem-vs-helm")
	b.ReportMetric(0, "ns/op") // per-op time covers three tools; the metrics above are the figures
}

// run executes argv once under GNU time (Debian package time) and returns its wall time and peak
// RSS in KiB. The peak comes from GNU time, not from this process's wait4: a
// child forked from the (large) test binary shares its memory until exec,
// and Linux counts that in the child's maxrss.
func run(b *testing.B, argv []string) (time.Duration, int64) {
	b.Helper()
	rssFile := filepath.Join(b.TempDir(), "rss")
	cmd := exec.Command(testenv.RequireTool(b, "time"), append([]string{"-f", "%M", "-o", rssFile}, argv...)...)
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("%v: %v\n%s", argv, err, out)
	}
	d := time.Since(start)
	raw, err := os.ReadFile(rssFile)
	if err != nil {
		b.Fatal(err)
	}
	rss, err := strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64)
	if err != nil {
		b.Fatalf("GNU time wrote %q: %v", raw, err)
	}
	return d, rss
}
