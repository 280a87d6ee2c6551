package promote

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/stepper-cd/stepper/internal/config"
	"github.com/stepper-cd/stepper/internal/desiredstate"
	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/gitlab"
	"github.com/stepper-cd/stepper/internal/land"
	"github.com/stepper-cd/stepper/internal/logging"
	"github.com/stepper-cd/stepper/internal/release"
)

// The build parameters stepper's promotion job takes. The job passes them
// back to stepper promote; none of them is trusted for who promotes.
const (
	ParamApp         = "APP"
	ParamDigest      = "DIGEST"
	ParamFrom        = "FROM"
	ParamTo          = "TO"
	ParamAll         = "ALL"
	ParamHotfix      = "HOTFIX"
	ParamRequestedBy = "REQUESTED_BY"
)

// land carries the gated releases by the target's route.
func (s *Step) land(ctx context.Context, job Job, src desiredstate.Document, out *Outcome) error {
	to := job.To
	switch orCommit(to.Land.Via) {
	case config.ViaJenkins:
		if !job.InJob {
			return s.viaJenkins(ctx, job, out)
		}
		// Inside the promotion job: the job's own change is a commit.
		return s.viaGit(ctx, job, src, land.Route{Via: land.ViaCommit}, out)
	case config.ViaTag:
		return s.viaTag(ctx, job, out)
	case config.ViaMergeRequest:
		r := land.Route{Via: land.ViaMergeRequest, SourceBranch: to.Land.SourceBranch, TargetBranch: to.Land.TargetBranch}
		p, err := gitlab.ProjectFromRepoURL(to.DesiredState.Repo)
		if err != nil {
			return exit.Mark(exit.Usage, err)
		}
		r.Project = p
		return s.viaGit(ctx, job, src, r, out)
	}
	return s.viaGit(ctx, job, src, land.Route{Via: land.ViaCommit}, out)
}

// viaGit copies every release from the source's desired state into the
// target's and lands the change: one commit (or merge request) for all.
func (s *Step) viaGit(ctx context.Context, job Job, src desiredstate.Document, r land.Route, out *Outcome) error {
	from, to := job.From, job.To
	keys := land.ValuesKeys(job.Config)
	var trailers []release.Trailers
	images := map[string]release.Ref{}
	for _, c := range out.Releases {
		img, err := targetImage(c.Image, from, to)
		if err != nil {
			return err
		}
		images[c.App] = img
		trailers = append(trailers, release.Trailers{
			Action: release.ActionPromote, App: c.App, Env: to.Name, From: from.Name, Image: img,
			ChartVersion: c.ChartVersion, Started: job.Started, Pipeline: orBuild(job), Actor: out.Actor,
			Hotfix: job.Hotfix, Evidence: evidenceOf(out.Gates, c.App), ReleasesHold: c.ReleasesHold,
		})
	}
	first := out.Releases[0]
	subject := fmt.Sprintf("promote %s from %s to %s: %s", first.App, from.Name, to.Name, first.Image.ShortDigest())
	branch := fmt.Sprintf("stepper/%s/promote-%s-%s", to.Name, first.App, first.Image.ShortDigest())
	if len(out.Releases) > 1 {
		subject = fmt.Sprintf("promote %d apps from %s to %s", len(out.Releases), from.Name, to.Name)
		branch = fmt.Sprintf("stepper/%s/promote-all-from-%s-%d", to.Name, from.Name, job.Started.Unix())
	}
	ch := land.Change{
		App: first.App, Trailers: trailers[0], More: trailers[1:],
		Edit: func(doc desiredstate.Document) (bool, error) {
			changed := false
			for _, c := range out.Releases {
				did, err := desiredstate.CopyRelease(src, doc, c.App, keys)
				if err != nil {
					return false, err
				}
				img := images[c.App]
				pinned, err := doc.SetImage(c.App, desiredstate.Image{Repository: img.Repository, Tag: img.Tag, Digest: img.Digest})
				if err != nil {
					return false, err
				}
				released, err := desiredstate.ReleaseImage(doc, c.App)
				if err != nil {
					return false, err
				}
				changed = changed || did || pinned || released
			}
			return changed, nil
		},
		Check: func(doc desiredstate.Document) error {
			for _, c := range out.Releases {
				if err := land.ReadsBack(c.App, c.Image)(doc); err != nil {
					return err
				}
			}
			return nil
		},
		Guard: func(history []release.Entry) error {
			return raced(job, history, images)
		},
		Subject:     subject,
		Body:        audit(job, out, false),
		Branch:      branch,
		Title:       subject,
		Description: audit(job, out, true),
		Labels:      append([]string{"stepper", "promotion", "env::" + to.Name}, to.Land.Labels...),
		Reviewers:   to.Land.Reviewers,
		DryRun:      job.DryRun,
	}
	landed, err := s.Lander.Land(ctx, land.SpecOf(job.Config, to), r, ch)
	if landed != nil {
		out.Landing, out.Diff = landed.Landing, landed.Diff
	}
	if err != nil || job.DryRun {
		return err
	}
	if r.Via == land.ViaMergeRequest {
		// The target's tag moves only once the change is merged: image
		// automation following it would otherwise roll out an unreviewed
		// promotion.
		if job.Wait && landed.MergeRequestIID > 0 {
			if err := s.wait(ctx, job, landed, out); err != nil {
				return err
			}
		}
		if out.MergeState == "merged" || landed.NoOp {
			return s.pushTargetTags(ctx, job, out, images)
		}
		return nil
	}
	if err := s.pushTargetTags(ctx, job, out, images); err != nil {
		return err
	}
	if job.InJob && s.Jenkins != nil && job.BuildURL != "" {
		if err := s.Jenkins.SetDescription(ctx, job.BuildURL, audit(job, out, false)); err != nil {
			logging.From(ctx).Warn().Err(err).Msg("the promotion landed, but the build description could not be set")
		}
	}
	return nil
}

