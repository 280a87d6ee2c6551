package land

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/stepper-cd/stepper/internal/ci"
	"github.com/stepper-cd/stepper/internal/desiredstate"
	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/gitrepo"
)

// Spec is where one environment's desired state lives and how to read it.
type Spec struct {
	Env string
	// Repo and Branch are the desired-state repository and the branch the
	// environment rolls from; Path is the file or directory in it.
	Repo, Branch, Path string
	// Format is the configured format word (helmsman, helmfile, flux); ""
	// detects it from the files.
	Format string
	Keys   desiredstate.Keys
}

// Load reads the environment's document from a checkout rooted at root.
// Every failure to read it is a usage error naming the file.
func (s Spec) Load(root string) (desiredstate.Document, error) {
	opts, err := formatOptions(s, root)
	if err != nil {
		return nil, err
	}
	opts = append(opts, desiredstate.WithKeys(s.Keys), desiredstate.WithEnvironment(s.Env))
	doc, err := desiredstate.Load(filepath.Join(root, s.Path), opts...)
	if err != nil {
		return nil, exit.Mark(exit.Usage, fmt.Errorf("desired state of %s: %w", s.Env, err))
	}
	return doc, nil
}

// Checkouts opens desired-state checkouts. With a CacheDir, clones are kept
// there between runs on one machine, so a landing fetches instead of
// cloning; a clone in use by another run (a lock file says so) is left
// alone and this run clones into a directory of its own.
type Checkouts struct {
	CacheDir string
	// Environ is added to git's environment (credential helpers, SSH).
	Environ []string
	// Author and Email commit; defaults "stepper", "stepper@localhost".
	Author, Email string
}

// Open returns a checkout of branch of url and a release that must be
// called when the caller is done with it.
func (c *Checkouts) Open(ctx context.Context, url, branch string) (*gitrepo.Repo, func(), error) {
	dir, release, err := c.dir(url, branch)
	if err != nil {
		return nil, func() {}, err
	}
	repo, err := gitrepo.Open(ctx, url, branch, dir, gitrepo.Options{Author: c.Author, Email: c.Email, Environ: c.Environ})
	if err != nil {
		release()
		return nil, func() {}, err
	}
	return repo, release, nil
}

// State is a loaded desired state: the document, the directory relative
// values files and chart paths resolve against, and the commit it was read
// at ("" for a local path).
type State struct {
	Doc    desiredstate.Document
	Dir    string
	Commit string
	// Root is the checkout's top directory, which holds Dir: nothing a
	// desired state names (values files, chart paths) may be read from
	// outside it.
	Root  string
	close func()
}

// Close removes a clone made for the read.
func (s *State) Close() {
	if s != nil && s.close != nil {
		s.close()
	}
}

// Read loads an environment's desired state: from local, when it names a
// checkout (a file or directory, as --state gives it), else from a fresh
// shallow clone of the spec's repository.
func (c *Checkouts) Read(ctx context.Context, s Spec, local string) (*State, error) {
	if local != "" {
		fi, err := os.Stat(local)
		if err != nil {
			return nil, exit.Usagef("--state %s: %v", local, err)
		}
		root, path := local, ""
		if !fi.IsDir() {
			root, path = filepath.Dir(local), filepath.Base(local)
		} else if s.Path != "" {
			// A checkout of the whole repository: the spec's path in it.
			if _, err := os.Stat(filepath.Join(local, s.Path)); err == nil {
				path = s.Path
			}
		}
		s.Path = path
		doc, err := s.Load(root)
		if err != nil {
			return nil, err
		}
		return &State{Doc: doc, Dir: docDir(doc, root, path), Root: root}, nil
	}
	if s.Repo == "" {
		return nil, exit.Usagef("environment %s has no desiredState.repo: set it, or pass --state with a checkout", s.Env)
	}
	tmp, err := os.MkdirTemp("", "stepper-state-")
	if err != nil {
		return nil, err
	}
	cleanup := func() { os.RemoveAll(tmp) }
	repo, err := gitrepo.Open(ctx, s.Repo, s.Branch, filepath.Join(tmp, "repo"), gitrepo.Options{Environ: c.Environ})
	if err != nil {
		cleanup()
		return nil, err
	}
	doc, err := s.Load(repo.Dir())
	if err != nil {
		cleanup()
		return nil, err
	}
	return &State{Doc: doc, Dir: docDir(doc, repo.Dir(), s.Path), Commit: repo.Head(), Root: repo.Dir(), close: cleanup}, nil
}

