package ci

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"time"
)

// FillFromGit completes what the CI server did not say from the git work tree
// at dir: the commit, its timestamp, the branch, an exact tag and the origin
// URL. An engineer's local run has only this; Jenkins lacks the commit time.
// A directory outside git, or no git installed, leaves i as it was: callers
// that need a field say so themselves.
func FillFromGit(ctx context.Context, dir string, i *Info) {
	run := func(args ...string) string {
		cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...)
		var out bytes.Buffer
		cmd.Stdout = &out
		if cmd.Run() != nil {
			return ""
		}
		return strings.TrimSpace(out.String())
	}
	if i.CommitSHA == "" {
		i.CommitSHA = run("rev-parse", "--verify", "-q", "HEAD")
		if i.CommitSHA == "" {
			return
		}
	}
	if i.CommitTime.IsZero() {
		i.CommitTime = parseTime(run("show", "-s", "--format=%cI", i.CommitSHA))
	}
	if i.Branch == "" && i.Tag == "" {
		if b := run("symbolic-ref", "-q", "--short", "HEAD"); b != "" {
			i.Branch = b
		}
	}
	if i.Tag == "" && i.System == Local {
		i.Tag = run("describe", "--tags", "--exact-match", i.CommitSHA)
	}
	if i.SourceURL == "" {
		i.SourceURL = StripCredentials(run("config", "--get", "remote.origin.url"))
	}
	if i.Ref == "" {
		i.Ref = first(i.Branch, i.Tag)
	}
}

// CommitTimeOr returns the commit time, or fallback when it is unknown.
func (i Info) CommitTimeOr(fallback time.Time) time.Time {
	if i.CommitTime.IsZero() {
		return fallback
	}
	return i.CommitTime
}
