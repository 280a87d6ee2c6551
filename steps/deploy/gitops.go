package deploy

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"go.yaml.in/yaml/v3"

	"github.com/stepper-cd/stepper/internal/config"
	"github.com/stepper-cd/stepper/internal/desiredstate"
	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/gitlab"
	"github.com/stepper-cd/stepper/internal/land"
	"github.com/stepper-cd/stepper/internal/logging"
	"github.com/stepper-cd/stepper/internal/release"
	"github.com/stepper-cd/stepper/internal/report"
	"github.com/stepper-cd/stepper/internal/signing"
)

// Verifier checks a digest's signature with the approved keys.
type Verifier interface {
	Verify(ctx context.Context, img name.Digest) (*signing.Verified, error)
}

// Images resolves and sets tags in the registry: internal/registry.
type Images interface {
	// Resolve is the digest a tag points at: the index's for a
	// multi-platform image, never one platform's manifest.
	Resolve(ctx context.Context, ref string) (name.Digest, error)
	Tag(ctx context.Context, ref name.Digest, tags []string, allowRetag bool) error
}

// gitops writes the release into the environment's desired state and lands
// it by the environment's route.
func (s *Step) gitops(ctx context.Context, job Job) (*Outcome, error) {
	env := job.Env
	// The chain first: a deploy past its first environment is refused the
	// same way whatever route that environment takes, and names promote.
	if err := directDeployAllowed(job.Config, env); err != nil {
		return nil, err
	}
	if env.Land.Via == config.ViaJenkins {
		return nil, exit.Usagef("environment %s takes releases through the Jenkins job %q, not a desired-state edit: use stepper promote", env.Name, env.Land.Job)
	}
	ds := env.DesiredState
	if ds.Repo == "" || ds.Path == "" {
		return nil, exit.Usagef("environment %s: set desiredState.repo and desiredState.path", env.Name)
	}
	img, err := job.image()
	if err != nil {
		return nil, err
	}
	values, err := job.values()
	if err != nil {
		return nil, err
	}
	if job.App == "" {
		return nil, exit.Usagef("no app given: pass --app NAME (or STEPPER_APP); outside CI there is no project name to default to")
	}
	if job.UnsignedBuild && !job.DryRun {
		return nil, exit.Usagef("--unsigned-build goes with --dry-run: only a signed build lands")
	}
	var keyID string
	if job.UnsignedBuild {
		logging.From(ctx).Warn().Str(logging.Image, img.String()).Msg("--unsigned-build: a merge request's build; its signature and tag are checked when it is deployed for real")
	} else if keyID, err = s.verify(ctx, img); err != nil {
		return nil, err
	}
	verified := img
	if img, err = prefixed(job, img); err != nil {
		return nil, err
	}
	spec := land.SpecOf(job.Config, env)
	route := land.Route{Via: string(env.Land.Via), SourceBranch: env.Land.SourceBranch, TargetBranch: env.Land.TargetBranch}
	if env.Land.Via == config.ViaMergeRequest {
		if route.Project, err = gitlab.ProjectFromRepoURL(ds.Repo); err != nil {
			return nil, exit.Mark(exit.Usage, err)
		}
	}
	chart := job.ChartVersion
	if chart == "" && s.States != nil {
		// The release keeps the chart version it runs with: the history
		// (rollback --to, --history) records it all the same.
		if snap, err := s.States.Snapshot(ctx, spec, 1); err == nil {
			if a, err := snap.Doc.App(job.App); err == nil {
				chart = a.ChartVersion
			}
		}
	}
	trailers := release.Trailers{
		Action: release.ActionDeploy, App: job.App, Env: env.Name, Image: img, ChartVersion: chart,
		Started: job.Started, Pipeline: job.PipelineURL, Actor: job.Actor,
	}
	if job.ReleaseHold {
		trailers.ReleasesHold = "true"
	}
	subject := fmt.Sprintf("deploy %s to %s: %s", job.App, env.Name, img.ShortDigest())
	ch := land.Change{
		App: job.App,
		Edit: func(doc desiredstate.Document) (bool, error) {
			changed, err := setRelease(doc, job.App, img, job.ChartVersion, values)
			if err != nil || !(job.ReleaseHold || job.Force) {
				return changed, err
			}
			released, err := desiredstate.ReleaseImage(doc, job.App)
			return changed || released, err
		},
		Check: land.ReadsBack(job.App, img),
		Guard: func(history []release.Entry) error {
			if job.Force || len(history) == 0 {
				return nil
			}
			head := history[0]
			if head.Hold && job.ReleaseHold {
				logging.From(ctx).Info().Str(logging.App, job.App).Str("rollback", head.Commit.SHA).Msg("--release-hold: lifting the rollback's hold")
				return nil
			}
			if why := release.Late(&head, img, job.Started); why != "" {
				hint := "Pass --force to land this release over it on purpose"
				if head.Hold {
					hint = "Deploy with --release-hold to lift the hold on purpose, or promote a release"
				}
				return exit.Failedf("deploy %s to %s refused: %s; a late pipeline must not overwrite it. %s", job.App, env.Name, why, hint)
			}
			return nil
		},
		Trailers: trailers,
		Subject:  subject,
		Body:     job.Message,
		Branch:   fmt.Sprintf("stepper/%s/%s-%s", env.Name, job.App, img.ShortDigest()),
		Title:    subject,
		Labels:   []string{"stepper", "env::" + env.Name},
		DryRun:   job.DryRun,
	}
	if keyID != "" {
		ch.Description = mrDescription(env.Name, job, img, keyID)
	}
	landed, err := s.Lander.Land(ctx, spec, route, ch)
	if landed == nil {
		return nil, err
	}
	if err == nil && img.Tag != verified.Tag && !job.DryRun {
		// Only once the release has landed: image automation that follows
		// the prefix would roll out a release stepper refused to land.
		err = s.pushPrefixedTag(ctx, job, verified, img)
	}
	out := &Outcome{
		Deployed: release.Deployed{Env: env.Name, App: job.App, Image: img, ChartVersion: chart, Landing: landed.Landing},
		Diff:     landed.Diff, Attempts: landed.Attempts, DryRun: job.DryRun,
	}
	return out, err
}

