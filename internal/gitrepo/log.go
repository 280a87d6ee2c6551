package gitrepo

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/stepper-cd/stepper/internal/exit"
)

// Commit is one commit of the branch's history.
type Commit struct {
	SHA, Subject string
	// Trailers are the message's "Key: Value" trailers; for a key given
	// twice, the last value.
	Trailers map[string]string
	// TrailerList is every trailer in the order written, repeated keys
	// included.
	TrailerList []Trailer
	Time        time.Time // committer time
}

// Log returns up to n of the newest commits of the checkout that touch path
// (a file or directory; "" for all), newest first. The checkout is shallow,
// so Log deepens it until it has n commits it can trust or the whole history.
func (r *Repo) Log(ctx context.Context, path string, n int) ([]Commit, error) {
	if n <= 0 {
		return nil, nil
	}
	deepen := max(64, 4*n)
	for {
		commits, err := r.log(ctx, "HEAD", path, n+1)
		if err != nil {
			return nil, err
		}
		boundary, err := r.shallowBoundary()
		if err != nil {
			return nil, err
		}
		// git shows a shallow boundary commit as adding every file, so it
		// says nothing true about path; the commits before it are exact.
		trusted := commits
		for i, c := range commits {
			if boundary[c.SHA] {
				trusted = commits[:i]
				break
			}
		}
		if len(boundary) == 0 || len(trusted) >= n {
			return trusted[:min(n, len(trusted))], nil
		}
		if _, err := r.git(ctx, "", "fetch", "--quiet", "--no-tags", "--deepen="+strconv.Itoa(deepen), "origin", r.trackingRefspec()); err != nil {
			return nil, r.remoteError("fetch", err)
		}
		deepen *= 4
	}
}

const (
	fieldSep  = "\x1f"
	recordSep = "\x1e"
)

func (r *Repo) log(ctx context.Context, rev, path string, n int) ([]Commit, error) {
	// --topo-order: a merged commit dated after its child (a clock ahead,
	// or the same second) must still come after it, or the newest release
	// read from the history is the wrong one.
	args := []string{"log", "--no-color", "--topo-order",
		"--format=%H" + fieldSep + "%s" + fieldSep + "%ct" + fieldSep + "%(trailers:only,unfold)" + recordSep}
	if n > 0 {
		args = append(args, "-n", strconv.Itoa(n))
	}
	args = append(args, rev, "--")
	if path != "" {
		args = append(args, path)
	}
	out, err := r.git(ctx, "", args...)
	if err != nil {
		return nil, fmt.Errorf("git log %s in %s: %w", path, r.dir, err)
	}
	return parseLog(out), nil
}

// parseLog reads the output of log's format: records of SHA, subject,
// committer time and trailers. A record without all four fields is
// skipped; a time that is not a number is left zero.
func parseLog(out string) []Commit {
	var commits []Commit
	for _, rec := range strings.Split(out, recordSep) {
		f := strings.SplitN(strings.TrimLeft(rec, "\n"), fieldSep, 4)
		if len(f) != 4 {
			continue
		}
		c := Commit{SHA: f[0], Subject: f[1], Trailers: map[string]string{}}
		if secs, err := strconv.ParseInt(f[2], 10, 64); err == nil {
			c.Time = time.Unix(secs, 0)
		}
		for _, line := range strings.Split(f[3], "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) != "" {
				k, v = strings.TrimSpace(k), strings.TrimSpace(v)
				c.Trailers[k] = v
				c.TrailerList = append(c.TrailerList, Trailer{Key: k, Value: v})
			}
		}
		commits = append(commits, c)
	}
	return commits
}

// shallowBoundary is the set of commits whose parents the checkout lacks.
func (r *Repo) shallowBoundary() (map[string]bool, error) {
	data, err := os.ReadFile(filepath.Join(r.dir, ".git", "shallow"))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("git %s: %w", r.dir, err)
	}
	set := map[string]bool{}
	for _, sha := range strings.Fields(string(data)) {
		set[sha] = true
	}
	return set, nil
}

// Pending returns the commits of the checkout's branch that base (another
// branch of the remote) does not have, newest first: what a merge request
// from this branch into base proposes. The checkout is shallow, so Pending
// first fetches base and deepens both until they meet; it changes neither
// the working tree nor the head.
func (r *Repo) Pending(ctx context.Context, base string) ([]Commit, error) {
	if !validBranch(base) || base == r.branch {
		return nil, exit.Usagef("git %s: base branch %q: want a valid branch name other than %s", r.safeURL, base, r.branch)
	}
	ref := "refs/remotes/origin/" + base
	if _, err := r.git(ctx, "", "fetch", "--quiet", "--no-tags", "--depth=64", "origin", "+refs/heads/"+base+":"+ref); err != nil {
		return nil, r.remoteError("fetch "+base, err)
	}
	for deepen := 64; ; deepen *= 4 {
		if _, err := r.git(ctx, "", "merge-base", "HEAD", ref); err == nil {
			break
		}
		boundary, err := r.shallowBoundary()
		if err != nil {
			return nil, err
		}
		if len(boundary) == 0 { // whole history, and still no common commit
			return nil, exit.Usagef("git %s: branches %s and %s share no history; a merge request between them cannot be made", r.safeURL, r.branch, base)
		}
		if _, err := r.git(ctx, "", "fetch", "--quiet", "--no-tags", "--deepen="+strconv.Itoa(deepen), "origin",
			r.trackingRefspec(), "+refs/heads/"+base+":"+ref); err != nil {
			return nil, r.remoteError("fetch", err)
		}
	}
	return r.log(ctx, ref+"..HEAD", "", 0)
}

// Landed returns, for each of commits, when it reached the checkout's
// branch: its own committer time when it is on the branch's first-parent
// line, else the time of the merge on that line that brought it in (a
// merge request's merge), which is when the environment got it. A commit
// whose merge lies beyond what the checkout holds keeps its own time.
func (r *Repo) Landed(ctx context.Context, commits []Commit) (map[string]time.Time, error) {
	out := make(map[string]time.Time, len(commits))
	if len(commits) == 0 {
		return out, nil
	}
	text, err := r.git(ctx, "", "log", "--first-parent", "--format=%H %ct", "-n", strconv.Itoa(4*len(commits)+64), "HEAD")
	if err != nil {
		return nil, fmt.Errorf("git log --first-parent in %s: %w", r.dir, err)
	}
	chain := map[string]time.Time{}
	var order []string // the first-parent line, newest first
	for _, line := range strings.Split(text, "\n") {
		if sha, secs, ok := strings.Cut(strings.TrimSpace(line), " "); ok {
			if n, err := strconv.ParseInt(secs, 10, 64); err == nil {
				chain[sha] = time.Unix(n, 0)
				order = append(order, sha)
			}
		}
	}
	for _, c := range commits {
		if t, ok := chain[c.SHA]; ok {
			out[c.SHA] = t
			continue
		}
		out[c.SHA] = c.Time
		// The oldest commit of the first-parent line that descends from c
		// is the merge that brought it in.
		list, err := r.git(ctx, "", "rev-list", "--ancestry-path", c.SHA+"..HEAD")
		if err != nil {
			continue // beyond the shallow history: its own time
		}
		descends := map[string]bool{}
		for _, sha := range strings.Fields(list) {
			descends[sha] = true
		}
		for _, sha := range order {
			if descends[sha] {
				out[c.SHA] = chain[sha]
			}
		}
	}
	return out, nil
}
