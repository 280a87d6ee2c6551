package cli

import (
	"testing"
	"time"
)

// BenchmarkPromote5000Commits runs `stepper promote --from qa --app
// app-042`, in process, as a GitLab CI job on a runner whose git cache is
// warm: who promotes (GitLab's answer for the job token, group
// membership), both desired states read, when the release landed in qa
// (the history of qa/dsf.yaml), every gate of prod against the local
// registry (signature, validate attestation, smoke-test attestation from
// qa within maxAge and after the soak, the rollback target present and
// signed, both chart versions available), then the commit with its audit
// trailers, pushed over HTTP. Before each op a deploy of the other of two
// signed builds lands in qa (not timed), so every op really promotes.
//
// Target: under 500 ms per promotion. registry-requests/op counts the HTTP
// round trips to the registry, through a proxy that only counts; the log
// breaks them down by kind.
func BenchmarkPromote5000Commits(b *testing.B) {
	f := newEnvRepoBench(b)
	want := f.builds[f.measure(b, "promotion", f.deployToQA, f.promote)%2]
	if got := f.prodDigest(b); got != want.Digest {
		b.Errorf("prod runs %s after the last promotion, want %s", got, want.Digest)
	}
}

// promote runs op i: the build deployed to qa before it moves into prod.
func (f *envRepoBench) promote(b *testing.B, i int) {
	before := f.registry.total()
	r := runCLI(b, f.environ, "promote", "-c", f.config, "--log-format", "json",
		"--from", "qa", "--app", envRepoApp, "--digest", f.builds[i%2].Digest)
	if r.code != 0 {
		b.Fatalf("promote %d: exit %d\n%s", i, r.code, r.stderr)
	}
	if f.registry.total() == before {
		b.Fatalf("promote %d asked the registry nothing: the gates did not run", i)
	}
}

// deployToQA lands the deploy before op i in qa, as stepper deploy would
// have written it, straight into the repository. It is dated a day
// before the run, so prod's 24h soak has passed, and before the smoke
// tests (attachEvidence).
func (f *envRepoBench) deployToQA(b *testing.B, i int) {
	s := importStream{onMaster: true}
	at := f.started.Add(-25*time.Hour + time.Duration(i)*time.Second)
	s.deploy(f.state, envRepoAppIndex, f.builds[i%2], at)
	s.run(b, f.repo.Dir)
}
