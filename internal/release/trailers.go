package release

import (
	"strconv"
	"time"

	"github.com/stepper-cd/stepper/internal/gitrepo"
)

// Action is what a desired-state commit did to a release.
type Action string

// The actions stepper commits.
const (
	ActionDeploy   Action = "deploy"
	ActionPromote  Action = "promote"
	ActionRollback Action = "rollback"
)

// Trailer keys of desired-state commits. Rollback, promote and the audit
// trail read them back; they never change.
const (
	TrailerAction       = "Stepper-Action"
	TrailerApp          = "Stepper-App"
	TrailerEnv          = "Stepper-Env"
	TrailerImage        = "Stepper-Image"
	TrailerDigest       = "Stepper-Digest"
	TrailerChartVersion = "Stepper-Chart-Version"
	TrailerFrom         = "Stepper-From"
	TrailerStarted      = "Stepper-Started"
	TrailerHold         = "Stepper-Hold"
	TrailerReverts      = "Stepper-Reverts"
	TrailerReason       = "Stepper-Reason"
	TrailerPipeline     = "Stepper-Pipeline"
	TrailerActor        = "Stepper-Actor"
)

// Trailers is what a desired-state commit says about the release it
// lands.
type Trailers struct {
	Action       Action
	App, Env     string
	Image        Ref
	ChartVersion string
	// From is the environment a promotion came from.
	From string
	// Started is when the run that landed the commit read the release it
	// lands; "newer" between two releases of one app means a later Started
	// (see Late).
	Started time.Time
	// Hold marks a rollback: automation must not move the app forward
	// again until a newer release is deliberately promoted or forced.
	Hold     bool
	Reverts  string
	Reason   string
	Pipeline string
	Actor    string
}

// List is t as commit trailers, in a fixed order; empty values are left out.
func (t Trailers) List() []gitrepo.Trailer {
	var out []gitrepo.Trailer
	add := func(k, v string) {
		if v != "" {
			out = append(out, gitrepo.Trailer{Key: k, Value: v})
		}
	}
	add(TrailerAction, string(t.Action))
	add(TrailerApp, t.App)
	add(TrailerEnv, t.Env)
	if !t.Image.IsZero() {
		add(TrailerImage, t.Image.String())
		add(TrailerDigest, t.Image.Digest)
	}
	add(TrailerChartVersion, t.ChartVersion)
	add(TrailerFrom, t.From)
	if !t.Started.IsZero() {
		add(TrailerStarted, t.Started.UTC().Format(time.RFC3339Nano))
	}
	if t.Hold {
		add(TrailerHold, "true")
	}
	add(TrailerReverts, t.Reverts)
	add(TrailerReason, t.Reason)
	add(TrailerPipeline, t.Pipeline)
	add(TrailerActor, t.Actor)
	return out
}

// ReadTrailers reads the release a commit landed; ok is false for a commit
// stepper did not write (no Stepper-App and Stepper-Env trailers).
func ReadTrailers(c gitrepo.Commit) (t Trailers, ok bool) {
	tr := c.Trailers
	t = Trailers{
		Action: Action(tr[TrailerAction]), App: tr[TrailerApp], Env: tr[TrailerEnv],
		ChartVersion: tr[TrailerChartVersion], From: tr[TrailerFrom], Reverts: tr[TrailerReverts],
		Reason: tr[TrailerReason], Pipeline: tr[TrailerPipeline], Actor: tr[TrailerActor],
	}
	if t.App == "" || t.Env == "" {
		return Trailers{}, false
	}
	if t.Action == "" { // commits from before the action trailer were deploys
		t.Action = ActionDeploy
	}
	if img, err := ParseRef(tr[TrailerImage]); err == nil {
		t.Image = img
	}
	t.Started, _ = time.Parse(time.RFC3339Nano, tr[TrailerStarted])
	t.Hold, _ = strconv.ParseBool(tr[TrailerHold])
	return t, true
}

// Entry is a release commit of the history: the commit and what it says.
type Entry struct {
	Commit gitrepo.Commit
	Trailers
}

// History is the release commits of one app in one environment among
// commits (newest first, as gitrepo.Log returns them), newest first.
func History(commits []gitrepo.Commit, env, app string) []Entry {
	var out []Entry
	for _, c := range commits {
		if t, ok := ReadTrailers(c); ok && t.Env == env && t.App == app {
			out = append(out, Entry{Commit: c, Trailers: t})
		}
	}
	return out
}

// Late reports why a release read at started must not land over the newest
// release commit of its app, or "" when it may. A release is newer when the
// run that landed it started later: that run read the desired state after
// this one did, so this run is the late pipeline of a lost race
// (argoproj-labs/argocd-image-updater#1249). A rollback hold stops every
// release that is not the held image. The same image is never late: landing
// it again changes nothing.
func Late(head *Entry, img Ref, started time.Time) string {
	if head == nil || SameImage(head.Image, img) {
		return ""
	}
	switch {
	case head.Hold:
		return "it is held at " + head.Image.String() + " by rollback " + short(head.Commit.SHA) + reasonSuffix(head.Reason)
	case !head.Started.IsZero() && head.Started.After(started):
		return "a newer release, " + head.Image.String() + ", landed in " + short(head.Commit.SHA) + " by a run that started after this one"
	}
	return ""
}

func reasonSuffix(r string) string {
	if r == "" {
		return ""
	}
	return " (" + r + ")"
}

func short(sha string) string { return sha[:min(12, len(sha))] }
