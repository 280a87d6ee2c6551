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
	// Environ is added to git's environment, for credential helpers,
	// GIT_ASKPASS, GIT_SSH_COMMAND or GIT_CONFIG_COUNT/KEY/VALUE settings.
	Environ []string
	// Tries bounds the attempts of Update and PushBranch; default 8.
	Tries int
	// Backoff is the least bound of the wait before the second attempt;
	// the bound is at least as long as the attempt that lost took (writers
	// collide when their attempts overlap), doubles for each further attempt
	// up to MaxBackoff, and the wait is drawn at random below it; defaults
	// 50ms and 10s.
	Backoff, MaxBackoff time.Duration
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
	if o.Backoff <= 0 {
		o.Backoff = 50 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 10 * time.Second
	}
	return o
}

// Repo is a shallow working checkout of one branch in a directory this
// package manages.
type Repo struct {
	url     string // as given; may hold credentials, never printed
	safeURL string
	branch  string
	dir     string
	opts    Options
	env     []string
	head    string
}

// Clone makes a shallow clone of branch (the remote's default when empty)
// of url in dir, which must not exist or be empty. Credentials in url never
// appear in errors.
func Clone(ctx context.Context, url, branch, dir string) error {
	_, err := Open(ctx, url, branch, dir, Options{})
	return err
}

// Open returns a checkout of branch of url in dir at the remote's newest
// commit. When dir already holds a clone of url, Open fetches into it and
// discards whatever was left there; otherwise dir must not exist or be empty
// and Open makes a shallow clone (depth 1, one branch). An empty branch
// means the remote's default branch, or the branch dir already tracks.
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
	o = o.withDefaults()
	r := &Repo{url: url, safeURL: safe(url), branch: branch, dir: abs, opts: o, env: environ(o, abs)}
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
	if _, err := os.Stat(filepath.Join(r.dir, ".git")); err != nil {
		if len(entries) == 0 {
			return false, nil
		}
		return false, exit.Usagef("git checkout directory %s is not empty and holds no clone: use an empty or new directory", r.dir)
	}
	origin, err := r.gitLine(ctx, "config", "--get", "remote.origin.url")
	if err != nil && ctx.Err() != nil {
		return false, err
	}
	if safe(origin) != r.safeURL {
		return false, exit.Usagef("git checkout directory %s holds a clone of %q, not %s: use another directory or remove it",
			r.dir, safe(origin), r.safeURL)
	}
	if origin != r.url {
		// Same repository, new credentials (CI job tokens change per job).
		if _, err := r.git(ctx, "", "remote", "set-url", "origin", r.url); err != nil {
			return false, fmt.Errorf("git cache %s: %w", r.dir, err)
		}
	}
	return true, nil
}

// clone makes the shallow clone and learns the default branch if none was named.
func (r *Repo) clone(ctx context.Context) error {
	if err := os.MkdirAll(filepath.Dir(r.dir), 0o755); err != nil {
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
