package deploy

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/stepper-cd/stepper/internal/desiredstate"
	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/gitlab"
	"github.com/stepper-cd/stepper/internal/gitrepo"
	"github.com/stepper-cd/stepper/internal/logging"
	"github.com/stepper-cd/stepper/internal/signing"
)

// Repo is a checkout of a desired-state repository: internal/gitrepo.
type Repo interface {
	Update(ctx context.Context, msg gitrepo.Message, edit func(dir string) (bool, error)) (*gitrepo.Result, error)
	Diff(ctx context.Context, edit func(dir string) (bool, error)) (string, error)
}

// MergeRequests opens or updates merge requests: internal/gitlab.
type MergeRequests interface {
	EnsureMergeRequest(ctx context.Context, mr gitlab.MergeRequest) (*gitlab.MR, error)
}

// Verifier checks a digest's signature with the approved keys.
type Verifier interface {
	Verify(ctx context.Context, img name.Digest) (*signing.Verified, error)
}

// Images resolves tags in the registry.
type Images interface {
	Image(ctx context.Context, ref string) (v1.Image, name.Digest, error)
}

// Target is where a release lands: one environment's desired state.
type Target struct {
	Env string
	// Repo and Branch are the desired-state repository and the branch the
	// edit is committed to; Path is the file or directory in it.
	Repo, Branch, Path string
	Keys               desiredstate.Keys
	// Via is commit or merge-request; with merge-request the commit on
	// Branch is proposed into TargetBranch.
	Via          string
	TargetBranch string
	// Project is the GitLab project of Repo, for merge requests.
	Project string
}

// Release is what is deployed.
type Release struct {
	App          string
	Image        string // repo[:tag]@sha256:...
	ChartVersion string
	Set          map[string]string
}

// GitOps lands releases in desired state.
type GitOps struct {
	Open     func(ctx context.Context, url, branch string) (Repo, error)
	MRs      MergeRequests // nil unless an environment lands by merge request
	Verifier Verifier
	Images   Images
}

// Run verifies the image, edits the app's entry and lands the change. A
// release that is already there is a no-op: no commit, no merge request
// update.
func (g *GitOps) Run(ctx context.Context, t Target, r Release, audit Audit, dryRun bool) (*Outcome, error) {
	log := logging.From(ctx)
	img, err := parseImage(r.Image)
	if err != nil {
		return nil, err
	}
	keyID, err := g.verify(ctx, r.Image, img)
	if err != nil {
		return nil, err
	}
	audit.SignedBy = keyID
	repo, err := g.Open(ctx, t.Repo, t.Branch)
	if err != nil {
		return nil, err
	}
	edit := func(dir string) (bool, error) {
		doc, err := desiredstate.Load(filepath.Join(dir, t.Path), desiredstate.WithKeys(t.Keys), desiredstate.WithEnvironment(t.Env))
		if err != nil {
			return false, exit.Mark(exit.Usage, fmt.Errorf("desired state of %s: %w", t.Env, err))
		}
		if _, err := doc.App(r.App); err != nil {
			return false, exit.Mark(exit.Usage, fmt.Errorf("desired state of %s: %w", t.Env, err))
		}
		changed, err := doc.SetImage(r.App, img)
		if err != nil {
			return false, err
		}
		if r.ChartVersion != "" {
			c, err := doc.SetChartVersion(r.App, r.ChartVersion)
			if err != nil {
				return false, err
			}
			changed = changed || c
		}
		if len(r.Set) > 0 {
			c, err := doc.SetValues(r.App, r.Set)
			if err != nil {
				return false, err
			}
			changed = changed || c
		}
		if !changed {
			return false, nil
		}
		return true, desiredstate.WriteFiles(dir, doc.Files())
	}
	out := &Outcome{Env: t.Env, App: r.App, Image: r.Image, Branch: t.Branch, Via: t.Via}
	if dryRun {
		diff, err := repo.Diff(ctx, edit)
		if err != nil {
			return nil, err
		}
		out.Diff, out.NoOp = diff, diff == ""
		return out, nil
	}
	res, err := repo.Update(ctx, commitMessage(t, r, img, audit), edit)
	if err != nil {
		return nil, err
	}
	out.Commit, out.NoOp, out.Diff, out.Attempts = res.Commit, res.NoOp, res.Diff, res.Attempts
	if res.NoOp {
		log.Info().Str(logging.Env, t.Env).Str(logging.App, r.App).Msg("the release is already in the desired state; nothing to commit")
	} else {
		log.Info().Str(logging.Env, t.Env).Str(logging.App, r.App).Str("commit", res.Commit).Int("attempts", res.Attempts).
			Msgf("committed to %s", t.Branch)
	}
	if t.Via == "merge-request" {
		if g.MRs == nil {
			return out, exit.Usagef("environment %s lands by merge request: set gitlab.url and gitlab.token", t.Env)
		}
		mr, err := g.MRs.EnsureMergeRequest(ctx, gitlab.MergeRequest{
			Project: t.Project, SourceBranch: t.Branch, TargetBranch: t.TargetBranch,
			Title:           fmt.Sprintf("deploy %s to %s: %s", r.App, t.Env, shortDigest(img.Digest)),
			Description:     mrDescription(t, r, img, audit, out.Diff),
			KeepDescription: out.NoOp,
			Labels:          []string{"stepper", "env::" + t.Env},
		})
		if err != nil {
			return out, err
		}
		out.MergeRequest = mr.WebURL
		log.Info().Str(logging.Env, t.Env).Str("mergeRequest", mr.WebURL).Bool("created", mr.Created).Msg("merge request ready")
	}
	return out, nil
}

