package gitrepo_test

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/gitrepo"
	"github.com/stepper-cd/stepper/internal/testenv"
)

// recordGit puts a git on PATH that logs the argv of every git process,
// the top-level command, the git commands it starts and its HTTP transport
// helper (git runs those from its exec path, which the wrapper points at a
// copy whose git and git-remote-http* are recorders), and returns the log.
func recordGit(t *testing.T) (log string) {
	t.Helper()
	real, err := exec.LookPath("git")
	if err != nil {
		t.Skip("git not installed")
	}
	out, err := exec.Command(real, "--exec-path").Output()
	if err != nil {
		t.Fatal(err)
	}
	realExec := strings.TrimSpace(string(out))
	dir := t.TempDir()
	log = filepath.Join(dir, "argv.log")
	wrapped := filepath.Join(dir, "exec")
	if err := os.Mkdir(wrapped, 0o700); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(realExec)
	if err != nil {
		t.Fatal(err)
	}
	record := `{ printf '%s' "$0"; for a in "$@"; do printf ' %s' "$a"; done; echo; } >>'` + log + "'\n"
	for _, e := range entries {
		switch e.Name() {
		case "git":
			continue
		case "git-remote-http", "git-remote-https":
			script := "#!/bin/sh\n" + record + "exec '" + filepath.Join(realExec, e.Name()) + "' \"$@\"\n"
			if err := os.WriteFile(filepath.Join(wrapped, e.Name()), []byte(script), 0o700); err != nil {
				t.Fatal(err)
			}
		default:
			if err := os.Symlink(filepath.Join(realExec, e.Name()), filepath.Join(wrapped, e.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
	script := "#!/bin/sh\n" + record + "exec '" + real + "' --exec-path='" + wrapped + "' \"$@\"\n"
	if err := os.WriteFile(filepath.Join(wrapped, "git"), []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", wrapped+string(os.PathListSeparator)+os.Getenv("PATH"))
	return log
}

// grepTree returns the files under dir that hold secret.
func grepTree(t *testing.T, dir, secret string) []string {
	t.Helper()
	var hits []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Type()&fs.ModeSymlink != 0 {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(data, []byte(secret)) {
			hits = append(hits, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hits
}

// A token in the repository URL reaches a server that demands it, while no
// git process has it in its argv and no file of the checkout holds it, also
// after reusing a cache an older stepper left with the token in its config.
func TestCredentialsNeverInArgvOrCheckout(t *testing.T) {
	const token = "glpat-Zq8s3cr3tTok3n"
	srv, err := testenv.StartAuthGitServer(t.Context(), t.TempDir(), "oauth2", token)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	repo, err := srv.NewRepo("vendor/state", map[string]string{"a.yaml": "v: 1\n"})
	if err != nil {
		t.Fatal(err)
	}
	withToken := strings.Replace(repo.HTTPURL, "http://", "http://oauth2:"+token+"@", 1)
	log := recordGit(t)
	dir := filepath.Join(t.TempDir(), "cache")

	r := open(t, withToken, dir, gitrepo.Options{})
	if _, err := r.Update(t.Context(), gitrepo.Message{Subject: "one"}, setFile("a.yaml", "v: 2\n")); err != nil {
		t.Fatal(err)
	}
	// An older stepper kept the URL with the token in the cache's config.
	if err := os.WriteFile(filepath.Join(dir, ".git", "config"), []byte("[remote \"origin\"]\n\turl = "+withToken+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = open(t, withToken, dir, gitrepo.Options{})
	if _, err := r.Update(t.Context(), gitrepo.Message{Subject: "two"}, setFile("a.yaml", "v: 3\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Log(t.Context(), "a.yaml", 10); err != nil {
		t.Fatal(err)
	}
	if got := read(t, repo, "a.yaml"); got != "v: 3\n" {
		t.Errorf("a.yaml on the server = %q, want the second landing", got)
	}
	if srv.Authenticated.Load() == 0 {
		t.Error("the server saw no authenticated request")
	}

	argv, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"git clone", "git-remote-http", "git push", "git fetch"} {
		if !bytes.Contains(argv, []byte(want)) {
			t.Errorf("the recorder saw no %q: is it on the path?\n%s", want, argv)
		}
	}
	if bytes.Contains(argv, []byte(token)) {
		t.Errorf("the token is in the argv of a git process:\n%s", argv)
	}
	if hits := grepTree(t, dir, token); len(hits) > 0 {
		t.Errorf("the token is in files of the checkout: %v", hits)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("checkout directory mode %v, %v: want 0700", fi.Mode().Perm(), err)
	}
}

// The credentials are for the URL's host only: a URL that cannot carry them
// safely is refused, and a wrong token is an access error, not a prompt.
func TestCredentialsRefusedOrDenied(t *testing.T) {
	srv, err := testenv.StartAuthGitServer(t.Context(), t.TempDir(), "oauth2", "right")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	repo, err := srv.NewRepo("vendor/state", map[string]string{"a": "1"})
	if err != nil {
		t.Fatal(err)
	}
	for name, tt := range map[string]struct {
		url  string
		want string
	}{
		"wrong token":     {strings.Replace(repo.HTTPURL, "http://", "http://oauth2:wrong-tok@", 1), "access denied"},
		"no token":        {repo.HTTPURL, "access denied"},
		"newline encoded": {strings.Replace(repo.HTTPURL, "http://", "http://oauth2:a%0Ahost=evil@", 1), "line break"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := gitrepo.Open(t.Context(), tt.url, "master", t.TempDir(), gitrepo.Options{})
			if exit.ClassOf(err) != exit.Usage || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want a usage error saying %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "wrong-tok") || strings.Contains(err.Error(), "host=evil") {
				t.Errorf("credentials in the error: %v", err)
			}
		})
	}
}

// A cached checkout where a previous job or a hostile repository planted
// hooks, a hooks path, an fsmonitor command, a filter and an include runs
// none of them when a landing reuses it.
func TestCachedCheckoutRunsNothingPlanted(t *testing.T) {
	repo := newRepo(t, map[string]string{"a.yaml": "v: 1\n"})
	dir := filepath.Join(t.TempDir(), "cache")
	open(t, repo.HTTPURL, dir, gitrepo.Options{})

	evil := t.TempDir()
	marker := filepath.Join(evil, "ran")
	payload := "#!/bin/sh\necho \"$0 $*\" >>'" + marker + "'\ncat >/dev/null 2>&1 </dev/null\n"
	hooks := []string{"post-checkout", "reference-transaction", "pre-commit", "post-commit", "pre-push",
		"post-merge", "post-rewrite", "pre-auto-gc", "fsmonitor-watchman", "push-to-checkout"}
	hooksPath := filepath.Join(evil, "hooks")
	for _, d := range []string{filepath.Join(dir, ".git", "hooks"), hooksPath} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, h := range hooks {
			if err := os.WriteFile(filepath.Join(d, h), []byte(payload), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	monitor := filepath.Join(evil, "monitor")
	if err := os.WriteFile(monitor, []byte(payload), 0o755); err != nil {
		t.Fatal(err)
	}
	included := filepath.Join(evil, "included")
	if err := os.WriteFile(included, []byte("[core]\n\tpager = "+monitor+"\n\tsshCommand = "+monitor+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	config, err := os.ReadFile(filepath.Join(dir, ".git", "config"))
	if err != nil {
		t.Fatal(err)
	}
	config = append(config, []byte("[core]\n\tfsmonitor = "+monitor+"\n\thooksPath = "+hooksPath+
		"\n[filter \"evil\"]\n\tclean = "+monitor+"\n\tsmudge = "+monitor+"\n\tprocess = "+monitor+
		"\n[include]\n\tpath = "+included+"\n")...)
	if err := os.WriteFile(filepath.Join(dir, ".git", "config"), config, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".git", "info", "attributes"), []byte("* filter=evil\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}

	ranPlanted := func() {
		t.Helper()
		if ran, err := os.ReadFile(marker); err == nil {
			t.Errorf("planted commands ran:\n%s", ran)
		}
	}
	r, err := gitrepo.Open(t.Context(), repo.HTTPURL, "master", dir, gitrepo.Options{})
	if err != nil {
		ranPlanted()
		t.Fatal(err) // a filter process that does not speak the protocol breaks the checkout
	}
	if _, err := r.Update(t.Context(), gitrepo.Message{Subject: "land"}, setFile("a.yaml", "v: 2\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Log(t.Context(), "a.yaml", 5); err != nil {
		t.Fatal(err)
	}
	ranPlanted()
	if got := read(t, repo, "a.yaml"); got != "v: 2\n" {
		t.Errorf("a.yaml = %q, want the landing", got)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("cache directory mode %v, %v: want 0700", fi.Mode().Perm(), err)
	}

	// A .git that is a file points git at another repository: refused.
	other := filepath.Join(t.TempDir(), "cache")
	if err := os.MkdirAll(other, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(other, ".git"), []byte("gitdir: "+filepath.Join(dir, ".git")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := gitrepo.Open(t.Context(), repo.HTTPURL, "master", other, gitrepo.Options{}); exit.ClassOf(err) != exit.Usage {
		t.Errorf("a .git file in the cache: %v, want a usage error", err)
	}
}

// No GIT_ variable or locale of the job changes what git does: with
// GIT_DIR, GIT_WORK_TREE, GIT_CONFIG_PARAMETERS and GIT_CONFIG_COUNT aimed
// elsewhere and a German locale, in the process environment and in the
// job environment handed over in Options, a clone lands where it should, a
// lost push race is still recognised and retried, and a denied push is
// still an access error.
func TestJobEnvironmentDoesNotSteerGit(t *testing.T) {
	repo := newRepo(t, map[string]string{"counter": "0"})
	racer := open(t, repo.HTTPURL, t.TempDir(), gitrepo.Options{})
	srv, err := testenv.StartAuthGitServer(t.Context(), t.TempDir(), "oauth2", "right")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	private, err := srv.NewRepo("vendor/state", map[string]string{"a": "1"})
	if err != nil {
		t.Fatal(err)
	}
	elsewhere := t.TempDir()
	hostile := []string{
		"GIT_DIR=" + elsewhere,
		"GIT_WORK_TREE=" + elsewhere,
		"GIT_INDEX_FILE=" + filepath.Join(elsewhere, "index"),
		"GIT_CONFIG_PARAMETERS='url.http://127.0.0.1:9/.insteadof'='http://'",
		"GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=remote.origin.url", "GIT_CONFIG_VALUE_0=http://127.0.0.1:9/x.git",
		"LANG=de_DE.UTF-8", "LC_ALL=de_DE.UTF-8", "LC_MESSAGES=de_DE.UTF-8", "LANGUAGE=de",
	}
	for _, kv := range hostile {
		name, value, _ := strings.Cut(kv, "=")
		t.Setenv(name, value)
	}
	o := gitrepo.Options{Environ: append(os.Environ(), hostile...), Backoff: 1}

	r, err := gitrepo.Open(t.Context(), repo.HTTPURL, "master", filepath.Join(t.TempDir(), "c"), o)
	if err != nil {
		t.Fatalf("clone under a hostile environment: %v", err)
	}
	lost := false
	res, err := r.Update(t.Context(), gitrepo.Message{Subject: "mine"}, func(dir string) (bool, error) {
		if !lost {
			lost = true
			if _, err := racer.Update(t.Context(), gitrepo.Message{Subject: "theirs"}, setFile("counter", "1")); err != nil {
				return false, err
			}
		}
		return true, os.WriteFile(filepath.Join(dir, "counter"), []byte("2"), 0o644)
	})
	if err != nil || res.Attempts != 2 {
		t.Fatalf("update after a lost race: %+v, %v; want it recognised and landed on the second attempt", res, err)
	}
	if got := read(t, repo, "counter"); got != "2" {
		t.Errorf("counter = %q, want 2", got)
	}
	if entries, _ := os.ReadDir(elsewhere); len(entries) > 0 {
		t.Errorf("git wrote into GIT_DIR of the job: %v", entries)
	}
	wrong := strings.Replace(private.HTTPURL, "http://", "http://oauth2:wrong@", 1)
	if _, err := gitrepo.Open(t.Context(), wrong, "master", t.TempDir(), o); exit.ClassOf(err) != exit.Usage ||
		!strings.Contains(err.Error(), "access denied") {
		t.Errorf("wrong token under a German locale: %v, want a usage error saying access denied", err)
	}
}
