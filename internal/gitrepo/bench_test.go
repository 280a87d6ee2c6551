package gitrepo_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stepper-cd/stepper/internal/gitrepo"
)

// BenchmarkUpdate5000Commits measures one deploy against a desired-state
// repository with a long history: open the cached checkout (fetch), edit one
// of 200 app files, commit and push over HTTP.
func BenchmarkUpdate5000Commits(b *testing.B) {
	const commits, apps = 5000, 200
	repo := newRepo(b, nil)
	start := time.Now()
	importHistory(b, repo.Dir, commits, apps)
	b.Logf("built %d commits of %d files in %v", commits, apps, time.Since(start).Round(time.Millisecond))

	dir := b.TempDir()
	open(b, repo.HTTPURL, dir, gitrepo.Options{})
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		r, err := gitrepo.Open(b.Context(), repo.HTTPURL, "master", dir, gitrepo.Options{})
		if err != nil {
			b.Fatal(err)
		}
		path := fmt.Sprintf("apps/app%03d/values.yaml", i%apps)
		res, err := r.Update(b.Context(), gitrepo.Message{Subject: "deploy " + path,
			Trailers: []gitrepo.Trailer{{"Stepper-Release", fmt.Sprint("bench-", i)}}},
			setFile(path, fmt.Sprintf("image: registry.invalid/app:bench-%d\n", i)))
		if err != nil || res.NoOp {
			b.Fatalf("deploy %d: %+v, %v", i, res, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/op")
}

// importHistory writes a history of n commits into the bare repository at
// gitDir with git fast-import: the first commit adds every app file, each
// later one changes one of them.
func importHistory(b *testing.B, gitDir string, n, apps int) {
	var s bytes.Buffer
	data := func(text string) { fmt.Fprintf(&s, "data %d\n%s\n", len(text), text) }
	when := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	for c := 1; c <= n; c++ {
		fmt.Fprintf(&s, "commit refs/heads/master\nmark :%d\ncommitter stepper <stepper@localhost> %d +0000\n", c, when+int64(c)*60)
		data(fmt.Sprintf("deploy %d\n\nStepper-Release: %d", c, c))
		if c > 1 {
			fmt.Fprintf(&s, "from :%d\n", c-1)
		}
		for a := range apps {
			if c == 1 || a == c%apps {
				fmt.Fprintf(&s, "M 644 inline apps/app%03d/values.yaml\n", a)
				data(fmt.Sprintf("image: registry.invalid/app%03d:%d\nreplicas: 2\n", a, c))
			}
		}
	}
	cmd := exec.Command("git", "fast-import", "--quiet")
	cmd.Dir = gitDir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull)
	cmd.Stdin = &s
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("git fast-import: %v: %s", err, out)
	}
}
