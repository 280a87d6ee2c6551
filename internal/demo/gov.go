package demo

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// govFlow is the government's platform (seed 004): helmfile layouts in
// hocs/deploy-notprod (dev, qa) and hocs/deploy-prod (prod). Every release
// is a merge request into main of its repository; the merge triggers the
// deployment pipeline, which applies the environment.
var govFlow = flow{
	app:       "hocs-casework",
	chains:    map[string][]string{"release": {"dev", "qa", "prod"}},
	namespace: func(env string) string { return "hocs-" + env },
	gitlab:    true,
	applier:   "the merge to main triggers the deployment pipeline, which",
	fakes: func(d *demo) {
		d.gitlab.AddProject(govNotprod)
		d.gitlab.AddProject(govProd)
	},
	phases: func(d *demo) []phase {
		first := d.chain[0]
		return []phase{
			{"validate", "check the release against the platform's container rules: first a variant that breaks them, then the real one, whose verdict is signed", d.validate},
			{"deploy " + first, "open a merge request into main of " + govNotprod + " that releases to " + first + ", merge it, and let the deployment pipeline apply it", d.govDeploy},
			{"smoke-test " + first, "prove the release runs in " + first + " and sign that evidence", func(ctx context.Context) error { return d.smoke(ctx, first) }},
			{"promote", "carry the same digest through " + strings.Join(d.chain[1:], ", ") + " after the gates, each by a merge request into main of its repository", d.govPromote},
			{"broken release", "release a version whose probes fail: the pipeline's apply diagnoses it and rolls back, then rollback restores the desired state by merge request and holds it", d.govBroken},
			{"status", "the environment × app board: what runs where, its evidence, and what stops it moving on", d.status},
		}
	},
}

const (
	govNotprod = "hocs/deploy-notprod"
	govProd    = "hocs/deploy-prod"
)

// govRepo is the deployment repository env's desired state is in.
func govRepo(env string) string {
	if env == "prod" {
		return govProd
	}
	return govNotprod
}

// govDeploy releases the first build to the chain's first environment.
func (d *demo) govDeploy(ctx context.Context) error {
	env := d.chain[0]
	return d.govRelease(ctx, env, "1.0.0", d.good, func() error {
		_, err := d.must(ctx, "deploy", "--env", env, "--app", d.app, "--from-result", "build.json")
		return err
	})
}

// govRelease runs land, which must open a merge request into main of env's
// repository and leave main as it was; merges it as a release manager
// would; checks main names tag and digest; and applies env as the
// pipeline the merge triggers does.
func (d *demo) govRelease(ctx context.Context, env, tag, digest string, land func() error) error {
	repo := govRepo(env)
	before, err := d.gitIn(repo, "rev-parse", "refs/heads/main")
	if err != nil {
		return err
	}
	if err := land(); err != nil {
		return err
	}
	if after, _ := d.gitIn(repo, "rev-parse", "refs/heads/main"); after != before {
		return fmt.Errorf("main of %s moved before a merge: every commit there releases", repo)
	}
	mr, err := d.openMergeRequest(repo, "main")
	if err != nil {
		return err
	}
	d.checked("merge request !%d %q from %s into main of %s is open; main has not moved", mr.IID, mr.Title, mr.SourceBranch, repo)
	if err := d.govDesired(env, mr.SourceBranch, tag, digest); err != nil {
		return err
	}
	if err := d.merge(repo, mr, "Release manager", "release-manager@hocs.example"); err != nil {
		return err
	}
	d.checked("a release manager merged !%d (as GitLab would: a merge commit on main of %s)", mr.IID, repo)
	if err := d.govDesired(env, "main", tag, digest); err != nil {
		return err
	}
	return d.apply(ctx, env, digest)
}

// govPromote promotes through the rest of the chain, each promotion a
// merge request that is merged, applied and smoke-tested.
func (d *demo) govPromote(ctx context.Context) error {
	for i, to := range d.chain[1:] {
		from := d.chain[i]
		if govRepo(to) != govRepo(from) {
			d.say("%s → %s: %s lives in %s, a repository of its own that only release managers merge into", from, to, to, govRepo(to))
		} else {
			d.say("%s → %s: a merge request into main of %s, beside %s", from, to, govRepo(to), from)
		}
		err := d.govRelease(ctx, to, "1.0.0", d.good, func() error {
			_, err := d.must(ctx, "promote", "--app", d.app, "--from", from)
			return err
		})
		if err != nil {
			return err
		}
		if err := d.smoke(ctx, to); err != nil {
			return err
		}
	}
	return nil
}