// raced refuses to land over a release of one of the apps that a run
// started after this one landed meanwhile: this run is then the late one
// of a race. A rollback hold does not stop a promotion, which is the
// deliberate move forward a hold waits for.
func raced(job Job, history []release.Entry, images map[string]release.Ref) error {
	seen := map[string]bool{}
	for _, e := range history {
		if seen[e.App] {
			continue
		}
		seen[e.App] = true
		img, ok := images[e.App]
		if !ok || release.SameImage(e.Image, img) {
			continue
		}
		if !e.Started.IsZero() && e.Started.After(job.Started) {
			return exit.Failedf("promote %s into %s refused: a newer release, %s, landed in %s by a run that started after this one; promote again if this release should still move",
				e.App, job.To.Name, e.Image, e.Commit.SHA[:min(12, len(e.Commit.SHA))])
		}
	}
	return nil
}

// targetImage is the image as the target names it: the source's tag with
// the source's tag prefix replaced by the target's.
func targetImage(img release.Ref, from, to *config.Environment) (release.Ref, error) {
	if to.TagPrefix == "" {
		return img, nil
	}
	if img.Tag == "" {
		return img, exit.Usagef("environment %s names its images by the tag prefix %q, but %s has no tag to prefix", to.Name, to.TagPrefix, img)
	}
	return img.WithTag(to.TagPrefix + strings.TrimPrefix(img.Tag, from.TagPrefix)), nil
}

// pushTargetTags gives each digest the target's tag once the release has
// landed, for image automation that follows the prefix.
func (s *Step) pushTargetTags(ctx context.Context, job Job, out *Outcome, images map[string]release.Ref) error {
	for _, c := range out.Releases {
		img := images[c.App]
		if img.Tag == c.Image.Tag {
			continue
		}
		if err := s.tag(ctx, img, false); err != nil {
			return fmt.Errorf("the promotion landed naming %s, but the tag could not be pushed; run the promotion again (it lands nothing twice): %w", img, err)
		}
		if out.Tags == nil {
			out.Tags = map[string]string{}
		}
		out.Tags[c.App] = img.Tagged()
	}
	return nil
}

