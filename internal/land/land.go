package land

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/stepper-cd/stepper/internal/desiredstate"
	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/gitlab"
	"github.com/stepper-cd/stepper/internal/gitrepo"
	"github.com/stepper-cd/stepper/internal/logging"
	"github.com/stepper-cd/stepper/internal/release"
)

// The routes a change takes.
const (
	ViaCommit       = "commit"
	ViaMergeRequest = "merge-request"
	ViaJenkins      = "jenkins"
	ViaTag          = "tag"
)

// Route is how a change reaches the environment.
type Route struct {
	// Via is commit, merge-request or jenkins.
	Via string
	// SourceBranch and TargetBranch are the merge request's. With no
	// source, or a source equal to the target, each change gets a branch
	// of its own.
	SourceBranch, TargetBranch string
	// Project is the GitLab project of the desired-state repository.
	Project string
	// Job is the Jenkins job of the jenkins route.
	Job string
}

// MergeRequests opens or updates merge requests: internal/gitlab.
type MergeRequests interface {
	EnsureMergeRequest(ctx context.Context, mr gitlab.MergeRequest) (*gitlab.MR, error)
}

// Change is one edit of one app's entry, and what to say about it.
type Change struct {
	App string
	// Edit changes the document in memory and reports whether anything
	// changed. It is called again on newer content after a lost race.
	Edit func(doc desiredstate.Document) (bool, error)
	// Check, when set, is asked about the document as written to disk
	// and read back: the edit must read back as intended.
	Check func(doc desiredstate.Document) error
	// Guard, when set, is asked before every edit about the release
	// history of the change's apps on the head the edit applies to (newest
	// first); an error stops the landing with nothing written.
	Guard func(history []release.Entry) error
	// Trailers and Subject make the commit message; Body is extra text.
	Trailers release.Trailers
	// More are further releases the same change lands (a promotion of a
	// whole environment): their apps must exist too, the guard sees their
	// history, and the commit carries every release's trailers.
	More    []release.Trailers
	Subject string
	Body    string
	// Branch names the branch made for this change on the merge-request
	// route.
	Branch string
	// Title and Description are the merge request's; a shared merge
	// request's description is written from its pending changes instead.
	Title, Description string
	Labels             []string
	// Reviewers are GitLab usernames assigned to review the merge request.
	Reviewers []string
	DryRun    bool
}

// apps is every app the change lands.
func (ch Change) apps() []string {
	out := []string{ch.App}
	for _, t := range ch.More {
		out = append(out, t.App)
	}
	return out
}

// releases is every release the change lands.
func (ch Change) releases() []release.Trailers {
	return append([]release.Trailers{ch.Trailers}, ch.More...)
}

// Lander lands changes.
type Lander struct {
	Checkouts *Checkouts
	// MRs is nil unless the route is merge-request.
	MRs MergeRequests
	// HistoryDepth bounds how many of the newest commits a guard sees;
	// default 64.
	HistoryDepth int
}

// Landed is what a landing did.
type Landed struct {
	release.Landing
	Diff     string
	Attempts int
	// Pending are the release commits a shared merge request proposes.
	Pending []release.Entry
	// MergeRequestIID and Project identify the merge request, when one
	// was made sure of.
	MergeRequestIID int
	Project         string
}

// Land applies the change to the environment's desired state and lands it
// by route. A change already there is a no-op: no commit, and a merge
// request is only made sure of.
func (l *Lander) Land(ctx context.Context, s Spec, r Route, ch Change) (*Landed, error) {
	switch r.Via {
	case ViaCommit, "":
		return l.commit(ctx, s, ch)
	case ViaMergeRequest:
		target := r.TargetBranch
		if target == "" {
			target = s.Branch
		}
		if target == "" {
			return nil, exit.Usagef("environment %s lands by merge request: set land.targetBranch (or desiredState.branch)", s.Env)
		}
		if l.MRs == nil && !ch.DryRun {
			return nil, exit.Usagef("environment %s lands by merge request: set gitlab.url and gitlab.token", s.Env)
		}
		if r.SourceBranch == "" || r.SourceBranch == target {
			return l.ownBranch(ctx, s, r, target, ch)
		}
		return l.sharedBranch(ctx, s, r, target, ch)
	case ViaJenkins:
		return nil, exit.Usagef("environment %s takes releases through the Jenkins job %q, not a desired-state edit: use stepper promote", s.Env, r.Job)
	case ViaTag:
		return nil, exit.Usagef("environment %s takes releases by a tag on the verified digest, which its image automation follows, not a desired-state edit: use stepper promote", s.Env)
	}
	return nil, exit.Usagef("environment %s: unknown land.via %q (commit, merge-request, jenkins or tag)", s.Env, r.Via)
}

