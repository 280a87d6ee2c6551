package testenv_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestGitPushOverHTTP(t *testing.T) {
	p := platform.Get(t)
	repo, err := p.Git.NewRepo("team/api-config", map[string]string{
		"envs/test/values.yaml": "image: registry.invalid/api:v1\n",
		"README.md":             "desired state\n",
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, url := range []string{repo.HTTPURL, repo.FileURL} {
		scheme, _, _ := strings.Cut(url, ":")
		t.Run(scheme, func(t *testing.T) {
			work := clone(t, url)
			head := gitOut(t, work, "rev-parse", "HEAD")
			if seeded, err := repo.Rev("master"); err != nil || seeded != head {
				t.Fatalf("clone HEAD %s, bare master %s (err %v)", head, seeded, err)
			}
			content := "image: registry.invalid/api:pushed-over-" + scheme + "\n"
			writeFile(t, filepath.Join(work, "envs/test/values.yaml"), content)
			gitOut(t, work, "commit", "--quiet", "--all", "--message", "promote api")
			gitOut(t, work, "push", "--quiet", "origin", "master")

			pushed := gitOut(t, work, "rev-parse", "HEAD")
			if got, err := repo.Rev("master"); err != nil || got != pushed {
				t.Fatalf("bare master = %s (err %v), want the pushed %s", got, err, pushed)
			}
			if got, err := repo.ReadFile("master", "envs/test/values.yaml"); err != nil || got != content {
				t.Fatalf("values.yaml at master = %q (err %v), want %q", got, err, content)
			}
		})
	}
}

// Pushes that race for one branch: git's ref lock lets exactly one win, and
// the server survives them all.
func TestGitConcurrentPushes(t *testing.T) {
	p := platform.Get(t)
	repo, err := p.Git.NewRepo("team/race", map[string]string{"version": "0\n"})
	if err != nil {
		t.Fatal(err)
	}
	const pushers = 4
	works := make([]string, pushers)
	for i := range works {
		works[i] = clone(t, repo.HTTPURL)
		writeFile(t, filepath.Join(works[i], "version"), strings.Repeat("x", i+1)+"\n")
		gitOut(t, works[i], "commit", "--quiet", "--all", "--message", "bump")
	}
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		succeeded []string
	)
	for _, work := range works {
		wg.Go(func() {
			cmd := gitCmd(work, "push", "--quiet", "origin", "master")
			if cmd.Run() == nil {
				mu.Lock()
				succeeded = append(succeeded, work)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(succeeded) != 1 {
		t.Fatalf("%d of %d racing pushes succeeded, want exactly 1", len(succeeded), pushers)
	}
	want := gitOut(t, succeeded[0], "rev-parse", "HEAD")
	if got, err := repo.Rev("master"); err != nil || got != want {
		t.Fatalf("bare master = %s (err %v), want the winner's %s", got, err, want)
	}
}

func clone(t *testing.T, url string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "work")
	gitOut(t, "", "clone", "--quiet", url, dir)
	return dir
}

func gitCmd(dir string, args ...string) *exec.Cmd {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull,
		"GIT_AUTHOR_NAME=test", "GIT_AUTHOR_EMAIL=test@stepper.invalid",
		"GIT_COMMITTER_NAME=test", "GIT_COMMITTER_EMAIL=test@stepper.invalid",
	)
	return cmd
}

func gitOut(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := gitCmd(dir, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
