package gitrepo_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/gitrepo"
	"github.com/stepper-cd/stepper/internal/testenv"
)

var platform = testenv.NewShared(testenv.Options{SkipKube: true, SkipRegistry: true, SkipReferrersRegistry: true})

func TestMain(m *testing.M) {
	code := m.Run()
	platform.Stop()
	os.Exit(code)
}

var repoSeq atomic.Int64

// newRepo creates a fresh repository on the shared git server.
func newRepo(t testing.TB, seed map[string]string) *testenv.Repo {
	t.Helper()
	name := fmt.Sprintf("t/%s-%d", strings.ReplaceAll(strings.ToLower(t.Name()), "/", "-"), repoSeq.Add(1))
	repo, err := platform.Get(t).Git.NewRepo(name, seed)
	if err != nil {
		t.Fatal(err)
	}
	return repo
}

func open(t testing.TB, url, dir string, o gitrepo.Options) *gitrepo.Repo {
	t.Helper()
	r, err := gitrepo.Open(context.Background(), url, "master", dir, o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// setFile is an edit that writes content to path, a no-op when it is there.
func setFile(path, content string) gitrepo.Edit {
	return func(dir string) (bool, error) {
		full := filepath.Join(dir, path)
		if old, err := os.ReadFile(full); err == nil && string(old) == content {
			return false, nil
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return false, err
		}
		return true, os.WriteFile(full, []byte(content), 0o644)
	}
}

func read(t testing.TB, repo *testenv.Repo, path string) string {
	t.Helper()
	got, err := repo.ReadFile("master", path)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func rev(t testing.TB, repo *testenv.Repo, r string) string {
	t.Helper()
	got, err := repo.Rev(r)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func countCommits(t testing.TB, repo *testenv.Repo) int {
	t.Helper()
	out, err := exec.Command("git", "--git-dir", repo.Dir, "rev-list", "--count", "master").Output()
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	return n
}

func TestUpdateLandsWithTrailers(t *testing.T) {
	repo := newRepo(t, map[string]string{"envs/test/api.yaml": "version: v1\n", "README.md": "state\n"})
	r := open(t, repo.HTTPURL, t.TempDir(), gitrepo.Options{Author: "stepper ci", Email: "ci@stepper.invalid"})
	msg := gitrepo.Message{
		Subject:  "deploy api v2 to test",
		Body:     "# not a comment: bodies keep lines starting with a hash\n\nNote: body text, not a trailer.",
		Trailers: []gitrepo.Trailer{{"Stepper-Env", "test"}, {"Stepper-App", "api"}, {"Stepper-Release", "v2"}},
	}
	res, err := r.Update(t.Context(), msg, setFile("envs/test/api.yaml", "version: v2\n"))
	if err != nil {
		t.Fatal(err)
	}
	if res.NoOp || res.Attempts != 1 || res.Commit != rev(t, repo, "master") || r.Head() != res.Commit {
		t.Fatalf("result %+v, remote master %s, head %s", res, rev(t, repo, "master"), r.Head())
	}
	if got := read(t, repo, "envs/test/api.yaml"); got != "version: v2\n" {
		t.Errorf("remote content %q", got)
	}
	if !strings.Contains(res.Diff, "-version: v1\n+version: v2\n") || !strings.Contains(res.Diff, "a/envs/test/api.yaml") {
		t.Errorf("diff:\n%s", res.Diff)
	}
	who, _ := exec.Command("git", "--git-dir", repo.Dir, "show", "-s", "--format=%an <%ae>|%cn <%ce>|%B", "master").Output()
	if !strings.HasPrefix(string(who), "stepper ci <ci@stepper.invalid>|stepper ci <ci@stepper.invalid>|deploy api v2 to test\n\n# not a comment") {
		t.Errorf("commit identity or message: %q", who)
	}

	// A fresh clone (no shared state) reads the trailers back.
	log, err := open(t, repo.HTTPURL, t.TempDir(), gitrepo.Options{}).Log(t.Context(), "envs/test/api.yaml", 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != 2 {
		t.Fatalf("log has %d commits, want 2 (the deploy and the seed): %+v", len(log), log)
	}
	want := map[string]string{"Stepper-Env": "test", "Stepper-App": "api", "Stepper-Release": "v2"}
	if c := log[0]; c.SHA != res.Commit || c.Subject != msg.Subject || fmt.Sprint(c.Trailers) != fmt.Sprint(want) ||
		time.Since(c.Time) > time.Minute {
		t.Errorf("log[0] = %+v, want %s with trailers %v", c, res.Commit, want)
	}
	if len(log[1].Trailers) != 0 {
		t.Errorf("seed commit trailers %v", log[1].Trailers)
	}
}

func TestUpdateNoOp(t *testing.T) {
	repo := newRepo(t, map[string]string{"a.yaml": "v: 1\n"})
	r := open(t, repo.HTTPURL, t.TempDir(), gitrepo.Options{})
	before := rev(t, repo, "master")
	for name, edit := range map[string]gitrepo.Edit{
		"edit says unchanged": setFile("a.yaml", "v: 1\n"),
		"edit rewrites same": func(dir string) (bool, error) {
			return true, os.WriteFile(filepath.Join(dir, "a.yaml"), []byte("v: 1\n"), 0o644)
		},
		"unchanged, but wrote": func(dir string) (bool, error) {
			return false, os.WriteFile(filepath.Join(dir, "stray"), []byte("x"), 0o644)
		},
	} {
		t.Run(name, func(t *testing.T) {
			res, err := r.Update(t.Context(), gitrepo.Message{Subject: "noop"}, edit)
			if err != nil {
				t.Fatal(err)
			}
			if !res.NoOp || res.Commit != before || res.Diff != "" {
				t.Errorf("result %+v, want a no-op at %s", res, before)
			}
			if got := rev(t, repo, "master"); got != before {
				t.Errorf("remote moved to %s", got)
			}
			if _, err := os.Stat(filepath.Join(r.Dir(), "stray")); !os.IsNotExist(err) {
				t.Errorf("stray file left in the checkout: %v", err)
			}
		})
	}
}

// Twenty writers, each with its own clone, edit different files of one
// branch over HTTP at once: every change lands exactly once. A lost race
// is not a failed try (with twenty writers the last may lose nineteen), so
// every writer lands with Tries at 1.
func TestUpdateConcurrentWritersAllLand(t *testing.T) {
	const writers = 20
	seed := map[string]string{}
	for i := range writers {
		seed[fmt.Sprintf("apps/app%02d.yaml", i)] = "version: v1\n"
	}
	repo := newRepo(t, seed)
	base := countCommits(t, repo)
	var wg sync.WaitGroup
	results := make([]*gitrepo.Result, writers)
	errs := make([]error, writers)
	for i := range writers {
		wg.Go(func() {
			r, err := gitrepo.Open(t.Context(), repo.HTTPURL, "master", t.TempDir(), gitrepo.Options{Tries: 1})
			if err != nil {
				errs[i] = err
				return
			}
			path := fmt.Sprintf("apps/app%02d.yaml", i)
			results[i], errs[i] = r.Update(t.Context(),
				gitrepo.Message{Subject: "deploy " + path, Trailers: []gitrepo.Trailer{{"Stepper-App", strconv.Itoa(i)}}},
				setFile(path, fmt.Sprintf("version: v2-%d\n", i)))
		})
	}
	wg.Wait()
	attempts := 0
	for i := range writers {
		if errs[i] != nil {
			t.Errorf("writer %d: %v", i, errs[i])
			continue
		}
		attempts += results[i].Attempts
		if results[i].NoOp {
			t.Errorf("writer %d: no-op", i)
		}
	}
	for i := range writers {
		if got, want := read(t, repo, fmt.Sprintf("apps/app%02d.yaml", i)), fmt.Sprintf("version: v2-%d\n", i); got != want {
			t.Errorf("app%02d.yaml = %q, want %q", i, got, want)
		}
	}
	if got := countCommits(t, repo); got != base+writers {
		t.Errorf("%d commits, want %d", got, base+writers)
	}
	t.Logf("%d writers landed with %d attempts in all", writers, attempts)
}

// Writers that set different keys of one file: each re-applied edit keeps
// the others' keys.
func TestUpdateConcurrentKeysOfOneFile(t *testing.T) {
	const writers = 8
	repo := newRepo(t, map[string]string{"versions.txt": ""})
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			r, err := gitrepo.Open(t.Context(), repo.HTTPURL, "master", t.TempDir(), gitrepo.Options{Tries: 20})
			if err == nil {
				_, err = r.Update(t.Context(), gitrepo.Message{Subject: "set key"}, func(dir string) (bool, error) {
					path := filepath.Join(dir, "versions.txt")
					old, err := os.ReadFile(path)
					if err != nil {
						return false, err
					}
					return true, os.WriteFile(path, append(old, fmt.Sprintf("app%d=v2\n", i)...), 0o644)
				})
			}
			if err != nil {
				t.Errorf("writer %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	got := read(t, repo, "versions.txt")
	for i := range writers {
		if !strings.Contains(got, fmt.Sprintf("app%d=v2\n", i)) {
			t.Errorf("key app%d lost:\n%s", i, got)
		}
	}
}

// Another writer changes the same key between our read and our push: the
// push is refused and the edit runs again on the newer content, so the
// newer value is never overwritten with one computed from stale content.
func TestUpdateReappliesOnNewerContent(t *testing.T) {
	repo := newRepo(t, map[string]string{"counter": "1"})
	r := open(t, repo.HTTPURL, t.TempDir(), gitrepo.Options{Backoff: time.Millisecond})
	other := open(t, repo.HTTPURL, t.TempDir(), gitrepo.Options{})
	var seen []string
	res, err := r.Update(t.Context(), gitrepo.Message{Subject: "increment"}, func(dir string) (bool, error) {
		data, err := os.ReadFile(filepath.Join(dir, "counter"))
		if err != nil {
			return false, err
		}
		seen = append(seen, string(data))
		if len(seen) == 1 { // the concurrent writer lands first
			if _, err := other.Update(t.Context(), gitrepo.Message{Subject: "set 5"}, setFile("counter", "5")); err != nil {
				return false, err
			}
		}
		n, _ := strconv.Atoi(string(data))
		return true, os.WriteFile(filepath.Join(dir, "counter"), []byte(strconv.Itoa(n+1)), 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(seen) != "[1 5]" || res.Attempts != 2 {
		t.Errorf("edit saw %q in %d attempts, want [1 5] in 2", seen, res.Attempts)
	}
	if got := read(t, repo, "counter"); got != "6" {
		t.Errorf("counter = %q, want 6 (5 from the other writer, plus one)", got)
	}
	if !strings.Contains(res.Diff, "-5\n") {
		t.Errorf("diff is not against the newer content:\n%s", res.Diff)
	}
}

// A writer that loses every race gives up when its race budget is spent,
// leaving the winners' changes alone.
func TestUpdateGivesUpAfterRaceBudget(t *testing.T) {
	repo := newRepo(t, map[string]string{"counter": "0"})
	r := open(t, repo.HTTPURL, t.TempDir(), gitrepo.Options{Tries: 1, RaceBudget: 3 * time.Second, Backoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	other := open(t, repo.HTTPURL, t.TempDir(), gitrepo.Options{})
	calls := 0
	_, err := r.Update(t.Context(), gitrepo.Message{Subject: "always loses"}, func(dir string) (bool, error) {
		calls++
		if _, err := other.Update(t.Context(), gitrepo.Message{Subject: "wins"}, setFile("counter", strconv.Itoa(calls))); err != nil {
			return false, err
		}
		return true, os.WriteFile(filepath.Join(dir, "counter"), []byte("mine"), 0o644)
	})
	if err == nil || exit.ClassOf(err) != exit.Infra || !strings.Contains(err.Error(), "lost a race with another writer") || calls < 2 {
		t.Fatalf("err = %v (class %v) after %d calls, want an infrastructure error naming the lost races, after more than one try", err, exit.ClassOf(err), calls)
	}
	if want := fmt.Sprintf("gave up after %d attempts", calls); !strings.Contains(err.Error(), want) {
		t.Errorf("err = %v, want %q", err, want)
	}
	if got := read(t, repo, "counter"); got != strconv.Itoa(calls) {
		t.Errorf("counter = %q: the losing writer overwrote the winner", got)
	}
}

// lostAnswerCases are the ways a push's answer gets lost: the server
// applied the push, then the connection was reset. git's transport (curl)
// sends a request again, once, when a reused connection dies without an
// answer; that copy finds the first at the head and is refused as a lost
// race, which must not count as one.
var lostAnswerCases = []struct {
	name string
	lost int32 // answers to receive-pack POSTs lost, from the first
}{
	{"git sends it again and is refused", 1},
	{"every answer lost", 2},
}

// lossyRemote is repo's URL through a proxy that loses the answers to the
// first lost pushes; it returns the URL and the proxy.
func lossyRemote(t *testing.T, repo *testenv.Repo, lost int32) (string, *testenv.FaultProxy) {
	t.Helper()
	server, err := url.Parse(repo.HTTPURL)
	if err != nil {
		t.Fatal(err)
	}
	var pushes atomic.Int32
	proxy, err := testenv.StartFaultProxy(server.Host, testenv.FaultOptions{Rate: 1, Faults: []testenv.Fault{testenv.FaultLostAnswer},
		Only: func(r *http.Request) bool {
			return r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/git-receive-pack") && pushes.Add(1) <= lost
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Stop)
	t.Cleanup(func() {
		if got := proxy.Stats().Injected[testenv.FaultLostAnswer]; got != int(lost) && !t.Failed() {
			t.Errorf("%d answers lost, want %d: the test did not exercise what it names", got, lost)
		}
	})
	server.Host = proxy.Host
	return server.String(), proxy
}

// A push the server applied but whose answer was lost counts as landed
// once the next fetch shows its commit at the head: the edit (here an
// increment, which must not run twice) is not applied again on top of its
// own result, and the update is not reported as failed.
func TestUpdatePushAppliedButAnswerLost(t *testing.T) {
	for _, tt := range lostAnswerCases {
		t.Run(tt.name, func(t *testing.T) {
			repo := newRepo(t, map[string]string{"counter": "1"})
			remote, _ := lossyRemote(t, repo, tt.lost)
			r := open(t, remote, t.TempDir(), gitrepo.Options{Backoff: time.Millisecond})
			before := countCommits(t, repo)
			edits := 0
			res, err := r.Update(t.Context(), gitrepo.Message{Subject: "increment"}, func(dir string) (bool, error) {
				edits++
				data, err := os.ReadFile(filepath.Join(dir, "counter"))
				if err != nil {
					return false, err
				}
				n, _ := strconv.Atoi(string(data))
				return true, os.WriteFile(filepath.Join(dir, "counter"), []byte(strconv.Itoa(n+1)), 0o644)
			})
			if err != nil {
				t.Fatalf("update whose push landed unanswered: %v", err)
			}
			if res.NoOp || res.Commit != rev(t, repo, "master") {
				t.Errorf("result %+v, want the landed commit %s", res, rev(t, repo, "master"))
			}
			if got := read(t, repo, "counter"); got != "2" || edits != 1 {
				t.Errorf("counter = %q after %d edits, want 2 after one", got, edits)
			}
			if got := countCommits(t, repo); got != before+1 {
				t.Errorf("%d new commits, want 1", got-before)
			}
		})
	}
}

// The same for a merge request's side branch: the push that landed is the
// result, not a failure, nor a no-op as if another run had proposed it.
func TestPushBranchAnswerLost(t *testing.T) {
	for _, tt := range lostAnswerCases {
		t.Run(tt.name, func(t *testing.T) {
			repo := newRepo(t, map[string]string{"envs/prod/api.yaml": "version: v1\n"})
			remote, _ := lossyRemote(t, repo, tt.lost)
			r := open(t, remote, t.TempDir(), gitrepo.Options{Backoff: time.Millisecond})
			master := rev(t, repo, "master")
			res, err := r.PushBranch(t.Context(), "stepper/prod-api", gitrepo.Message{Subject: "promote api v2 to prod"},
				setFile("envs/prod/api.yaml", "version: v2\n"))
			if err != nil {
				t.Fatalf("side branch push that landed unanswered: %v", err)
			}
			if res.NoOp || res.Commit != rev(t, repo, "stepper/prod-api") || rev(t, repo, "stepper/prod-api~1") != master {
				t.Errorf("result %+v: side branch %s, want one new commit on master %s", res, rev(t, repo, "stepper/prod-api"), master)
			}
			if got := rev(t, repo, "master"); got != master {
				t.Errorf("target branch moved to %s", got)
			}
		})
	}
}

func TestUpdateEditError(t *testing.T) {
	repo := newRepo(t, map[string]string{"a": "1"})
	r := open(t, repo.HTTPURL, t.TempDir(), gitrepo.Options{})
	boom := exit.Usagef("values.yaml:3: duplicate key")
	_, err := r.Update(t.Context(), gitrepo.Message{Subject: "x"}, func(dir string) (bool, error) {
		_ = os.WriteFile(filepath.Join(dir, "a"), []byte("half-written"), 0o644)
		return false, boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the edit's error", err)
	}
	if data, _ := os.ReadFile(filepath.Join(r.Dir(), "a")); string(data) != "1" {
		t.Errorf("half-written edit left in the checkout: %q", data)
	}
}

func TestDiffChangesNothing(t *testing.T) {
	repo := newRepo(t, map[string]string{"envs/prod/api.yaml": "version: v1\n"})
	r := open(t, repo.HTTPURL, t.TempDir(), gitrepo.Options{})
	before := rev(t, repo, "master")
	diff, err := r.Diff(t.Context(), func(dir string) (bool, error) {
		if _, err := setFile("envs/prod/api.yaml", "version: v2\n")(dir); err != nil {
			return false, err
		}
		return setFile("envs/prod/new.yaml", "new\n")(dir)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"-version: v1\n+version: v2\n", "+++ b/envs/prod/new.yaml\n"} {
		if !strings.Contains(diff, want) {
			t.Errorf("diff lacks %q:\n%s", want, diff)
		}
	}
	if got := rev(t, repo, "master"); got != before || r.Head() != before {
		t.Errorf("remote %s, head %s, want both at %s", got, r.Head(), before)
	}
	status, _ := exec.Command("git", "-C", r.Dir(), "status", "--porcelain").Output()
	if len(status) != 0 {
		t.Errorf("checkout not clean:\n%s", status)
	}
	if diff, err := r.Diff(t.Context(), setFile("envs/prod/api.yaml", "version: v1\n")); err != nil || diff != "" {
		t.Errorf("no-op diff = %q, %v", diff, err)
	}
}

func TestPushBranch(t *testing.T) {
	repo := newRepo(t, map[string]string{"envs/prod/api.yaml": "version: v1\n"})
	r := open(t, repo.HTTPURL, t.TempDir(), gitrepo.Options{})
	master := rev(t, repo, "master")
	msg := gitrepo.Message{Subject: "promote api v2 to prod", Trailers: []gitrepo.Trailer{{"Stepper-Release", "v2"}}}

	created, err := r.PushBranch(t.Context(), "stepper/prod-api", msg, setFile("envs/prod/api.yaml", "version: v2\n"))
	if err != nil {
		t.Fatal(err)
	}
	if created.NoOp || created.Commit != rev(t, repo, "stepper/prod-api") || rev(t, repo, "stepper/prod-api~1") != master {
		t.Fatalf("created %+v: side branch %s, want one commit on master %s", created, rev(t, repo, "stepper/prod-api"), master)
	}
	if got := rev(t, repo, "master"); got != master || r.Head() != master {
		t.Errorf("target branch moved to %s (head %s)", got, r.Head())
	}
	if data, _ := os.ReadFile(filepath.Join(r.Dir(), "envs/prod/api.yaml")); string(data) != "version: v1\n" {
		t.Errorf("checkout left on the side branch's content: %q", data)
	}

	again, err := r.PushBranch(t.Context(), "stepper/prod-api", msg, setFile("envs/prod/api.yaml", "version: v2\n"))
	if err != nil || !again.NoOp || again.Commit != created.Commit {
		t.Fatalf("same proposal again = %+v, %v; want a no-op at %s", again, err, created.Commit)
	}

	// The target moves and the proposal changes: the side branch is rebuilt
	// on the new head, replacing its old commit.
	if _, err := open(t, repo.HTTPURL, t.TempDir(), gitrepo.Options{}).Update(t.Context(),
		gitrepo.Message{Subject: "unrelated"}, setFile("README.md", "hi\n")); err != nil {
		t.Fatal(err)
	}
	r = open(t, repo.HTTPURL, r.Dir(), gitrepo.Options{})
	updated, err := r.PushBranch(t.Context(), "stepper/prod-api", msg, setFile("envs/prod/api.yaml", "version: v3\n"))
	if err != nil {
		t.Fatal(err)
	}
	if updated.NoOp || rev(t, repo, "stepper/prod-api") != updated.Commit || rev(t, repo, "stepper/prod-api~1") != rev(t, repo, "master") {
		t.Errorf("updated %+v: side %s parent %s, master %s", updated, rev(t, repo, "stepper/prod-api"),
			rev(t, repo, "stepper/prod-api~1"), rev(t, repo, "master"))
	}
	if got, _ := repo.ReadFile("stepper/prod-api", "envs/prod/api.yaml"); got != "version: v3\n" {
		t.Errorf("side branch content %q", got)
	}

	if _, err := r.PushBranch(t.Context(), "master", msg, setFile("x", "y")); exit.ClassOf(err) != exit.Usage {
		t.Errorf("PushBranch onto the target branch: %v, want a usage error", err)
	}
}

// A cached directory is reused after the remote moved, and whatever a
// previous run left in it is dropped.
func TestOpenReusesCache(t *testing.T) {
	repo := newRepo(t, map[string]string{"a.yaml": "v: 1\n", "b.yaml": "b\n"})
	dir := t.TempDir()
	first := open(t, repo.HTTPURL, dir, gitrepo.Options{})
	if first.Head() != rev(t, repo, "master") {
		t.Fatal("fresh clone not at master")
	}
	// Leftovers of a crashed run.
	_ = os.WriteFile(filepath.Join(dir, "a.yaml"), []byte("dirty"), 0o644)
	_ = os.WriteFile(filepath.Join(dir, "untracked"), []byte("x"), 0o644)
	// The remote moves: a.yaml changes, b.yaml goes, c.yaml comes.
	if _, err := open(t, repo.HTTPURL, t.TempDir(), gitrepo.Options{}).Update(t.Context(), gitrepo.Message{Subject: "move"},
		func(dir string) (bool, error) {
			_ = os.Remove(filepath.Join(dir, "b.yaml"))
			_ = os.WriteFile(filepath.Join(dir, "c.yaml"), []byte("c\n"), 0o644)
			return true, os.WriteFile(filepath.Join(dir, "a.yaml"), []byte("v: 2\n"), 0o644)
		}); err != nil {
		t.Fatal(err)
	}
	// Same repository, credentials rotated: still the cache.
	withCreds := strings.Replace(repo.HTTPURL, "http://", "http://ci:rotated-token@", 1)
	again, err := gitrepo.Open(t.Context(), withCreds, "", dir, gitrepo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if again.Head() != rev(t, repo, "master") || again.Branch() != "master" {
		t.Errorf("reused head %s on %s, want master %s", again.Head(), again.Branch(), rev(t, repo, "master"))
	}
	for path, want := range map[string]string{"a.yaml": "v: 2\n", "c.yaml": "c\n", "b.yaml": "", "untracked": ""} {
		if data, _ := os.ReadFile(filepath.Join(dir, path)); string(data) != want {
			t.Errorf("%s = %q, want %q", path, data, want)
		}
	}
	if res, err := again.Update(t.Context(), gitrepo.Message{Subject: "after reuse"}, setFile("a.yaml", "v: 3\n")); err != nil || res.Attempts != 1 {
		t.Errorf("update from reused cache: %+v, %v", res, err)
	}

	other := newRepo(t, map[string]string{"z": "z"})
	if _, err := gitrepo.Open(t.Context(), other.HTTPURL, "master", dir, gitrepo.Options{}); exit.ClassOf(err) != exit.Usage {
		t.Errorf("opening a cache of another repository: %v, want a usage error", err)
	}
	full := t.TempDir()
	_ = os.WriteFile(filepath.Join(full, "precious"), []byte("x"), 0o644)
	if _, err := gitrepo.Open(t.Context(), repo.HTTPURL, "master", full, gitrepo.Options{}); exit.ClassOf(err) != exit.Usage {
		t.Errorf("opening a non-empty directory without a clone: %v, want a usage error", err)
	}
	if _, err := os.Stat(filepath.Join(full, "precious")); err != nil {
		t.Errorf("the directory's content was touched: %v", err)
	}
}

// A cache a killed git left locked is cloned again.
func TestOpenRecoversBrokenCache(t *testing.T) {
	repo := newRepo(t, map[string]string{"a": "1"})
	dir := t.TempDir()
	open(t, repo.HTTPURL, dir, gitrepo.Options{})
	if err := os.WriteFile(filepath.Join(dir, ".git", "index.lock"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r := open(t, repo.HTTPURL, dir, gitrepo.Options{})
	if r.Head() != rev(t, repo, "master") {
		t.Errorf("head %s", r.Head())
	}
}

func TestLogDeepensShallowHistory(t *testing.T) {
	repo := newRepo(t, map[string]string{"app.yaml": "0", "other": "0"})
	w := open(t, repo.HTTPURL, t.TempDir(), gitrepo.Options{})
	for i := 1; i <= 12; i++ {
		path := "other"
		if i%3 == 0 {
			path = "app.yaml"
		}
		if _, err := w.Update(t.Context(), gitrepo.Message{Subject: fmt.Sprint("change ", i),
			Trailers: []gitrepo.Trailer{{"Stepper-Release", strconv.Itoa(i)}}}, setFile(path, strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	r := open(t, repo.HTTPURL, t.TempDir(), gitrepo.Options{})
	log, err := r.Log(t.Context(), "app.yaml", 3)
	if err != nil {
		t.Fatal(err)
	}
	var releases []string
	for _, c := range log {
		releases = append(releases, c.Trailers["Stepper-Release"])
	}
	if fmt.Sprint(releases) != "[12 9 6]" {
		t.Errorf("releases %v, want [12 9 6]", releases)
	}
	all, err := r.Log(t.Context(), "app.yaml", 100)
	if err != nil || len(all) != 5 { // 4 changes and the seed
		t.Errorf("full log: %d commits, %v", len(all), err)
	}
}

func TestMessageValidation(t *testing.T) {
	repo := newRepo(t, map[string]string{"a": "1"})
	r := open(t, repo.HTTPURL, t.TempDir(), gitrepo.Options{})
	for _, msg := range []gitrepo.Message{
		{},
		{Subject: "two\nlines"},
		{Subject: "s", Trailers: []gitrepo.Trailer{{"Bad Key", "v"}}},
		{Subject: "s", Trailers: []gitrepo.Trailer{{"Key", "multi\nline"}}},
	} {
		if _, err := r.Update(t.Context(), msg, setFile("a", "2")); exit.ClassOf(err) != exit.Usage {
			t.Errorf("message %+v: %v, want a usage error", msg, err)
		}
	}
}

var leakedSecret = regexp.MustCompile(`s3cr3t-token`)

func TestRemoteErrorsClassifiedWithoutCredentials(t *testing.T) {
	denied := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
		http.Error(w, "HTTP Basic: Access denied", http.StatusUnauthorized)
	}))
	defer denied.Close()
	missing := httptest.NewServer(http.NotFoundHandler())
	defer missing.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	repo := newRepo(t, map[string]string{"a": "1"})

	creds := func(u string) string { return strings.Replace(u, "http://", "http://ci:s3cr3t-token@", 1) }
	for _, tt := range []struct {
		name, url, branch string
		want              exit.Class
	}{
		{"auth", creds(denied.URL) + "/g/p.git", "master", exit.Usage},
		{"not found", creds(missing.URL) + "/g/p.git", "master", exit.Usage},
		{"unreachable", creds(closedURL) + "/g/p.git", "master", exit.Infra},
		{"no such branch", creds(repo.HTTPURL), "nope", exit.Usage},
		{"bad branch name", creds(repo.HTTPURL), "--upload-pack=evil", exit.Usage},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := gitrepo.Open(t.Context(), tt.url, tt.branch, t.TempDir(), gitrepo.Options{})
			if err == nil {
				t.Fatal("no error")
			}
			if got := exit.ClassOf(err); got != tt.want {
				t.Errorf("class %v, want %v: %v", got, tt.want, err)
			}
			if leakedSecret.MatchString(err.Error()) {
				t.Errorf("credentials in the error: %v", err)
			}
			t.Log(err)
		})
	}
}

func TestCloneKeepsWorking(t *testing.T) {
	repo := newRepo(t, map[string]string{"envs/test/a.yaml": "x\n"})
	dir := filepath.Join(t.TempDir(), "state")
	if err := gitrepo.Clone(t.Context(), repo.FileURL, "", dir); err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(filepath.Join(dir, "envs/test/a.yaml")); err != nil || string(data) != "x\n" {
		t.Errorf("cloned content %q, %v", data, err)
	}
}

// Export writes the tree of an earlier commit, not the checkout's.
func TestExportAnEarlierCommit(t *testing.T) {
	remote := newRepo(t, map[string]string{"envs/test/api.yaml": "version: v1\n", "README.md": "state\n"})
	repo := open(t, remote.HTTPURL, t.TempDir(), gitrepo.Options{})
	first := repo.Head()
	if _, err := repo.Update(t.Context(), gitrepo.Message{Subject: "v2"}, setFile("envs/test/api.yaml", "version: v2\n")); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := repo.Export(t.Context(), first, dir); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "envs", "test", "api.yaml"))
	if err != nil || string(got) != "version: v1\n" {
		t.Errorf("exported envs/test/api.yaml = %q, %v; want v1", got, err)
	}
	if err := repo.Export(t.Context(), "--output=/tmp/x", t.TempDir()); err == nil {
		t.Error("an option passed as a revision was accepted")
	}
	if err := repo.Export(t.Context(), "0000000000000000000000000000000000000000", t.TempDir()); err == nil {
		t.Error("an unknown commit exported")
	}
}

// A commit merged by a merge request reaches the branch with its merge:
// Landed says when the environment got it, not when it was written.
func TestLandedIsTheMergeTime(t *testing.T) {
	remote := newRepo(t, map[string]string{"envs/qa/api.yaml": "version: v1\n"})
	work := t.TempDir()
	git := func(when string, args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull, "HOME="+work,
			"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t",
			"GIT_AUTHOR_DATE="+when, "GIT_COMMITTER_DATE="+when)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("@1767225600 +0000", "clone", "-q", remote.Dir, ".")
	git("@1767225600 +0000", "checkout", "-q", "-b", "stepper/qa/api")
	if err := os.WriteFile(filepath.Join(work, "envs", "qa", "api.yaml"), []byte("version: v2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git("@1767225600 +0000", "commit", "-q", "-am", "deploy api v2 to qa") // 2026-01-01
	if err := os.WriteFile(filepath.Join(work, "README"), []byte("a second commit on the branch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git("@1767225700 +0000", "add", "README")
	git("@1767225700 +0000", "commit", "-q", "-m", "another change on the same branch")
	git("@1767225600 +0000", "checkout", "-q", "master")
	git("@1769904000 +0000", "merge", "-q", "--no-ff", "-m", "Merge branch stepper/qa/api", "stepper/qa/api") // 2026-02-01
	git("@1769904000 +0000", "push", "-q", "origin", "master")

	r := open(t, remote.HTTPURL, t.TempDir(), gitrepo.Options{})
	commits, err := r.Log(t.Context(), "envs/qa/api.yaml", 10)
	if err != nil || len(commits) == 0 || commits[0].Subject != "deploy api v2 to qa" {
		t.Fatalf("log: %+v, %v", commits, err)
	}
	landed, err := r.Landed(t.Context(), commits)
	if err != nil {
		t.Fatal(err)
	}
	if got := landed[commits[0].SHA].Unix(); got != 1769904000 {
		t.Errorf("the deploy landed at %d, want the merge's time 1769904000 (its own is %d)", got, commits[0].Time.Unix())
	}
	if last := commits[len(commits)-1]; !landed[last.SHA].Equal(last.Time) {
		t.Errorf("a commit on the first-parent line landed at %s, want its own time %s", landed[last.SHA], last.Time)
	}
}
