package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/stepper-cd/stepper/internal/testenv"
)

// BenchmarkRollbackGitOps5000Commits runs `stepper rollback --env prod
// --app app-042 --reason bench`, in process, as a GitLab CI job on a
// runner whose git cache is warm, on the promote benchmark's environment
// repository (5,000 commits, 200 apps): the app's release history read
// from the commit trailers of prod/dsf.yaml, the desired state before and
// after its newest release commit, the release returned to checked against
// the local registry (present, signed by an approved key) and its chart
// repository, the migration check, then the held reverse change committed
// and pushed over HTTP.
//
// Every op really rolls back: before it (not timed) a promotion of the
// other build lands in prod, lifting the last op's hold as stepper promote
// records it, and the op undoes it.
//
// Target: under 500 ms per rollback. registry-requests/op counts the HTTP
// round trips to the registry, through a proxy that only counts; the log
// breaks them down by kind.
func BenchmarkRollbackGitOps5000Commits(b *testing.B) {
	f := newEnvRepoBench(b)
	// prod runs builds[1]; each op lands builds[0] over it and rolls back.
	good := f.builds[1]
	f.measure(b, "rollback", f.releaseInProd, f.rollback)
	if got := f.prodDigest(b); got != good.Digest {
		b.Errorf("prod runs %s after the last rollback, want %s", got, good.Digest)
	}
}

// releaseInProd lands the release before op i, builds[0], in prod, as
// stepper promote would have written it, straight into the repository:
// deployed to qa (op 0 only; it stays there) and promoted over the hold of
// the rollback before it. It fails the benchmark unless that rollback
// returned prod to builds[1].
func (f *envRepoBench) releaseInProd(b *testing.B, i int) {
	b.Helper()
	if got := f.prodDigest(b); got != f.builds[1].Digest {
		b.Fatalf("before op %d prod runs %s, want %s: the rollback before it did not land", i, got, f.builds[1].Digest)
	}
	hold := ""
	if i > 0 {
		var err error
		if hold, err = f.repo.Rev("master"); err != nil {
			b.Fatal(err)
		}
	}
	s := importStream{onMaster: true}
	at := time.Now().UTC()
	if f.state.qa[envRepoAppIndex] != f.builds[0] {
		s.deploy(f.state, envRepoAppIndex, f.builds[0], at)
	}
	s.promote(f.state, envRepoAppIndex, at, hold)
	s.run(b, f.repo.Dir)
	f.state.prod[envRepoAppIndex] = f.builds[1] // what the rollback writes
}

// rollback runs op i.
func (f *envRepoBench) rollback(b *testing.B, i int) {
	before := f.registry.total()
	r := runCLI(b, f.environ, "rollback", "-c", f.config, "--log-format", "json",
		"--env", "prod", "--app", envRepoApp, "--reason", "bench")
	if r.code != 0 {
		b.Fatalf("rollback %d: exit %d\n%s", i, r.code, r.stderr)
	}
	if f.registry.total() == before {
		b.Fatalf("rollback %d asked the registry nothing: the checks did not run", i)
	}
}

// BenchmarkRollbackAfterFailedRollout times the way back from a
// crash-looping upgrade on the local Kubernetes (kwok), both ways stepper
// offers, each to the restored release Ready:
//
//   - rollback-apply: after deploy --apply (without --rollback-on-failure)
//     reported the failed rollout and left the release failed (not timed;
//     s-to-detect/op), `stepper rollback --apply` until it returns, which is
//     once the restored revision is Ready (s-to-ready/op);
//   - deploy-rollback-on-failure: `stepper deploy --apply
//     --rollback-on-failure` of the crash-looping version from start to
//     return: the upgrade, the failure detected, the rollback and its wait
//     (s-to-restored/op).
//
// Run: go test ./internal/cli -run '^$' -bench RollbackAfterFailedRollout -benchtime 5x
func BenchmarkRollbackAfterFailedRollout(b *testing.B) {
	f := newApplyFixture(b)
	f.writeState(b, "chaos.yaml", chaosValues)
	healthy := func(ns string) dsfApp { return dsfApp{name: "records", ns: ns, version: "1.4.0"} }
	crashing := func(ns string) dsfApp {
		return dsfApp{name: "records", ns: ns, version: "1.5.0", valuesFiles: []string{"chaos.yaml"}}
	}
	// restored fails the benchmark unless the release runs the healthy
	// version again, Ready.
	restored := func(b *testing.B, ns string) {
		b.Helper()
		if h := f.history(b, "records", ns); !strings.HasSuffix(h, ":deployed") {
			b.Fatalf("history %q: the newest revision is not deployed", h)
		}
		if l := f.podLabel(b, "records", ns, testenv.ChaosFailBeforeReady); l != "" {
			b.Fatalf("the Deployment still runs the crashing version's pods (%s=%s)", testenv.ChaosFailBeforeReady, l)
		}
		f.ready(b, "records", ns)
	}

	b.Run("rollback-apply", func(b *testing.B) {
		ns := f.ns("rb-apply")
		f.apply(b, f.writeDSF(b, healthy(ns)))
		var detect, toReady time.Duration
		for b.Loop() {
			b.StopTimer()
			start := time.Now()
			if r := runCLI(b, f.environ, f.args(f.writeDSF(b, crashing(ns)))...); r.code != 1 {
				b.Fatalf("the crash-looping upgrade: exit %d, want 1\n%s", r.code, r.stderr)
			}
			detect += time.Since(start)
			if h := f.history(b, "records", ns); !strings.HasSuffix(h, ":failed") {
				b.Fatalf("after the failed upgrade: history %q, want the newest revision failed", h)
			}
			b.StartTimer()
			start = time.Now()
			r := runCLI(b, f.environ, "--config", f.config, "--log-format", "json", "rollback", "--env", applyEnv, "--app", "records",
				"--apply", "--namespace", ns, "--kubeconfig", f.kubeconfig, "--timeout", "2m", "--reason", "bench: crash loop")
			toReady += time.Since(start)
			if r.code != 0 {
				b.Fatalf("rollback --apply: exit %d\n%s", r.code, r.stderr)
			}
			b.StopTimer()
			restored(b, ns)
			b.StartTimer()
		}
		b.ReportMetric(toReady.Seconds()/float64(b.N), "s-to-ready/op")
		b.ReportMetric(detect.Seconds()/float64(b.N), "s-to-detect/op")
	})

	b.Run("deploy-rollback-on-failure", func(b *testing.B) {
		ns := f.ns("rb-deploy")
		f.apply(b, f.writeDSF(b, healthy(ns)))
		var toRestored time.Duration
		for b.Loop() {
			b.StopTimer()
			args := f.args(f.writeDSF(b, crashing(ns)), "--rollback-on-failure")
			b.StartTimer()
			start := time.Now()
			r := runCLI(b, f.environ, args...)
			toRestored += time.Since(start)
			if r.code != 1 || !strings.Contains(r.stderr, "rolled back to revision") {
				b.Fatalf("deploy --rollback-on-failure of the crash-looping version: exit %d, want 1 and rolled back\n%s", r.code, r.stderr)
			}
			b.StopTimer()
			restored(b, ns)
			b.StartTimer()
		}
		b.ReportMetric(toRestored.Seconds()/float64(b.N), "s-to-restored/op")
	})
}