// directDeployAllowed refuses a deploy into any environment but the first
// of the chain: the rest are reached by promote, which checks the evidence
// of the environment before.
func directDeployAllowed(cfg *config.Config, env *config.Environment) error {
	chain := cfg.Chain()
	if len(chain) == 0 || chain[0].Name == env.Name {
		return nil
	}
	prev, _ := cfg.Previous(env.Name)
	from := chain[0].Name
	if prev != nil {
		from = prev.Name
	}
	return exit.Failedf("deploy --env %s refused: a direct deploy goes only into the chain's first environment, %s; a release reaches %s by `stepper promote --from %s --to %s`, which checks its evidence from %s",
		env.Name, chain[0].Name, env.Name, from, env.Name, from)
}

// setRelease writes image, chart version and values into the app's entry.
func setRelease(doc desiredstate.Document, app string, img release.Ref, chartVersion string, values map[string]string) (bool, error) {
	changed, err := doc.SetImage(app, desiredstate.Image{Repository: img.Repository, Tag: img.Tag, Digest: img.Digest})
	if err != nil {
		return false, err
	}
	if chartVersion != "" {
		c, err := doc.SetChartVersion(app, chartVersion)
		if err != nil {
			return false, err
		}
		changed = changed || c
	}
	if len(values) > 0 {
		c, err := doc.SetValues(app, values)
		if err != nil {
			return false, err
		}
		changed = changed || c
	}
	return changed, nil
}

// verify refuses an image unless its digest is signed by an approved key
// and any tag it names still points at that digest (the descriptor the tag
// names: an index for a multi-platform image).
func (s *Step) verify(ctx context.Context, img release.Ref) (string, error) {
	digest, err := img.NameDigest()
	if err != nil {
		return "", exit.Usagef("image %s: %v", img, err)
	}
	if img.Tag != "" && s.Images != nil {
		resolved, err := s.Images.Resolve(ctx, img.Tagged())
		if err != nil {
			return "", fmt.Errorf("resolve %s: %w", img.Tagged(), err)
		}
		if resolved.DigestStr() != img.Digest {
			return "", exit.Failedf("tag %s now resolves to %s, not the %s given: the tag moved; deploy by the digest you verified, with the tag that names it", img.Tagged(), resolved.DigestStr(), img.Digest)
		}
	}
	if s.Verifier == nil {
		return "", exit.Usagef("deploy verifies signatures before anything lands: set signing.publicKeys")
	}
	v, err := s.Verifier.Verify(ctx, digest)
	if err != nil {
		return "", fmt.Errorf("refusing %s: %w", digest, err)
	}
	logging.From(ctx).Info().Str(logging.Digest, img.Digest).Str("key", v.KeyID).Msg("signature verified")
	return v.KeyID, nil
}

