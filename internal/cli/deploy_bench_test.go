package cli

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stepper-cd/stepper/internal/testenv"
)

// BenchmarkDeployGitOps5000Commits runs the whole GitOps deploy, in process,
// into an environment repository with 5,000 commits and a Helmsman DSF of
// 200 apps: verify the image's signature and tag, fetch the cached clone,
// edit the app's entry, commit with trailers, push over HTTP. Each op
// deploys the other of two signed images, so every op lands a commit.
// Target: under 300 ms per deploy.
func BenchmarkDeployGitOps5000Commits(b *testing.B) {
	const commits, apps = 5000, 200
	git, err := testenv.StartGitServer(b.Context(), b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(git.Stop)
	var dsf strings.Builder
	dsf.WriteString("helmRepos:\n  ehealth: https://charts.example.invalid\nnamespaces:\n  exttest: {}\napps:\n")
	for i := range apps {
		fmt.Fprintf(&dsf, "  app-%03d:\n    namespace: exttest\n    enabled: true\n    chart: ehealth/service\n    version: \"1.0.0\"\n    set:\n      image.repository: old/app\n      image.tag: \"1\"\n      replicaCount: 2\n\n", i)
	}
	repo, err := git.NewRepo("vendor-x/env", nil)
	if err != nil {
		b.Fatal(err)
	}
	var s bytes.Buffer
	data := func(text string) { fmt.Fprintf(&s, "data %d\n%s\n", len(text), text) }
	when := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	for c := 1; c <= commits; c++ {
		fmt.Fprintf(&s, "commit refs/heads/master\nmark :%d\ncommitter stepper <stepper@localhost> %d +0000\n", c, when+int64(c)*60)
		data(fmt.Sprintf("change %d", c))
		if c > 1 {
			fmt.Fprintf(&s, "from :%d\n", c-1)
		} else {
			s.WriteString("M 644 inline exttest.yaml\n")
			data(dsf.String())
		}
		s.WriteString("M 644 inline CHANGELOG\n")
		data(fmt.Sprintf("change %d\n", c))
	}
	cmd := exec.Command("git", "fast-import", "--quiet", "--force")
	cmd.Dir = repo.Dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull)
	cmd.Stdin = &s
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("git fast-import: %v: %s", err, out)
	}

	f := newBSPFixture(b, fmt.Sprintf(`
environments:
  - name: exttest
    desiredState: {repo: %q, branch: master, path: exttest.yaml, format: helmsman}
    land: {via: commit}
`, repo.HTTPURL))
	var built [2]string
	for i := range built {
		os.WriteFile(f.appDir+"/server", []byte(fmt.Sprint("release ", i)), 0o755)
		args := f.args(b, "--tag", fmt.Sprint("bench-", i), "--allow-retag")
		if r := runCLI(b, f.environ, args...); r.code != 0 {
			b.Fatalf("build-sign-push: exit %d\n%s", r.code, r.stderr)
		}
		built[i] = flagValue(b, args, "--result")
	}
	env := append(f.environ, "HOME="+b.TempDir())
	// The first deploy of each app clones the cache; time the steady state.
	if r := runCLI(b, env, "deploy", "-c", f.config, "--env", "exttest", "--app", "app-000", "--from-result", built[1]); r.code != 0 {
		b.Fatalf("deploy: exit %d\n%s", r.code, r.stderr)
	}
	for i := 0; b.Loop(); i++ {
		r := runCLI(b, env, "deploy", "-c", f.config, "--env", "exttest", "--app", fmt.Sprintf("app-%03d", i%apps), "--from-result", built[i%2])
		if r.code != 0 {
			b.Fatalf("deploy %d: exit %d\n%s", i, r.code, r.stderr)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/op")
}