// commit pushes to the desired-state branch.
func (l *Lander) commit(ctx context.Context, s Spec, ch Change) (*Landed, error) {
	repo, done, err := l.Checkouts.Open(ctx, s.Repo, s.Branch)
	if err != nil {
		return nil, err
	}
	defer done()
	out := &Landed{Landing: release.Landing{Via: ViaCommit, Branch: repo.Branch()}}
	return l.update(ctx, repo, s, ch, out)
}

// update commits the change on the checkout's branch (or diffs it, dry).
func (l *Lander) update(ctx context.Context, repo *gitrepo.Repo, s Spec, ch Change, out *Landed) (*Landed, error) {
	edit := l.edit(ctx, repo, s, ch)
	if ch.DryRun {
		diff, err := repo.Diff(ctx, edit)
		if err != nil {
			return nil, err
		}
		out.Diff, out.NoOp, out.Commit = diff, diff == "", repo.Head()
		return out, nil
	}
	res, err := repo.Update(ctx, message(ch), edit)
	if err != nil {
		return nil, err
	}
	out.Commit, out.NoOp, out.Diff, out.Attempts = res.Commit, res.NoOp, res.Diff, res.Attempts
	log := logging.From(ctx).Info().Str(logging.Env, s.Env).Str(logging.App, ch.App).Str("branch", out.Branch)
	if res.NoOp {
		log.Msg("the desired state already holds this change; nothing to commit")
	} else {
		log.Str("commit", res.Commit).Int("attempts", res.Attempts).Msg("committed")
	}
	return out, nil
}

// ownBranch commits the change as the only commit of a branch made for it
// from the target's head, and proposes it by a merge request of its own.
func (l *Lander) ownBranch(ctx context.Context, s Spec, r Route, target string, ch Change) (*Landed, error) {
	if ch.Branch == "" || ch.Branch == target {
		return nil, exit.Usagef("environment %s: a merge request needs a branch of its own, other than %s", s.Env, target)
	}
	repo, done, err := l.Checkouts.Open(ctx, s.Repo, target)
	if err != nil {
		return nil, err
	}
	defer done()
	out := &Landed{Landing: release.Landing{Via: ViaMergeRequest, Branch: ch.Branch}}
	edit := l.edit(ctx, repo, s, ch)
	if ch.DryRun {
		diff, err := repo.Diff(ctx, edit)
		if err != nil {
			return nil, err
		}
		out.Diff, out.NoOp = diff, diff == ""
		return out, nil
	}
	res, err := repo.PushBranch(ctx, ch.Branch, message(ch), edit)
	if err != nil {
		return nil, err
	}
	out.Commit, out.NoOp, out.Diff, out.Attempts = res.Commit, res.NoOp, res.Diff, res.Attempts
	if res.NoOp && res.Commit == repo.Head() {
		// The target already holds the change: nothing to propose.
		logging.From(ctx).Info().Str(logging.Env, s.Env).Str(logging.App, ch.App).Msgf("%s already holds this change; no merge request", target)
		return out, nil
	}
	var entries []release.Entry
	for _, t := range ch.releases() {
		entries = append(entries, release.Entry{Trailers: t})
	}
	desc := describe(fmt.Sprintf("Changes the desired state of **%s**:", s.Env), entries, out.Diff)
	if ch.Description != "" {
		desc = ch.Description + diffBlock(out.Diff)
	}
	mr, err := l.MRs.EnsureMergeRequest(ctx, gitlab.MergeRequest{
		Project: r.Project, SourceBranch: ch.Branch, TargetBranch: target,
		Title: ch.Title, Description: desc, KeepDescription: out.NoOp, Labels: ch.Labels, Reviewers: ch.Reviewers,
	})
	if err != nil {
		return out, err
	}
	out.MergeRequest, out.MergeRequestIID, out.Project = mr.WebURL, mr.IID, r.Project
	logging.From(ctx).Info().Str(logging.Env, s.Env).Str("mergeRequest", mr.WebURL).Bool("created", mr.Created).Msg("merge request ready")
	return out, nil
}