// viaTag is Flux image automation's route: the verified digest gets the
// target's tag, and the environment's image policy rolls it. The
// HelmRelease is not edited. An existing tag naming another digest is
// refused: tags of a promoted environment never move.
func (s *Step) viaTag(ctx context.Context, job Job, out *Outcome) error {
	out.Landing = release.Landing{Via: string(config.ViaTag)}
	if err := s.liftHolds(ctx, job, out); err != nil {
		return err
	}
	out.Tags = map[string]string{}
	for _, c := range out.Releases {
		img, err := targetImage(c.Image, job.From, job.To)
		if err != nil {
			return err
		}
		out.Tags[c.App] = img.Tagged()
		if job.DryRun {
			continue
		}
		if err := s.tag(ctx, img, false); err != nil {
			return err
		}
		logging.From(ctx).Info().Str(logging.Image, img.String()).Msgf("tagged for %s; its image automation rolls it out", job.To.Name)
	}
	return nil
}

// liftHolds is the tag route's one desired-state edit: an app a rollback
// holds has its image-policy setters held in the HelmRelease, so the new
// tag would never be applied. The promotion lifts the hold by a commit
// first (setters live again, nothing else changed), then tags.
func (s *Step) liftHolds(ctx context.Context, job Job, out *Outcome) error {
	var held []Candidate
	for _, c := range out.Releases {
		if c.ReleasesHold != "" {
			held = append(held, c)
		}
	}
	if len(held) == 0 {
		return nil
	}
	var trailers []release.Trailers
	for _, c := range held {
		img, err := targetImage(c.Image, job.From, job.To)
		if err != nil {
			return err
		}
		trailers = append(trailers, release.Trailers{
			Action: release.ActionPromote, App: c.App, Env: job.To.Name, From: job.From.Name, Image: img,
			ChartVersion: c.ChartVersion, Started: job.Started, Pipeline: orBuild(job), Actor: out.Actor,
			Hotfix: job.Hotfix, Evidence: evidenceOf(out.Gates, c.App), ReleasesHold: c.ReleasesHold,
		})
	}
	ch := land.Change{
		App: held[0].App, Trailers: trailers[0], More: trailers[1:],
		Edit: func(doc desiredstate.Document) (bool, error) {
			changed := false
			for _, c := range held {
				did, err := desiredstate.ReleaseImage(doc, c.App)
				if err != nil {
					return false, err
				}
				changed = changed || did
			}
			return changed, nil
		},
		Subject: fmt.Sprintf("lift the rollback hold of %s in %s for the promotion of %s", held[0].App, job.To.Name, held[0].Image.ShortDigest()),
		Body:    audit(job, out, false),
		DryRun:  job.DryRun,
	}
	landed, err := s.Lander.Land(ctx, land.SpecOf(job.Config, job.To), land.Route{Via: land.ViaCommit}, ch)
	if landed != nil {
		out.Diff = landed.Diff
		out.Landing.Branch, out.Landing.Commit = landed.Branch, landed.Commit
	}
	return err
}

func (s *Step) tag(ctx context.Context, img release.Ref, allowRetag bool) error {
	if s.Registry == nil {
		return exit.Usagef("tagging %s needs the registry", img)
	}
	d, err := img.NameDigest()
	if err != nil {
		return exit.Usagef("image %s: %v", img, err)
	}
	return s.Registry.Tag(ctx, d, []string{img.Tag}, allowRetag)
}

// viaJenkins triggers the target's promotion job and follows it to its
// end: the job runs stepper promote itself, which checks the privilege of
// the user in the build's causes and lands the change by commit.
func (s *Step) viaJenkins(ctx context.Context, job Job, out *Outcome) error {
	to := job.To
	out.Landing = release.Landing{Via: string(config.ViaJenkins)}
	if s.Jenkins == nil {
		return exit.Usagef("environment %s takes promotions through the Jenkins job %s: set jenkins.url, jenkins.user and jenkins.token", to.Name, to.Land.Job)
	}
	params := maps.Clone(to.Land.Parameters)
	if params == nil {
		params = map[string]string{}
	}
	params[ParamFrom], params[ParamTo] = job.From.Name, to.Name
	params[ParamHotfix] = strconv.FormatBool(job.Hotfix)
	params[ParamRequestedBy] = out.Actor
	if job.All {
		params[ParamAll] = "true"
		delete(params, ParamApp)
		delete(params, ParamDigest)
	} else {
		params[ParamApp], params[ParamDigest] = out.Releases[0].App, out.Releases[0].Image.Digest
	}
	if job.DryRun {
		logging.From(ctx).Info().Str("job", to.Land.Job).Msg("dry run: the promotion job is not triggered")
		return nil
	}
	build, err := land.RunJob(ctx, s.Jenkins, to.Land.Job, params, s.Console)
	if build != nil {
		out.Build = build
		out.Landing.Branch = to.DesiredState.Branch
	}
	return err
}

