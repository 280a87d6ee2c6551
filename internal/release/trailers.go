package release

import (
	"maps"
	"slices"
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
	TrailerHotfix       = "Stepper-Hotfix"
	TrailerEvidence     = "Stepper-Evidence"
	TrailerReleasesHold = "Stepper-Releases-Hold"
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
	// Hotfix marks a promotion that used the shorter hotfix soak.
	Hotfix bool
	// Evidence names the attestations a promotion was admitted on.
	Evidence string
	// ReleasesHold names the rollback whose hold this release lifts on
	// purpose (promote, or deploy --release-hold): its commit, or "true"
	// when the hold was not looked up.
	ReleasesHold string
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
	if t.Hotfix {
		add(TrailerHotfix, "true")
	}
	add(TrailerEvidence, t.Evidence)
	add(TrailerReleasesHold, t.ReleasesHold)
	return out
}

// perRelease are the trailers that differ between the releases of one
// commit; the others are shared.
var perRelease = []string{TrailerApp, TrailerImage, TrailerDigest, TrailerChartVersion, TrailerEvidence}

// ListAll is the trailers of a commit that lands several releases at once
// (a promotion of a whole environment): the shared trailers of the first,
// then, for each release, Stepper-App followed by its own image, digest,
// chart version and evidence. ReadReleases reads them back.
func ListAll(ts []Trailers) []gitrepo.Trailer {
	if len(ts) == 1 {
		return ts[0].List()
	}
	if len(ts) == 0 {
		return nil
	}
	var out []gitrepo.Trailer
	for _, tr := range ts[0].List() {
		if !slices.Contains(perRelease, tr.Key) {
			out = append(out, tr)
		}
	}
	for _, t := range ts {
		for _, tr := range t.List() {
			if slices.Contains(perRelease, tr.Key) {
				out = append(out, tr)
			}
		}
	}
	return out
}

// ReadReleases reads every release a commit landed: one, or several when
// Stepper-App is repeated (see ListAll); none for a commit stepper did not
// write.
func ReadReleases(c gitrepo.Commit) []Trailers {
	if n := countKey(c.TrailerList, TrailerApp); n <= 1 {
		if t, ok := ReadTrailers(c); ok {
			return []Trailers{t}
		}
		return nil
	}
	shared := map[string]string{}
	var groups []map[string]string
	for _, tr := range c.TrailerList {
		switch {
		case tr.Key == TrailerApp:
			groups = append(groups, map[string]string{tr.Key: tr.Value})
		case slices.Contains(perRelease, tr.Key) && len(groups) > 0:
			groups[len(groups)-1][tr.Key] = tr.Value
		default:
			shared[tr.Key] = tr.Value
		}
	}
	var out []Trailers
	for _, g := range groups {
		one := maps.Clone(shared)
		maps.Copy(one, g)
		if t, ok := ReadTrailers(gitrepo.Commit{SHA: c.SHA, Subject: c.Subject, Trailers: one, Time: c.Time}); ok {
			out = append(out, t)
		}
	}
	return out
}

func countKey(list []gitrepo.Trailer, key string) int {
	n := 0
	for _, tr := range list {
		if tr.Key == key {
			n++
		}
	}
	return n
}

// ReadTrailers reads the release a commit landed; ok is false for a commit
// stepper did not write (no Stepper-App and Stepper-Env trailers).
func ReadTrailers(c gitrepo.Commit) (t Trailers, ok bool) {
	tr := c.Trailers
	t = Trailers{
		Action: Action(tr[TrailerAction]), App: tr[TrailerApp], Env: tr[TrailerEnv],
		ChartVersion: tr[TrailerChartVersion], From: tr[TrailerFrom], Reverts: tr[TrailerReverts],
		Reason: tr[TrailerReason], Pipeline: tr[TrailerPipeline], Actor: tr[TrailerActor],
		Evidence: tr[TrailerEvidence], ReleasesHold: tr[TrailerReleasesHold],
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
	t.Hotfix, _ = strconv.ParseBool(tr[TrailerHotfix])
	return t, true
}

// Entry is a release commit of the history: the commit and what it says.
type Entry struct {
	Commit gitrepo.Commit
	Trailers
}

// History is the releases of one app in one environment among commits
// (newest first, as gitrepo.Log returns them), newest first; app "" means
// every app.
func History(commits []gitrepo.Commit, env, app string) []Entry {
	var out []Entry
	for _, c := range commits {
		for _, t := range ReadReleases(c) {
			if t.Env == env && (app == "" || t.App == app) {
				out = append(out, Entry{Commit: c, Trailers: t})
			}
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