// sharedBranch commits the change to the standing source branch and makes
// sure of the one merge request from it into the target, whose description
// lists every change it proposes.
func (l *Lander) sharedBranch(ctx context.Context, s Spec, r Route, target string, ch Change) (*Landed, error) {
	repo, done, err := l.Checkouts.Open(ctx, s.Repo, r.SourceBranch)
	if err != nil {
		return nil, err
	}
	defer done()
	out := &Landed{Landing: release.Landing{Via: ViaMergeRequest, Branch: r.SourceBranch}}
	if _, err := l.update(ctx, repo, s, ch, out); err != nil || ch.DryRun {
		return out, err
	}
	pending, err := repo.Pending(ctx, target)
	if err != nil {
		return out, err
	}
	var entries []release.Entry
	others := 0
	for _, c := range pending {
		ts := release.ReadReleases(c)
		for _, t := range ts {
			entries = append(entries, release.Entry{Commit: c, Trailers: t})
		}
		if len(ts) == 0 {
			others++
		}
	}
	out.Pending = entries
	if len(pending) == 0 {
		logging.From(ctx).Info().Str(logging.Env, s.Env).Msgf("%s already holds everything on %s; no merge request", target, r.SourceBranch)
		return out, nil
	}
	desc := describe(fmt.Sprintf("Merging %s into %s lands these releases:", r.SourceBranch, target), entries, "")
	if others > 0 {
		desc = strings.Replace(desc, "\n_Opened by stepper._", fmt.Sprintf("\nAnd %d other commit(s) not made by stepper.\n\n_Opened by stepper._", others), 1)
	}
	title := fmt.Sprintf("%s: %d pending change(s) from %s", s.Env, len(pending), r.SourceBranch)
	var changes []gitlab.Change
	if ch.Description != "" {
		// This change's own record (a promotion's evidence table) stays in
		// the description beside the earlier ones the merge request holds.
		changes = []gitlab.Change{{Key: changeKey(s.Env, ch), Markdown: ch.Description}}
	}
	mr, err := l.MRs.EnsureMergeRequest(ctx, gitlab.MergeRequest{
		Project: r.Project, SourceBranch: r.SourceBranch, TargetBranch: target,
		Title: title, Description: desc, Labels: ch.Labels, Reviewers: ch.Reviewers, Changes: changes,
	})
	if err != nil {
		return out, err
	}
	out.MergeRequest, out.MergeRequestIID, out.Project = mr.WebURL, mr.IID, r.Project
	logging.From(ctx).Info().Str(logging.Env, s.Env).Str("mergeRequest", mr.WebURL).Int("pending", len(pending)).Bool("created", mr.Created).Msg("merge request ready")
	return out, nil
}

