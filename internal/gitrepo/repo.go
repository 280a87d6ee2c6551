// Package gitrepo is stepper's adapter to the git repositories that hold
// desired state: a shallow working checkout, kept in a cache directory, that
// edits land in as commits pushed without ever overwriting a newer change.
// It runs the git CLI with a hermetic configuration.
//
// A Repo is not safe for concurrent use, and one directory serves one Repo at
// a time; concurrent writers each open their own directory and race through
// the remote, which Update is built for.
package gitrepo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/logging"
)

// Options say who commits and how git reaches the remote.
type Options struct {
	// Author and Email are the fixed author and committer of every commit;
	// defaults "stepper" and "stepper@localhost".
	Author, Email string
	// Environ is the job's environment, over os.Environ. git gets only
	// the variables it needs to reach the remote from it (PATH, HOME,
	// proxies, trust stores, SSH_AUTH_SOCK, GIT_SSH_COMMAND, GIT_ASKPASS,
	// …); no GIT_DIR, GIT_CONFIG_* or locale of the job reaches git.
	Environ []string
	// Tries bounds the attempts of Update and PushBranch that fail with
	// the remote out of reach; default 8.
	Tries int
	// RaceBudget bounds how long Update and PushBranch go on applying an
	// edit again after pushes that lost a race, counted from the first
	// attempt; default 5 minutes. A lost race is not counted against
	// Tries: another writer's change landed, so the writers as a whole
	// progress, and with n writers at once the last may lose n-1 races.
	RaceBudget time.Duration
	// Backoff is the least bound of the wait before the second attempt;
	// the bound is at least as long as the attempt that lost took (writers
	// collide when their attempts overlap), doubles for each further attempt
	// up to MaxBackoff, and the wait is drawn at random below it; defaults
	// 50ms and 10s.
	Backoff, MaxBackoff time.Duration
	// CommandTimeout bounds each git command (a clone, a fetch, a push);
	// default 10 minutes.
	CommandTimeout time.Duration
}

func (o Options) withDefaults() Options {
	if o.Author == "" {
		o.Author = "stepper"
	}
	if o.Email == "" {
		o.Email = "stepper@localhost"
	}
	if o.Tries <= 0 {
		o.Tries = 8
	}
	if o.RaceBudget <= 0 {
		o.RaceBudget = 5 * time.Minute
	}
	if o.Backoff <= 0 {
		o.Backoff = 50 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 10 * time.Second
	}
	if o.CommandTimeout <= 0 {
		o.CommandTimeout = 10 * time.Minute
	}
	return o
}

// Repo is a shallow working checkout of one branch in a directory this
// package manages.
type Repo struct {
	url     string // without credentials: git never sees them in a URL
	safeURL string
	branch  string
	dir     string
	opts    Options
	env     []string
	head    string
}

// Clone makes a shallow clone of branch (the remote's default when empty)
// of url in dir, which must not exist or be empty. Credentials in url never
// appear in errors, in git's arguments or in the clone's files.
func Clone(ctx context.Context, url, branch, dir string) error {
	_, err := Open(ctx, url, branch, dir, Options{})
	return err
}