// docDir is the directory the paths of doc are relative to: for a
// helmfile layout addressed by one of its files (a versions file), the
// helmfile's folder; else stateDir.
func docDir(doc desiredstate.Document, root, path string) string {
	dir := stateDir(root, path)
	if doc.Format() == desiredstate.Helmfile {
		if layout := desiredstate.LayoutDir(dir, root); layout != "" {
			return layout
		}
	}
	return dir
}

// stateDir is the directory of path under root: path itself when it is a
// directory, else the one holding it.
func stateDir(root, path string) string {
	full := filepath.Join(root, path)
	if fi, err := os.Stat(full); err == nil && !fi.IsDir() {
		return filepath.Dir(full)
	}
	return full
}

// dir is the checkout directory for url and branch: in CacheDir when the
// cache is private to this user (0700, tightened if it was wider) and no
// other run holds the clone's lock, else a new private temporary directory
// removed on release. gitrepo makes the clone itself 0700 and resets its
// configuration before reuse.
func (c *Checkouts) dir(url, branch string) (string, func(), error) {
	sum := sha256.Sum256([]byte(ci.StripCredentials(url) + "\x00" + branch))
	key := hex.EncodeToString(sum[:8])
	if c.CacheDir != "" && privateDir(c.CacheDir) == nil {
		dir := filepath.Join(c.CacheDir, key)
		if f, err := os.OpenFile(dir+".lock", os.O_CREATE|os.O_RDWR|syscall.O_NOFOLLOW, 0o600); err == nil {
			if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
				return dir, func() { f.Close() }, nil
			}
			f.Close()
		}
	}
	tmp, err := os.MkdirTemp("", "stepper-git-")
	if err != nil {
		return "", nil, exit.Infraf("git checkout directory: %w; free space in %s or set TMPDIR", err, os.TempDir())
	}
	return filepath.Join(tmp, "repo"), func() { os.RemoveAll(tmp) }, nil
}

// privateDir makes dir (created if missing) a directory only this user can
// enter. A link, or a directory another user owns, is not used: whoever
// owns it could plant a checkout for the privileged job to run.
func privateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Getuid() {
		return fmt.Errorf("%s belongs to user %d", dir, st.Uid)
	}
	if fi.Mode().Perm() != 0o700 {
		return os.Chmod(dir, 0o700)
	}
	return nil
}

// Snapshot is an environment's desired state and the newest commits that
// changed it, read from the cached checkout and held in memory: what a
// verb that only reads (promote's gates, rollback's plan) needs, without
// a clone of its own.
type Snapshot struct {
	Doc desiredstate.Document
	// Commits are the newest commits that change the spec's path, newest
	// first; Head is the checkout's head.
	Commits []gitrepo.Commit
	Head    string
	// Landed is when each of Commits reached the branch: a commit merged
	// by a merge request landed with its merge (gitrepo.Repo.Landed).
	Landed map[string]time.Time
}

// Snapshot reads s's document and up to depth commits of its history from
// the cached checkout of its repository and branch, and releases the
// checkout before it returns.
func (c *Checkouts) Snapshot(ctx context.Context, s Spec, depth int) (*Snapshot, error) {
	if s.Repo == "" {
		return nil, exit.Usagef("environment %s has no desiredState.repo: set it", s.Env)
	}
	repo, done, err := c.Open(ctx, s.Repo, s.Branch)
	if err != nil {
		return nil, err
	}
	defer done()
	doc, err := s.Load(repo.Dir())
	if err != nil {
		return nil, err
	}
	commits, err := repo.Log(ctx, s.Path, depth)
	if err != nil {
		return nil, err
	}
	landed, err := repo.Landed(ctx, commits)
	if err != nil {
		return nil, err
	}
	return &Snapshot{Doc: doc, Commits: commits, Head: repo.Head(), Landed: landed}, nil
}
