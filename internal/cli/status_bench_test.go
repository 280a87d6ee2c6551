package cli

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/sync/errgroup"

	"github.com/stepper-cd/stepper/internal/release"
	"github.com/stepper-cd/stepper/internal/signing"
	"github.com/stepper-cd/stepper/internal/testenv"
)

// boardEnvs is the benchmark board's chain: every app's new build runs in
// dev and qa, its old one in staging and prod.
var boardEnvs = []string{"dev", "qa", "staging", "prod"}

// BenchmarkStatus4Envs200Apps runs `stepper status`, in process, on a
// runner whose git cache is warm: four environments of 200 apps each in
// one desired-state repository, 400 commits of deploys to dev and
// promotions to qa, and in a local registry (behind a proxy that only
// counts) two signed builds of every app with a validate attestation and
// smoke-test attestations from the environments that run them. The board
// verifies all 800 cells' evidence and the three promotions' gates.
//
// It runs on both local registries: go-containerregistry's (the kind
// stepper local embeds, with the referrers API) and Debian's
// docker-registry 2.8 (distribution), which answers a manifest in about
// 1.3 ms here whatever the concurrency, so that one's board is bound by
// its request count.
//
// Target: under 2 s per board. registry-requests/op counts the HTTP round
// trips to the registry; the log breaks them down by kind.
func BenchmarkStatus4Envs200Apps(b *testing.B) {
	p := platform.Get(b)
	for _, reg := range []struct{ name, host string }{
		{"registry=embedded", p.ReferrersRegistry.Host},
		{"registry=distribution", p.Registry.Host},
	} {
		b.Run(reg.name, func(b *testing.B) {
			f := newBoardBench(b, reg.host)
			f.measure(b, "board", func(*testing.B, int) {}, f.board)
		})
	}
}

// board runs op i: the whole board, as JSON, checked for the verdicts the
// fixture makes.
func (f *envRepoBench) board(b *testing.B, i int) {
	r := runCLI(b, f.environ, "status", "-c", f.config, "--log-format", "json", "-o", "json")
	if r.code != 0 {
		b.Fatalf("status %d: exit %d\n%s", i, r.code, r.stderr)
	}
	for _, want := range []string{`"verdict": "in-next"`, `"verdict": "may-promote"`} {
		if !strings.Contains(r.stdout, want) {
			b.Fatalf("status %d: no %s in the board", i, want)
		}
	}
	if strings.Contains(r.stdout, `"verdict": "stopped"`) {
		b.Fatalf("status %d: a promotion is stopped; the fixture's evidence is incomplete:\n%s", i, r.stdout[:min(len(r.stdout), 4000)])
	}
}