// Open returns a checkout of branch of url in dir at the remote's newest
// commit. When dir already holds a clone of url, Open fetches into it and
// discards whatever was left there; otherwise dir must not exist or be empty
// and Open makes a shallow clone (depth 1, one branch). An empty branch
// means the remote's default branch, or the branch dir already tracks.
//
// A user and password in an http(s) url reach git only through the
// environment of its processes (see credentials.go). dir is made private
// (0700), and a cached dir's .git/config is replaced by a clean one, so
// nothing a previous job or the repository left there (hooks, fsmonitor,
// filters, include paths, credentials) runs or lingers.
func Open(ctx context.Context, url, branch, dir string, o Options) (*Repo, error) {
	if url == "" {
		return nil, exit.Usagef("git: no repository URL")
	}
	if branch != "" && !validBranch(branch) {
		return nil, exit.Usagef("git %s: %q is not a valid branch name", safe(url), branch)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("git checkout directory %s: %w", dir, err)
	}
	clean, creds, err := splitURL(url)
	if err != nil {
		return nil, err
	}
	o = o.withDefaults()
	r := &Repo{url: clean, safeURL: safe(clean), branch: branch, dir: abs, opts: o, env: environ(o, abs, creds)}
	cached, err := r.isCache(ctx)
	if err != nil {
		return nil, err
	}
	if cached {
		err = r.reuse(ctx)
		if err == nil {
			return r, nil
		}
		if exit.ClassOf(err) == exit.Usage || ctx.Err() != nil || isUnreachable(err) {
			return nil, err
		}
		// A broken cache (a lock left by a killed git, a corrupt object) is
		// only a cache: start over.
		logging.From(ctx).Warn().Err(err).Str("dir", abs).Msg("git cache unusable, cloning again")
		if err := os.RemoveAll(abs); err != nil {
			return nil, fmt.Errorf("git cache %s: %w", abs, err)
		}
	}
	if err := r.clone(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// Dir is the working tree.
func (r *Repo) Dir() string { return r.dir }

// Head is the commit the working tree is at.
func (r *Repo) Head() string { return r.head }

// Branch is the branch the checkout tracks.
func (r *Repo) Branch() string { return r.branch }

// isCache reports whether dir holds a clone of url. A directory holding
// anything else is refused rather than overwritten.
func (r *Repo) isCache(ctx context.Context) (bool, error) {
	entries, err := os.ReadDir(r.dir)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, exit.Usagef("git checkout directory %s: %w", r.dir, err)
	}
	fi, err := os.Lstat(filepath.Join(r.dir, ".git"))
	if err != nil {
		if len(entries) == 0 {
			return false, nil
		}
		return false, exit.Usagef("git checkout directory %s is not empty and holds no clone: use an empty or new directory", r.dir)
	}
	// stepper's clones have a plain .git directory of their own; a .git
	// file, a link or a commondir would point git at another repository's
	// configuration.
	if _, err := os.Lstat(filepath.Join(r.dir, ".git", "commondir")); !fi.IsDir() || err == nil {
		return false, exit.Usagef("git checkout directory %s holds a .git that points elsewhere, not a clone stepper made: remove the directory", r.dir)
	}
	origin, err := r.configGet(ctx, "remote.origin.url")
	if err != nil {
		return false, err
	}
	// An older cache may hold the URL with credentials; resetConfig drops them.
	if safe(origin) != r.safeURL {
		return false, exit.Usagef("git checkout directory %s holds a clone of %q, not %s: use another directory or remove it",
			r.dir, safe(origin), r.safeURL)
	}
	return true, nil
}

// configGet reads one value of the checkout's own .git/config file, without
// following its include paths; "" when it is not set.
func (r *Repo) configGet(ctx context.Context, key string) (string, error) {
	v, err := r.gitLine(ctx, "config", "--file", filepath.Join(r.dir, ".git", "config"), "--no-includes", "--get", key)
	if err != nil {
		if ctx.Err() != nil {
			return "", err
		}
		return "", nil
	}
	return v, nil
}

// resetConfig makes the cached checkout private again and replaces its
// .git/config with the one a clone of r.url would have, keeping only the
// repository's object and ref formats.
func (r *Repo) resetConfig(ctx context.Context) error {
	if err := os.Chmod(r.dir, 0o700); err != nil {
		return fmt.Errorf("git cache %s: %w", r.dir, err)
	}
	var b strings.Builder
	version := 0
	var extensions strings.Builder
	for _, ext := range []struct {
		key     string
		allowed []string
	}{{"objectformat", []string{"sha1", "sha256"}}, {"refstorage", []string{"files", "reftable"}}} {
		v, err := r.configGet(ctx, "extensions."+ext.key)
		if err != nil {
			return err
		}
		if v = strings.ToLower(v); slices.Contains(ext.allowed, v) {
			version = 1
			fmt.Fprintf(&extensions, "\t%s = %s\n", ext.key, v)
		}
	}
	fmt.Fprintf(&b, "[core]\n\trepositoryformatversion = %d\n\tfilemode = true\n\tbare = false\n\tlogallrefupdates = true\n", version)
	if extensions.Len() > 0 {
		b.WriteString("[extensions]\n" + extensions.String())
	}
	fmt.Fprintf(&b, "[remote \"origin\"]\n\turl = %s\n", quoteConfig(r.url))
	gitDir := filepath.Join(r.dir, ".git")
	for _, name := range []string{"config.worktree", "config.stepper"} {
		if err := os.Remove(filepath.Join(gitDir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("git cache %s: %w", r.dir, err)
		}
	}
	tmp := filepath.Join(gitDir, "config.stepper")
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("git cache %s: %w", r.dir, err)
	}
	if err := os.Rename(tmp, filepath.Join(gitDir, "config")); err != nil {
		return fmt.Errorf("git cache %s: %w", r.dir, err)
	}
	return nil
}

// quoteConfig quotes a value for a git config file.
func quoteConfig(v string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\t", `\t`).Replace(v) + `"`
}

// clone makes the shallow clone and learns the default branch if none was named.
func (r *Repo) clone(ctx context.Context) error {
	if err := os.MkdirAll(filepath.Dir(r.dir), 0o700); err != nil {
		return fmt.Errorf("git clone into %s: %w", r.dir, err)
	}
	// Private from the start: git clone keeps an existing empty directory's mode.
	if err := os.Mkdir(r.dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("git clone into %s: %w", r.dir, err)
	}
	if err := os.Chmod(r.dir, 0o700); err != nil {
		return fmt.Errorf("git clone into %s: %w", r.dir, err)
	}
	args := []string{"clone", "--quiet", "--depth", "1", "--single-branch", "--no-tags"}
	if r.branch != "" {
		args = append(args, "--branch", r.branch)
	}
	if _, err := r.git(ctx, "", append(args, "--", r.url, r.dir)...); err != nil {
		return r.remoteError("clone", err)
	}
	if r.branch == "" {
		b, err := r.gitLine(ctx, "symbolic-ref", "--quiet", "--short", "HEAD")
		if err != nil {
			return exit.Usagef("git clone %s: the remote has no default branch: name one", r.safeURL)
		}
		r.branch = b
	}
	return r.readHead(ctx)
}

// reuse brings a cached clone to the remote branch's newest commit.
func (r *Repo) reuse(ctx context.Context) error {
	if err := r.resetConfig(ctx); err != nil {
		return err
	}
	if r.branch == "" {
		b, err := r.gitLine(ctx, "symbolic-ref", "--quiet", "--short", "HEAD")
		if err != nil {
			return fmt.Errorf("git cache %s: no branch checked out: %w", r.dir, err)
		}
		r.branch = b
	}
	return r.refresh(ctx)
}

// refresh fetches the branch and resets the working tree to it, dropping
// local commits and files. The fetch brings only what is new: history the
// checkout already has (Log deepens it) is kept, so a cached checkout
// answers history questions without going back to the remote.
func (r *Repo) refresh(ctx context.Context) error {
	if _, err := r.git(ctx, "", "fetch", "--quiet", "--no-tags", "origin", r.trackingRefspec()); err != nil {
		return r.remoteError("fetch", err)
	}
	if _, err := r.git(ctx, "", "checkout", "--quiet", "--force", "-B", r.branch, r.trackingRef()); err != nil {
		return fmt.Errorf("git checkout %s in %s: %w", r.branch, r.dir, err)
	}
	if _, err := r.git(ctx, "", "clean", "--quiet", "-ffdx"); err != nil {
		return fmt.Errorf("git clean in %s: %w", r.dir, err)
	}
	return r.readHead(ctx)
}

func (r *Repo) trackingRef() string { return "refs/remotes/origin/" + r.branch }

func (r *Repo) trackingRefspec() string { return "+refs/heads/" + r.branch + ":" + r.trackingRef() }

func (r *Repo) readHead(ctx context.Context) error {
	head, err := r.gitLine(ctx, "rev-parse", "--verify", "HEAD")
	if err != nil {
		return fmt.Errorf("git %s: %w", r.dir, err)
	}
	r.head = head
	return nil
}

// discard resets the working tree and index to the head, removing every
// file git does not track.
func (r *Repo) discard(ctx context.Context) error {
	if _, err := r.git(ctx, "", "reset", "--quiet", "--hard", "HEAD"); err != nil {
		return fmt.Errorf("git reset in %s: %w", r.dir, err)
	}
	if _, err := r.git(ctx, "", "clean", "--quiet", "-ffdx"); err != nil {
		return fmt.Errorf("git clean in %s: %w", r.dir, err)
	}
	return nil
}

// validBranch follows git check-ref-format closely enough that a name can
// neither be read as an option nor break a refspec.
func validBranch(b string) bool {
	if b == "" || b == "@" || strings.HasPrefix(b, "-") || strings.HasPrefix(b, "/") || strings.HasSuffix(b, "/") ||
		strings.HasSuffix(b, ".") || strings.HasSuffix(b, ".lock") || strings.Contains(b, "..") ||
		strings.Contains(b, "//") || strings.Contains(b, "@{") || strings.Contains(b, "/.") || strings.HasPrefix(b, ".") {
		return false
	}
	for _, c := range b {
		if c < 0x20 || c == 0x7f || strings.ContainsRune(" ~^:?*[\\", c) {
			return false
		}
	}
	return true
}