// prefixed is the image with the environment's tag prefix (tagPrefix), for
// image-automation controllers that follow an environment by tag prefix
// (Flux ImagePolicy filterTags: stag-*, master-*): the desired state names
// PREFIX+TAG, and pushPrefixedTag points that tag at the verified digest
// once the release has landed.
func prefixed(job Job, img release.Ref) (release.Ref, error) {
	prefix := job.Env.TagPrefix
	if prefix == "" || strings.HasPrefix(img.Tag, prefix) {
		return img, nil
	}
	if img.Tag == "" {
		return img, exit.Usagef("environment %s names its images by the tag prefix %q: give the image a tag (IMAGE:TAG@sha256:...)", job.Env.Name, prefix)
	}
	return img.WithTag(prefix + img.Tag), nil
}

// pushPrefixedTag points the prefixed tag at the digest verified under its
// own tag. The prefixed tag mirrors that tag: where it was moved on purpose
// (--allow-retag), the mirror follows it.
func (s *Step) pushPrefixedTag(ctx context.Context, job Job, verified, tagged release.Ref) error {
	if s.Images == nil {
		return exit.Usagef("environment %s: tagging %s needs the registry", job.Env.Name, tagged)
	}
	digest, err := verified.NameDigest()
	if err != nil {
		return exit.Usagef("image %s: %v", verified, err)
	}
	if err := s.Images.Tag(ctx, digest, []string{tagged.Tag}, true); err != nil {
		return fmt.Errorf("the release landed naming %s, but the tag could not be pushed; run the deploy again (it lands nothing twice): %w", tagged, err)
	}
	logging.From(ctx).Info().Str(logging.Image, tagged.String()).Msgf("tagged for %s", job.Env.Name)
	return nil
}

// image is --image, or the image of a result file (build-sign-push's, with
// its first tag).
func (j Job) image() (release.Ref, error) {
	if j.Image != "" {
		return release.ParsePinned(j.Image)
	}
	prev, err := report.ReadJSON(j.FromResult)
	if err != nil {
		return release.Ref{}, exit.Mark(exit.Usage, fmt.Errorf("--from-result: %w", err))
	}
	return release.ImageFromResult("--from-result "+j.FromResult, prev)
}

// values are the keys of --values files with --set over them, as helm --set
// paths: maps become dotted keys and lists indexed ones.
func (j Job) values() (map[string]string, error) {
	set := map[string]string{}
	for _, f := range j.Values {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, exit.Usagef("--values: %v", err)
		}
		var doc map[string]any
		if err := yaml.Unmarshal(b, &doc); err != nil {
			return nil, exit.Usagef("--values %s: %v", f, err)
		}
		flat, err := desiredstate.FlattenValues(doc)
		if err != nil {
			return nil, exit.Usagef("--values %s: %v", f, err)
		}
		for k, v := range flat {
			set[k] = v
		}
	}
	for _, kv := range j.Set {
		k, v, _ := strings.Cut(kv, "=")
		set[k] = v
	}
	return set, nil
}

func mrDescription(env string, j Job, img release.Ref, keyID string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Deploys **%s** to **%s**.\n\n", j.App, env)
	fmt.Fprintf(&b, "- image: `%s`\n- digest: `%s`\n", img.String(), img.Digest)
	fmt.Fprintf(&b, "- signature: verified, key `%s`\n", keyID)
	if j.ChartVersion != "" {
		fmt.Fprintf(&b, "- chart version: `%s`\n", j.ChartVersion)
	}
	if j.PipelineURL != "" {
		fmt.Fprintf(&b, "- pipeline: %s\n", j.PipelineURL)
	}
	if j.Message != "" {
		fmt.Fprintf(&b, "\n%s\n", j.Message)
	}
	b.WriteString("\n_Opened by stepper._\n")
	return b.String()
}