// newBoardBench is the platform of the board benchmark, on the promote
// benchmark's counting proxy and git server, measured by its loop.
func newBoardBench(b *testing.B, registryHost string) *envRepoBench {
	b.Helper()
	ctx := b.Context()
	f, host := startEnvRepoBench(b, registryHost)
	now := f.started
	chartURL, _ := chartRepo(b, map[string]string{"1.4.0": ""}, false)
	key, err := testenv.NewCosignKey(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	var envs strings.Builder
	for _, env := range boardEnvs {
		fmt.Fprintf(&envs, "  - name: %[1]s\n    desiredState: {repo: %[2]q, branch: master, path: %[1]s/dsf.yaml, format: helmsman}\n    land: {via: commit}\n", env, f.repo.HTTPURL)
	}
	f.config = writeConfig(b, fmt.Sprintf(`
registry: {host: %[1]q, project: vendor-x}
signing:
  publicKeys: [{id: test-only-vendor, path: %[2]q}]
chain: main
chains: {main: [%[3]s]}
environments:
%[4]s`, host, key.Public, strings.Join(boardEnvs, ", "), envs.String()))
	f.environ = []string{"HOME=" + b.TempDir()}

	// Two signed builds of every app, with their evidence.
	signer := newEvidenceSigner(b, key)
	builds := make([][2]release.Ref, envRepoApps) // old, new
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i := range envRepoApps {
		g.Go(func() error {
			for v, envs := range [][]string{{"staging", "prod"}, {"dev", "qa"}} {
				ref, err := pushRandomImage(gctx, host+"/vendor-x/"+benchAppName(i), fmt.Sprint("1.", v, ".0"))
				if err != nil {
					return err
				}
				d, _ := ref.NameDigest()
				if _, err := signing.Sign(gctx, signer.key, d, signer.opts); err != nil {
					return err
				}
				if err := signer.attach(gctx, benchAppName(i), ref, now.Add(-time.Hour), envs...); err != nil {
					return err
				}
				builds[i][v] = ref
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	writeBoardHistory(b, f.repo, builds, chartURL, now.Add(-48*time.Hour))
	return f
}

// pushRandomImage pushes a small image of random content as repo:tag.
func pushRandomImage(ctx context.Context, repo, tag string) (release.Ref, error) {
	img, err := random.Image(512, 1)
	if err != nil {
		return release.Ref{}, err
	}
	t, err := name.NewTag(repo+":"+tag, name.Insecure)
	if err != nil {
		return release.Ref{}, err
	}
	if err := remote.Write(t, img, remote.WithContext(ctx)); err != nil {
		return release.Ref{}, err
	}
	d, err := img.Digest()
	if err != nil {
		return release.Ref{}, err
	}
	return release.Ref{Repository: repo, Tag: tag, Digest: d.String()}, nil
}

// writeBoardHistory imports the environments' history, ending at end: the
// old builds everywhere, then for every app a deploy of its new build to
// dev and its promotion to qa, with the trailers stepper writes.
func writeBoardHistory(b *testing.B, repo *testenv.Repo, builds [][2]release.Ref, chartURL string, end time.Time) {
	b.Helper()
	state := map[string][]release.Ref{}
	for _, env := range boardEnvs {
		for _, bl := range builds {
			state[env] = append(state[env], bl[0])
		}
	}
	dsf := func(env string) string {
		var s strings.Builder
		fmt.Fprintf(&s, "helmRepos:\n  charts: %q\nnamespaces:\n  %s: {}\napps:\n", chartURL, env)
		for i, ref := range state[env] {
			fmt.Fprintf(&s, "  %s:\n    namespace: %s\n    enabled: true\n    chart: charts/patient-api\n    version: \"1.4.0\"\n"+
				"    set:\n      image.repository: %s\n      image.tag: %q\n      image.digest: %q\n      replicaCount: 2\n\n",
				benchAppName(i), env, ref.Repository, ref.Tag, ref.Digest)
		}
		return s.String()
	}
	var st importStream
	commits := 1 + 2*len(builds)
	at := func(c int) time.Time { return end.Add(-time.Duration(commits-c) * time.Minute) }
	files := map[string]string{"README.md": "environments\n"}
	for _, env := range boardEnvs {
		files[env+"/dsf.yaml"] = dsf(env)
	}
	st.commit(at(0), "import the environments\n", files)
	for i, bl := range builds {
		app, img := benchAppName(i), bl[1]
		state["dev"][i] = img
		st.commit(at(1+2*i), trailed("deploy "+app+" to dev: "+img.ShortDigest(), release.Trailers{Action: release.ActionDeploy,
			App: app, Env: "dev", Image: img, ChartVersion: "1.4.0", Started: at(1 + 2*i)}), map[string]string{"dev/dsf.yaml": dsf("dev")})
		state["qa"][i] = img
		st.commit(at(2+2*i), trailed("promote "+app+" from dev to qa: "+img.ShortDigest(), release.Trailers{Action: release.ActionPromote,
			App: app, Env: "qa", From: "dev", Image: img, ChartVersion: "1.4.0", Started: at(2 + 2*i), Actor: "maria"}), map[string]string{"qa/dsf.yaml": dsf("qa")})
	}
	st.run(b, repo.Dir)
}
