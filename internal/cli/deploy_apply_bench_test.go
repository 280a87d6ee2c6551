package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stepper-cd/stepper/internal/testenv"
)

// Peers of `stepper deploy --apply`, measured in the same run on the local
// platform (kube-apiserver with kwok nodes), each to every Deployment
// Ready:
//
//   - helmfile: `helmfile sync` of the same releases (helmDefaults wait,
//     releases side by side), with the helm v4 CLI;
//   - helm-loop: what Helmsman does, `helm upgrade --install --wait
//     --timeout 5m` per app, one after another, with the helm v4 CLI.
//
// Run: go test ./internal/cli -run '^$' -bench 'Apply20Apps|FailureDetection' -benchtime 1x

// applyBenchApps is how many apps BenchmarkApply20Apps deploys.
const applyBenchApps = 20

// benchReleases are applyBenchApps apps in four namespaces named after round,
// so that every round installs.
func benchReleases(f *applyFixture, round string) []dsfApp {
	apps := make([]dsfApp, applyBenchApps)
	for i := range apps {
		apps[i] = dsfApp{name: fmt.Sprintf("app-%02d", i), ns: f.ns(fmt.Sprintf("%s-%d", round, i%4)), version: "1.4.0"}
	}
	return apps
}

// benchSet are the values of every benchmark release, as helm --set.
const benchSet = "image.repository=registry.example/vendor/patient-api,image.tag=2.6.1,autoscaling.enabled=false,replicaCount=2"

// BenchmarkApply20Apps installs 20 apps (fresh namespaces each op) with
// stepper, helmfile sync and a Helmsman-like helm loop. Target: stepper at
// most a third of the better peer.
func BenchmarkApply20Apps(b *testing.B) {
	f := newApplyFixture(b)
	round := 0
	next := func(tool string) []dsfApp {
		round++
		return benchReleases(f, fmt.Sprintf("%s%d", tool, round))
	}

	b.Run("stepper", func(b *testing.B) {
		for b.Loop() {
			f.apply(b, f.writeDSF(b, next("st")...))
		}
	})

	b.Run("helmfile-sync", func(b *testing.B) {
		dir := b.TempDir()
		for b.Loop() {
			var hf strings.Builder
			fmt.Fprintf(&hf, "repositories:\n  - name: local\n    url: %s\nhelmDefaults:\n  wait: true\n  timeout: 300\n  createNamespace: true\nreleases:\n", f.repoURL)
			for _, a := range next("hf") {
				fmt.Fprintf(&hf, "  - name: %s\n    namespace: %s\n    chart: local/patient-api\n    version: %s\n    values:\n"+
					"      - image: {repository: registry.example/vendor/patient-api, tag: \"2.6.1\"}\n"+
					"        autoscaling: {enabled: false}\n        replicaCount: 2\n", a.name, a.ns, a.version)
			}
			path := filepath.Join(dir, "helmfile.yaml")
			if err := os.WriteFile(path, []byte(hf.String()), 0o644); err != nil {
				b.Fatal(err)
			}
			f.helmCLI(b, "helmfile", "--file", path, "--helm-binary", testenv.RequireTool(b, "helm"), "sync")
		}
	})

	b.Run("helm-loop", func(b *testing.B) {
		for b.Loop() {
			for _, a := range next("hl") {
				f.helmCLI(b, "helm", "upgrade", "--install", a.name, "patient-api", "--repo", f.repoURL, "--version", a.version,
					"-n", a.ns, "--create-namespace", "--wait", "--timeout", "5m", "--set", benchSet)
			}
		}
	})
}

// helmPeerTimeout caps the helm peer of BenchmarkFailureDetection. Helm's
// own waiter does not fail fast: a crash-looping rollout keeps it waiting
// for the whole --timeout (5m in Helmsman's loop), so the peer's ns/op is
// this cap, and its real time at least 5m.
const helmPeerTimeout = 60 * time.Second

// BenchmarkFailureDetection upgrades a healthy release to a version whose
// pods fail before they are Ready, until the tool reports the failure:
// stepper (fail fast) vs `helm upgrade --wait --timeout 60s` (see
// helmPeerTimeout: the peer's figure is a lower bound). Target: stepper
// under 15s.
func BenchmarkFailureDetection(b *testing.B) {
	f := newApplyFixture(b)
	f.writeState(b, "chaos.yaml", chaosValues)

	b.Run("stepper", func(b *testing.B) {
		ns := f.ns("fd-stepper")
		f.apply(b, f.writeDSF(b, dsfApp{name: "records", ns: ns, version: "1.4.0"}))
		broken := f.writeDSF(b, dsfApp{name: "records", ns: ns, version: "1.5.0", valuesFiles: []string{"chaos.yaml"}})
		for b.Loop() {
			if r := runCLI(b, f.environ, f.args(broken)...); r.code != 1 {
				b.Fatalf("exit %d, want 1\n%s", r.code, r.stderr)
			}
		}
	})

	b.Run("helm-upgrade-wait-60s", func(b *testing.B) {
		ns := f.ns("fd-helm")
		f.helmCLI(b, "helm", "upgrade", "--install", "records", "patient-api", "--repo", f.repoURL, "--version", "1.4.0",
			"-n", ns, "--create-namespace", "--wait", "--timeout", "5m", "--set", benchSet)
		for b.Loop() {
			out, err := f.helmCmd(b, "helm", "upgrade", "records", "patient-api", "--repo", f.repoURL, "--version", "1.5.0",
				"-n", ns, "--wait", "--timeout", helmPeerTimeout.String(), "--set", benchSet, "-f", filepath.Join(f.state, "chaos.yaml")).CombinedOutput()
			if err == nil {
				b.Fatalf("helm upgrade of the crashing version succeeded:\n%s", out)
			}
		}
		b.ReportMetric(helmPeerTimeout.Seconds(), "timeout-s")
	})
}