// wait follows the merge request until it is merged or closed.
func (s *Step) wait(ctx context.Context, job Job, landed *land.Landed, out *Outcome) error {
	if s.MRs == nil {
		return exit.Usagef("--wait needs gitlab.url and gitlab.token")
	}
	ctx, cancel := context.WithTimeout(ctx, job.WaitTimeout)
	defer cancel()
	interval := s.WaitInterval
	if interval <= 0 {
		interval = 10 * time.Second
	}
	logging.From(ctx).Info().Str("mergeRequest", landed.MergeRequest).Msg("waiting for the merge request to be merged or closed")
	mr, err := s.MRs.WaitMergeRequest(ctx, landed.Project, landed.MergeRequestIID, interval)
	if err != nil {
		return err
	}
	out.MergeState = mr.State
	if mr.State != "merged" {
		return exit.Failedf("the merge request %s was %s without being merged: nothing was promoted into %s", mr.WebURL, mr.State, job.To.Name)
	}
	logging.From(ctx).Info().Str("mergeRequest", mr.WebURL).Msgf("merged: %s rolls the promotion", job.To.Name)
	return nil
}

// orBuild is the pipeline or build the promotion ran in.
func orBuild(job Job) string {
	if job.BuildURL != "" {
		return job.BuildURL
	}
	return job.PipelineURL
}

// audit is the promotion's record: who, when, what, from where, and the
// evidence; Markdown for a merge request, plain text for a commit body and
// a Jenkins build description.
func audit(job Job, out *Outcome, markdown bool) string {
	var b strings.Builder
	who := out.Actor
	if who == "" {
		who = "anyone (no promoters configured)"
	} else if out.ActorFrom != "" {
		who += " (" + out.ActorFrom + ")"
	}
	kind := "Promotion"
	if job.Hotfix {
		kind = "Hotfix promotion"
	}
	fmt.Fprintf(&b, "%s %s → %s by %s at %s.\n", kind, job.From.Name, job.To.Name, who, job.Started.UTC().Format(time.RFC3339))
	if len(out.GatesOff) > 0 {
		fmt.Fprintf(&b, "Gates switched off in %s: %s.\n", job.To.Name, gateNames(out.GatesOff))
	}
	if p := orBuild(job); p != "" {
		fmt.Fprintf(&b, "Run: %s\n", p)
	}
	b.WriteString("\n")
	if markdown {
		b.WriteString("| app | image | chart | gate | verdict | evidence |\n|---|---|---|---|---|---|\n")
	}
	for _, c := range out.Releases {
		for _, r := range out.Gates {
			if r.App != c.App {
				continue
			}
			verdict := "passed: " + r.Found
			if r.Off {
				verdict = "off"
			}
			if markdown {
				fmt.Fprintf(&b, "| %s | `%s` | %s | %s | %s | %s |\n", c.App, c.Image, c.ChartVersion, r.Gate, mdCell(verdict), mdCell(r.Evidence))
			} else {
				fmt.Fprintf(&b, "%s %s chart %s: %s %s", c.App, c.Image, orDash(c.ChartVersion), r.Gate, verdict)
				if r.Evidence != "" {
					fmt.Fprintf(&b, " [%s]", r.Evidence)
				}
				b.WriteString("\n")
			}
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

func mdCell(s string) string { return strings.NewReplacer("|", "\\|", "\n", " ").Replace(s) }

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