// govBroken releases a build whose probes fail to the first environment
// and watches it rolled back, on the cluster and in the desired state.
func (d *demo) govBroken(ctx context.Context) error {
	env := d.chain[0]
	digest, err := d.buildImage(ctx, "1.0.1", "build-broken.json")
	if err != nil {
		return err
	}
	d.broken = digest
	if _, err := d.must(ctx, append([]string{"validate", "--from-result", "build-broken.json", "--app", d.app, "--attest"}, d.chart()...)...); err != nil {
		return err
	}
	d.say("1.0.1 fails its probes (the chart's simulate.probesFail: kwok fails its pods before they are ready)")
	repo := govRepo(env)
	before, err := d.gitIn(repo, "rev-parse", "refs/heads/main")
	if err != nil {
		return err
	}
	if _, err := d.must(ctx, "deploy", "--env", env, "--app", d.app, "--from-result", "build-broken.json", "--set", "simulate.probesFail=true"); err != nil {
		return err
	}
	if after, _ := d.gitIn(repo, "rev-parse", "refs/heads/main"); after != before {
		return fmt.Errorf("main of %s moved before a merge", repo)
	}
	mr, err := d.openMergeRequest(repo, "main")
	if err != nil {
		return err
	}
	if err := d.merge(repo, mr, "Release manager", "release-manager@hocs.example"); err != nil {
		return err
	}
	d.checked("a release manager merged !%d, which releases 1.0.1 to %s", mr.IID, env)
	if err := d.govDesired(env, "main", "1.0.1", d.broken); err != nil {
		return err
	}
	d.say("the pipeline's apply, told to roll back what does not become ready:")
	_, code := d.run(ctx, nil, "deploy", "--apply", "--env", env, "--app", d.app, "--kubeconfig", d.state.Env["KUBECONFIG"],
		"--timeout", "2m", "--rollback-on-failure")
	if code != 1 {
		return fmt.Errorf("the apply of the broken release exited %d, want 1", code)
	}
	if err := d.wantRunning(ctx, env, d.good); err != nil {
		return err
	}
	d.checked("the failure was diagnosed and the cluster runs 1.0.0 again")

	d.say("main still names 1.0.1: rollback proposes the reverse change by merge request, restoring 1.0.0 and holding it there")
	err = d.govRelease(ctx, env, "1.0.0", d.good, func() error {
		_, err := d.must(ctx, "rollback", "--env", env, "--app", d.app, "--reason", "1.0.1 failed its probes in "+env)
		return err
	})
	if err != nil {
		return err
	}
	msg, err := d.gitIn(repo, "log", "-1", "--format=%B", "main^2")
	if err != nil {
		return err
	}
	if !strings.Contains(msg, "Stepper-Action: rollback") {
		return fmt.Errorf("the change merged into main of %s is no rollback:\n%s", repo, msg)
	}
	d.checked("the merged change carries the rollback's trailers and holds %s", d.app)
	if _, code := d.run(ctx, nil, "deploy", "--env", env, "--app", d.app, "--from-result", "build-broken.json", "--dry-run"); code == 0 {
		return errors.New("a deploy over the rollback hold was accepted")
	}
	d.checked("a deploy over the hold is refused until a promotion or deploy --release-hold lifts it")
	return nil
}

// govDesired checks that ref of env's repository releases tag in env's
// versions file and pins digest in the app's values file.
func (d *demo) govDesired(env, ref, tag, digest string) error {
	repo := govRepo(env)
	versions, values := "environments/"+env+"/versions.yaml", "environments/"+env+"/values/"+d.app+".yaml"
	text, err := d.gitIn(repo, "show", ref+":"+versions)
	if err != nil {
		return err
	}
	if want := d.app + `: "` + tag + `"`; !strings.Contains(text, want) {
		return fmt.Errorf("%s on %s of %s lacks %s:\n%s", versions, ref, repo, want, text)
	}
	if text, err = d.gitIn(repo, "show", ref+":"+values); err != nil {
		return err
	}
	if !strings.Contains(text, "digest: "+digest) {
		return fmt.Errorf("%s on %s of %s does not pin %s:\n%s", values, ref, repo, digest, text)
	}
	d.checked("%s of %s: %s names %s, %s pins %s", ref, repo, versions, tag, values, short(digest))
	return nil
}
