package gitrepo

import (
	"context"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"time"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/logging"
	"github.com/stepper-cd/stepper/internal/retry"
)

// Message is a commit message: a subject line, an optional body and
// trailers ("Key: Value" lines in the last paragraph, as git
// interpret-trailers writes them) that Log reads back.
type Message struct {
	Subject  string
	Body     string
	Trailers []Trailer
}

// Trailer is one "Key: Value" line of a commit message.
type Trailer struct{ Key, Value string }

// Result is what an edit did to the remote.
type Result struct {
	// Commit is the commit that landed; for a no-op, the head the edit saw
	// (or, for PushBranch, the side branch's commit that already holds the
	// same change).
	Commit string
	// NoOp says the edit changed nothing, so nothing was committed.
	NoOp bool
	// Attempts counts the edits applied, 1 unless pushes lost races.
	Attempts int
	// Diff is the unified diff of the change.
	Diff string
}

// Edit changes files under dir and reports whether anything needs to
// change. It must read what it edits from dir each time it is called: after
// a lost race it is called again on the newer content. An alias, so callers'
// interfaces can spell the plain func type.
type Edit = func(dir string) (changed bool, err error)

var trailerKey = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]*$`)

func (m Message) text() (string, error) {
	subject := strings.TrimSpace(m.Subject)
	if subject == "" || strings.ContainsAny(subject, "\r\n") {
		return "", exit.Usagef("commit message: the subject must be one non-empty line, got %q", m.Subject)
	}
	var b strings.Builder
	b.WriteString(subject)
	if body := strings.TrimSpace(m.Body); body != "" {
		b.WriteString("\n\n" + body)
	}
	for i, t := range m.Trailers {
		if !trailerKey.MatchString(t.Key) || strings.ContainsAny(t.Value, "\r\n") {
			return "", exit.Usagef("commit message: trailer %q: %q: want a key of letters, digits and dashes and a one-line value", t.Key, t.Value)
		}
		if i == 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "\n%s: %s", t.Key, strings.TrimSpace(t.Value))
	}
	b.WriteString("\n")
	return b.String(), nil
}

// Update applies edit to the branch head, commits what it wrote and pushes.
// When the push loses a race, Update fetches the newer head, resets to it
// and calls edit again on that content, with jittered, capped exponential
// backoff, for up to Options.RaceBudget; a push that fails in transit is
// tried again up to Options.Tries times. The push is a compare-and-swap on
// the head edit saw (--force-with-lease=<branch>:<that head>, and the new
// commit's parent is that head, so a push that passes is always a fast
// forward): a change made from stale content never lands.
func (r *Repo) Update(ctx context.Context, msg Message, edit Edit) (*Result, error) {
	text, err := msg.text()
	if err != nil {
		return nil, err
	}
	log := logging.From(ctx).With().Str("repo", r.safeURL).Str("branch", r.branch).Logger()
	var pending *Result // a commit whose push failed, and may have landed all the same
	var took time.Duration
	start := time.Now()
	tries := pushTries{r: r, began: start}
	for attempt := 1; ; attempt++ {
		if attempt > 1 {
			if err := retry.Sleep(ctx, r.backoff(attempt-1, took)); err != nil {
				return nil, fmt.Errorf("git push %s (branch %s): %w", r.safeURL, r.branch, err)
			}
			start = time.Now()
			if err := r.refresh(ctx); err != nil {
				return nil, err
			}
			if pending != nil && r.head == pending.Commit {
				return pending, nil
			}
			pending = nil
		}
		base := r.head
		res, err := r.commit(ctx, text, edit)
		if err != nil || res.NoOp {
			if res != nil {
				res.Attempts = attempt
			}
			return res, err
		}
		res.Attempts = attempt
		_, err = r.git(ctx, "", "push", "--porcelain", "--quiet", "--no-verify",
			"--force-with-lease=refs/heads/"+r.branch+":"+base, "origin", "HEAD:refs/heads/"+r.branch)
		took = time.Since(start)
		if err == nil {
			r.head = res.Commit
			log.Debug().Str("commit", res.Commit).Int("attempts", attempt).Msg("git change pushed")
			return res, nil
		}
		k := classify(err)
		if k != kindRejected && k != kindUnreachable || ctx.Err() != nil {
			_ = r.resetTo(ctx, base)
			return nil, r.remoteError("push", err)
		}
		// Either way the push may have landed: an answer lost in transit
		// leaves it unknown, and a transport that sends the push again
		// (curl does, once, on a reused connection that died) finds its own
		// first copy at the head and reports a lost race. The next fetch
		// tells: the commit's ID is its content, parent and time, so only
		// this push can have put it at the head.
		pending = res
		if err := tries.giveUp(k, attempt, r.branch, err); err != nil {
			_ = r.resetTo(ctx, base)
			return nil, err
		}
		log.Info().Int("attempt", attempt).Err(redactedErr(err)).Msg("git push rejected, applying the edit again on the newer head")
	}
}

// commit applies edit to the working tree and commits the change. Nothing
// to commit gives a no-op result and a clean tree.
func (r *Repo) commit(ctx context.Context, text string, edit Edit) (*Result, error) {
	diff, err := r.apply(ctx, edit)
	if err != nil || diff == "" {
		if dErr := r.discard(ctx); err == nil {
			err = dErr
		}
		if err != nil {
			return nil, err
		}
		return &Result{Commit: r.head, NoOp: true}, nil
	}
	if _, err := r.git(ctx, text, "commit", "--quiet", "--no-verify", "--no-gpg-sign", "--cleanup=whitespace", "--file=-"); err != nil {
		_ = r.resetTo(ctx, r.head)
		return nil, fmt.Errorf("git commit in %s: %w", r.dir, err)
	}
	commit, err := r.gitLine(ctx, "rev-parse", "--verify", "HEAD")
	if err != nil {
		return nil, fmt.Errorf("git commit in %s: %w", r.dir, err)
	}
	return &Result{Commit: commit, Diff: diff}, nil
}

// apply runs edit and stages what it wrote; it returns the staged diff,
// empty when there is nothing to commit.
func (r *Repo) apply(ctx context.Context, edit Edit) (string, error) {
	changed, err := edit(r.dir)
	if err != nil {
		return "", err
	}
	if !changed {
		return "", nil
	}
	if _, err := r.git(ctx, "", "add", "--all"); err != nil {
		return "", fmt.Errorf("git add in %s: %w", r.dir, err)
	}
	diff, err := r.git(ctx, "", "diff", "--cached", "--no-color", "--no-ext-diff", "HEAD")
	if err != nil {
		return "", fmt.Errorf("git diff in %s: %w", r.dir, err)
	}
	return diff, nil
}

// Diff returns the diff edit would make to the branch head, for a dry run.
// It changes nothing: the working tree is reset afterwards.
func (r *Repo) Diff(ctx context.Context, edit Edit) (string, error) {
	diff, err := r.apply(ctx, edit)
	if dErr := r.discard(ctx); err == nil {
		err = dErr
	}
	return diff, err
}

// PushBranch commits edit, applied to the target branch head, as the only
// commit of the side branch (for a merge request), creating the side branch
// or replacing its commit. The push is a lease on the side branch's value as
// read, so a concurrent update of the side branch is never lost silently;
// the target branch is never written. When the side branch already holds
// the same change on the same head, nothing is pushed and the result is a
// no-op naming that commit. A push refused by the lease, or failed in
// transit, is tried again within Update's limits; when the side branch then
// holds the very commit that was pushed, that push landed and is the
// result. The working tree returns to the target head.
func (r *Repo) PushBranch(ctx context.Context, branch string, msg Message, edit Edit) (*Result, error) {
	if !validBranch(branch) || branch == r.branch {
		return nil, exit.Usagef("git %s: side branch %q: want a valid branch name other than the target %s", r.safeURL, branch, r.branch)
	}
	text, err := msg.text()
	if err != nil {
		return nil, err
	}
	sideRef := "refs/heads/" + branch
	var pending *Result // a commit whose push failed, and may have landed all the same (see Update)
	var took time.Duration
	start := time.Now()
	tries := pushTries{r: r, began: start}
	for attempt := 1; ; attempt++ {
		if attempt > 1 {
			if err := retry.Sleep(ctx, r.backoff(attempt-1, took)); err != nil {
				return nil, fmt.Errorf("git push %s (branch %s): %w", r.safeURL, branch, err)
			}
			start = time.Now()
			if err := r.refresh(ctx); err != nil {
				return nil, err
			}
		}
		base := r.head
		side, err := r.remoteSHA(ctx, sideRef)
		if err != nil {
			return nil, err
		}
		if pending != nil && side == pending.Commit {
			return pending, nil
		}
		pending = nil
		res, err := r.commit(ctx, text, edit)
		if err != nil || res.NoOp {
			if res != nil {
				res.Attempts = attempt
			}
			return res, err
		}
		res.Attempts = attempt
		if same, err := r.sameChange(ctx, side, base); err != nil || same {
			_ = r.resetTo(ctx, base)
			if same {
				return &Result{Commit: side, NoOp: true, Attempts: attempt, Diff: res.Diff}, nil
			}
			return nil, err
		}
		_, err = r.git(ctx, "", "push", "--porcelain", "--quiet", "--no-verify",
			"--force-with-lease="+sideRef+":"+side, "origin", "HEAD:"+sideRef)
		took = time.Since(start)
		if rErr := r.resetTo(ctx, base); err == nil && rErr != nil {
			return nil, rErr
		}
		if err == nil {
			return res, nil
		}
		k := classify(err)
		if k != kindRejected && k != kindUnreachable || ctx.Err() != nil {
			return nil, r.remoteError("push "+branch, err)
		}
		pending = res
		if err := tries.giveUp(k, attempt, branch, err); err != nil {
			return nil, err
		}
	}
}

// remoteSHA is the commit ref points at on the remote, "" when it does not exist.
func (r *Repo) remoteSHA(ctx context.Context, ref string) (string, error) {
	out, err := r.gitLine(ctx, "ls-remote", "origin", ref)
	if err != nil {
		return "", r.remoteError("ls-remote", err)
	}
	for _, line := range strings.Split(out, "\n") {
		if sha, name, ok := strings.Cut(line, "\t"); ok && name == ref {
			return sha, nil
		}
	}
	return "", nil
}

// sameChange reports whether the remote commit side has the tree of HEAD
// and the parent base: the side branch already proposes this change.
func (r *Repo) sameChange(ctx context.Context, side, base string) (bool, error) {
	if side == "" {
		return false, nil
	}
	if _, err := r.git(ctx, "", "fetch", "--quiet", "--depth", "1", "--no-tags", "origin", side); err != nil {
		return false, r.remoteError("fetch", err)
	}
	raw, err := r.git(ctx, "", "cat-file", "commit", side)
	if err != nil {
		return false, fmt.Errorf("git %s: %w", r.dir, err)
	}
	tree, err := r.gitLine(ctx, "rev-parse", "HEAD^{tree}")
	if err != nil {
		return false, fmt.Errorf("git %s: %w", r.dir, err)
	}
	header, _, _ := strings.Cut(raw, "\n\n")
	return strings.Contains(header+"\n", "tree "+tree+"\n") &&
		strings.Contains(header+"\n", "\nparent "+base+"\n") &&
		strings.Count(header, "\nparent ") == 1, nil
}

func (r *Repo) resetTo(ctx context.Context, commit string) error {
	if _, err := r.git(ctx, "", "reset", "--quiet", "--hard", commit); err != nil {
		return fmt.Errorf("git reset in %s: %w", r.dir, err)
	}
	return r.discard(ctx)
}

// backoff is the wait before retry n (1-based) after an attempt that took
// took: drawn at random below an exponential, capped bound ("full jitter")
// that starts at the attempt's own length, so racing writers spread out
// instead of colliding again in step, on a fast server as on a loaded one.
func (r *Repo) backoff(n int, took time.Duration) time.Duration {
	d := r.opts.MaxBackoff
	if n < 20 {
		d = min(max(r.opts.Backoff, took)<<(n-1), r.opts.MaxBackoff)
	}
	return rand.N(d + 1)
}

// redactedErr is err with credentials removed, for logs.
func redactedErr(err error) error { return fmt.Errorf("%s", redact(err.Error())) }

// pushTries counts an edit's failed pushes and says when to give up: lost
// races (another writer's change landed) go on for Options.RaceBudget from
// began, pushes that failed in transit for Options.Tries attempts.
type pushTries struct {
	r            *Repo
	began        time.Time
	lost, failed int
}

func (t *pushTries) giveUp(k kind, attempt int, branch string, err error) error {
	if k == kindRejected {
		t.lost++
		if spent := time.Since(t.began); spent >= t.r.opts.RaceBudget {
			return exit.Infraf("git push %s (branch %s): gave up after %d attempts in %s: %d pushes lost a race with another writer, whose change landed first: %w; "+
				"retry the job when fewer jobs write the branch at once",
				t.r.safeURL, branch, attempt, spent.Round(time.Second), t.lost, err)
		}
		return nil
	}
	t.failed++
	if t.failed >= t.r.opts.Tries {
		return exit.Infraf("git push %s (branch %s): gave up after %d attempts, %d of them failed in transit: %w; retry the job later",
			t.r.safeURL, branch, attempt, t.failed, err)
	}
	return nil
}