// verify refuses an image unless its digest is signed by an approved key
// and any tag it names still resolves to that digest.
func (g *GitOps) verify(ctx context.Context, ref string, img desiredstate.Image) (string, error) {
	digest, err := name.NewDigest(img.Repository + "@" + img.Digest)
	if err != nil {
		return "", exit.Usagef("--image %q: %v", ref, err)
	}
	if img.Tag != "" && g.Images != nil {
		_, resolved, err := g.Images.Image(ctx, img.Repository+":"+img.Tag)
		if err != nil {
			return "", fmt.Errorf("resolve %s:%s: %w", img.Repository, img.Tag, err)
		}
		if resolved.DigestStr() != img.Digest {
			return "", exit.Failedf("tag %s:%s now resolves to %s, not the %s given: the tag moved; deploy by the digest you verified, with the tag that names it", img.Repository, img.Tag, resolved.DigestStr(), img.Digest)
		}
	}
	if g.Verifier == nil {
		return "", exit.Usagef("deploy verifies signatures before anything lands: set signing.publicKeys")
	}
	v, err := g.Verifier.Verify(ctx, digest)
	if err != nil {
		return "", fmt.Errorf("refusing %s: %w", digest, err)
	}
	logging.From(ctx).Info().Str(logging.Digest, img.Digest).Str("key", v.KeyID).Msg("signature verified")
	return v.KeyID, nil
}

// parseImage splits repo[:tag]@sha256:... into the desired-state image.
func parseImage(ref string) (desiredstate.Image, error) {
	repoTag, digest, ok := strings.Cut(ref, "@")
	if !ok || !strings.HasPrefix(digest, "sha256:") {
		return desiredstate.Image{}, exit.Usagef("--image %q has no digest: deploy pins images by digest (IMAGE:TAG@sha256:...)", ref)
	}
	r, err := name.ParseReference(repoTag)
	if err != nil {
		return desiredstate.Image{}, exit.Usagef("--image %q: %v", ref, err)
	}
	img := desiredstate.Image{Repository: r.Context().Name(), Digest: digest}
	if t, ok := r.(name.Tag); ok && strings.Contains(repoTag[strings.LastIndex(repoTag, "/")+1:], ":") {
		img.Tag = t.TagStr()
	}
	return img, nil
}

func shortDigest(d string) string {
	d = strings.TrimPrefix(d, "sha256:")
	if len(d) > 12 {
		d = d[:12]
	}
	return d
}

// Audit is who deployed, from where.
type Audit struct {
	Actor, PipelineURL, SignedBy string
}

// Commit trailers: rollback and the audit trail read them back.
const (
	TrailerApp          = "Stepper-App"
	TrailerEnv          = "Stepper-Env"
	TrailerImage        = "Stepper-Image"
	TrailerDigest       = "Stepper-Digest"
	TrailerChartVersion = "Stepper-Chart-Version"
	TrailerPipeline     = "Stepper-Pipeline"
	TrailerActor        = "Stepper-Actor"
)

func commitMessage(t Target, r Release, img desiredstate.Image, a Audit) gitrepo.Message {
	tr := []gitrepo.Trailer{
		{Key: TrailerApp, Value: r.App}, {Key: TrailerEnv, Value: t.Env},
		{Key: TrailerImage, Value: img.String()}, {Key: TrailerDigest, Value: img.Digest},
	}
	if r.ChartVersion != "" {
		tr = append(tr, gitrepo.Trailer{Key: TrailerChartVersion, Value: r.ChartVersion})
	}
	if a.PipelineURL != "" {
		tr = append(tr, gitrepo.Trailer{Key: TrailerPipeline, Value: a.PipelineURL})
	}
	if a.Actor != "" {
		tr = append(tr, gitrepo.Trailer{Key: TrailerActor, Value: a.Actor})
	}
	return gitrepo.Message{Subject: fmt.Sprintf("deploy %s to %s: %s", r.App, t.Env, shortDigest(img.Digest)), Trailers: tr}
}

func mrDescription(t Target, r Release, img desiredstate.Image, a Audit, diff string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Deploys **%s** to **%s**.\n\n", r.App, t.Env)
	fmt.Fprintf(&b, "- image: `%s`\n- digest: `%s`\n", img.String(), img.Digest)
	if a.SignedBy != "" {
		fmt.Fprintf(&b, "- signature: verified, key `%s`\n", a.SignedBy)
	} else {
		b.WriteString("- signature: verified\n")
	}
	if r.ChartVersion != "" {
		fmt.Fprintf(&b, "- chart version: `%s`\n", r.ChartVersion)
	}
	if a.PipelineURL != "" {
		fmt.Fprintf(&b, "- pipeline: %s\n", a.PipelineURL)
	}
	if diff != "" {
		fmt.Fprintf(&b, "\n```diff\n%s\n```\n", strings.TrimRight(diff, "\n"))
	}
	b.WriteString("\n_Opened by stepper._\n")
	return b.String()
}

// Outcome is what a deploy did.
type Outcome struct {
	Env, App, Image string
	Branch, Via     string
	Commit          string
	NoOp            bool
	Attempts        int
	Diff            string
	MergeRequest    string
}