// edit is the change as a gitrepo edit: load, guard, edit, write, read back.
func (l *Lander) edit(ctx context.Context, repo *gitrepo.Repo, s Spec, ch Change) gitrepo.Edit {
	return func(dir string) (bool, error) {
		doc, err := s.Load(dir)
		if err != nil {
			return false, err
		}
		apps := ch.apps()
		for _, app := range apps {
			if _, err := doc.App(app); err != nil {
				return false, exit.Mark(exit.Usage, fmt.Errorf("desired state of %s: %w", s.Env, err))
			}
		}
		if ch.Guard != nil {
			commits, err := repo.Log(ctx, "", cmpOr(l.HistoryDepth, 64))
			if err != nil {
				return false, err
			}
			var history []release.Entry
			for _, e := range release.History(commits, s.Env, "") {
				if slices.Contains(apps, e.App) {
					history = append(history, e)
				}
			}
			if err := ch.Guard(history); err != nil {
				return false, err
			}
		}
		changed, err := ch.Edit(doc)
		if err != nil && exit.ClassOf(err) == exit.Infra {
			// An edit works on the document in memory: what it refuses is
			// the desired state as written (an anchor it must not change,
			// a templated value), never an outside system.
			err = exit.Mark(exit.Usage, fmt.Errorf("desired state of %s: %w", s.Env, err))
		}
		if err != nil || !changed {
			return false, err
		}
		// A document loaded from a directory names its files relative to
		// that directory; one loaded from a file, by the path it was given.
		if err := desiredstate.WriteFiles(stateDir(dir, s.Path), doc.Files()); err != nil {
			return false, err
		}
		back, err := s.Load(dir)
		if err != nil {
			return false, fmt.Errorf("the edited desired state does not read back: %w", err)
		}
		if ch.Check != nil {
			if err := ch.Check(back); err != nil {
				return false, fmt.Errorf("the edited desired state of %s: %w", s.Env, err)
			}
		}
		return true, nil
	}
}

func message(ch Change) gitrepo.Message {
	return gitrepo.Message{Subject: ch.Subject, Body: ch.Body, Trailers: release.ListAll(ch.releases())}
}

// changeKey names a change among the entries of a shared merge request:
// the environment and its app (or apps).
func changeKey(env string, ch Change) string {
	key := env + "/" + ch.App
	if len(ch.More) > 0 {
		key += "+" + strconv.Itoa(len(ch.More))
	}
	return key
}

// describe is a merge request's description: every release it proposes,
// under intro.
func describe(intro string, entries []release.Entry, diff string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n", intro)
	for _, e := range entries {
		fmt.Fprintf(&b, "- %s **%s** in %s", e.Action, e.App, e.Env)
		if e.From != "" {
			fmt.Fprintf(&b, " from %s", e.From)
		}
		if !e.Image.IsZero() {
			fmt.Fprintf(&b, ": `%s`", e.Image)
		}
		if e.ChartVersion != "" {
			fmt.Fprintf(&b, ", chart `%s`", e.ChartVersion)
		}
		if e.Commit.SHA != "" {
			fmt.Fprintf(&b, " (%s)", e.Commit.SHA[:min(12, len(e.Commit.SHA))])
		}
		if e.Pipeline != "" {
			fmt.Fprintf(&b, ", pipeline %s", e.Pipeline)
		}
		if e.Reason != "" {
			fmt.Fprintf(&b, ", reason: %s", e.Reason)
		}
		b.WriteString("\n")
	}
	b.WriteString(diffBlock(diff))
	b.WriteString("\n_Opened by stepper._\n")
	return b.String()
}

func diffBlock(diff string) string {
	if diff == "" {
		return ""
	}
	return fmt.Sprintf("\n```diff\n%s\n```\n", strings.TrimRight(diff, "\n"))
}

func cmpOr(n, def int) int {
	if n > 0 {
		return n
	}
	return def
}

// Landing is what the steps use of a Lander; their tests give their own.
type Landing interface {
	Land(ctx context.Context, s Spec, r Route, ch Change) (*Landed, error)
}

// ReadsBack is a Change.Check that the app's image reads back as img
// (where the document holds a digest at all).
func ReadsBack(app string, img release.Ref) func(desiredstate.Document) error {
	return func(doc desiredstate.Document) error {
		a, err := doc.App(app)
		if err != nil {
			return err
		}
		if a.Image.Digest != "" && a.Image.Digest != img.Digest {
			return fmt.Errorf("app %s reads back with image %s, not %s", app, a.Image, img)
		}
		return nil
	}
}
