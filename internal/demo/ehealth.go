package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strconv"
	"strings"

	"github.com/stepper-cd/stepper/internal/testenv"
)

// ehealthFlow is the eHealth platform (seeds 000-002): Helmsman files in
// one repository, exttest and prod through the Jenkins promotion jobs,
// preprod through one merge request from master into prod.
var ehealthFlow = flow{
	app: "patient-api",
	chains: map[string][]string{
		"internal": {"inttest", "exttest", "preprod", "prod"},
		"vendor":   {"devenvcgi", "exttest", "preprod", "prod"},
	},
	namespace: func(env string) string { return "ehealth-" + env },
	desired:   ehealthDesired,
	applier:   "the platform's Jenkins job (Helmsman)",
	gitlab:    true, jenkins: true,
	fakes: func(d *demo) {
		d.gitlab.AddProject("ehealth/desired-state")
		for _, job := range []string{"ehealth-promote-exttest", "ehealth-promote-prod"} {
			d.jenkins.AddJob(job, testenv.FakeJob{Run: func(ctx context.Context, b *testenv.FakeBuild, log io.Writer) string {
				return d.promotionJob(ctx, job, b, log)
			}})
		}
	},
	phases: func(d *demo) []phase {
		first := d.chain[0]
		return []phase{
			{"validate", "check the release against the platform's container rules: first a variant that breaks them, then the real one, whose verdict is signed", d.validate},
			{"deploy " + first, "write the release into " + first + "'s desired state by commit, then apply it as the platform's Jenkins job would", d.deployFirst},
			{"smoke-test " + first, "prove the release runs in " + first + " and sign that evidence", func(ctx context.Context) error { return d.smoke(ctx, first) }},
			{"promote", "carry the same digest through " + strings.Join(d.chain[1:], ", ") + ", each by its own route, after the gates", d.promoteAll},
			{"broken release", "deploy a version whose probes fail: the apply diagnoses it and rolls back, then rollback restores the desired state and holds it", d.brokenRelease},
			{"status", "the environment × app board: what runs where, its evidence, and what stops it moving on", d.status},
		}
	},
}

// branchOf is the branch each eHealth environment rolls from.
func branchOf(env string) string {
	if env == "preprod" || env == "prod" {
		return "prod"
	}
	return "master"
}

// deployFirst lands the release in the chain's first environment and
// applies it.
func (d *demo) deployFirst(ctx context.Context) error {
	env := d.chain[0]
	before := d.rev("master")
	if _, err := d.must(ctx, "deploy", "--env", env, "--app", d.app, "--from-result", "build.json"); err != nil {
		return err
	}
	if d.rev("master") == before {
		return errors.New("nothing was committed to master")
	}
	if err := d.wantDesired(env, d.good); err != nil {
		return err
	}
	return d.apply(ctx, env, d.good)
}

// promoteAll promotes through the rest of the chain, each environment by
// its own route, applying and smoke-testing in each.
func (d *demo) promoteAll(ctx context.Context) error {
	for i, to := range d.chain[1:] {
		from := d.chain[i]
		switch to {
		case "exttest", "prod":
			d.say("%s → %s: the platform's Jenkins job %s runs stepper promote itself, which checks the gates again and commits", from, to, "ehealth-promote-"+to)
		case "preprod":
			d.say("%s → %s: one merge request from master into prod; merging it rolls preprod", from, to)
		}
		builds := len(d.jenkins.Builds("ehealth-promote-" + to))
		if _, err := d.must(ctx, "promote", "--app", d.app, "--from", from); err != nil {
			return err
		}
		switch to {
		case "exttest", "prod":
			b := d.jenkins.Builds("ehealth-promote-" + to)
			if len(b) != builds+1 || b[len(b)-1].Result != "SUCCESS" {
				return fmt.Errorf("the Jenkins job ehealth-promote-%s has no new successful build", to)
			}
			d.checked("Jenkins build #%d of ehealth-promote-%s succeeded", b[len(b)-1].Number, to)
		case "preprod":
			if err := d.mergeRequest(); err != nil {
				return err
			}
		}
		if err := d.wantDesired(to, d.good); err != nil {
			return err
		}
		if err := d.apply(ctx, to, d.good); err != nil {
			return err
		}
		if err := d.smoke(ctx, to); err != nil {
			return err
		}
	}
	return nil
}

// mergeRequest merges the open merge request from master into prod as
// GitLab does when an approver merges it.
func (d *demo) mergeRequest() error {
	open, err := d.openMergeRequest("ehealth/desired-state", "prod")
	if err != nil {
		return err
	}
	if open.SourceBranch != "master" {
		return fmt.Errorf("the merge request into prod is from %s, not master", open.SourceBranch)
	}
	d.checked("merge request !%d %q from master into prod is open", open.IID, open.Title)
	if err := d.merge("ehealth/desired-state", open, "SRE approver", "sre@ehealth.example"); err != nil {
		return err
	}
	d.checked("an approver merged !%d (as GitLab would: a merge commit on prod)", open.IID)
	return nil
}

// promotionJob is a build of the platform's promotion job: stepper promote
// inside Jenkins, with the build's parameters.
func (d *demo) promotionJob(ctx context.Context, job string, b *testenv.FakeBuild, log io.Writer) string {
	p := b.Params
	args := []string{"promote", "--log-format", "console", "--from", p["FROM"], "--to", p["TO"], "--app", p["APP"], "--digest", p["DIGEST"]}
	fmt.Fprintf(log, "+ stepper %s\n", strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, d.o.Bin, args...)
	cmd.Env = append(slices.Clone(d.env), "JENKINS_URL="+d.jenkins.URL+"/", "BUILD_URL="+b.URL, "JOB_NAME="+job,
		"BUILD_NUMBER="+strconv.Itoa(b.Number), "WORKSPACE="+d.work)
	cmd.Dir, cmd.Stdout, cmd.Stderr = d.work, log, log
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(log, "ERROR: stepper promote: %v\n", err)
		return "FAILURE"
	}
	return "SUCCESS"
}

// brokenRelease deploys a release whose probes fail and watches it rolled
// back, on the cluster and in the desired state.
func (d *demo) brokenRelease(ctx context.Context) error {
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
	if _, err := d.must(ctx, "deploy", "--env", env, "--app", d.app, "--from-result", "build-broken.json", "--set", "simulate.probesFail=true"); err != nil {
		return err
	}
	if err := d.wantDesired(env, d.broken); err != nil {
		return err
	}
	d.say("the apply job, told to roll back what does not become ready:")
	_, code := d.run(ctx, nil, "deploy", "--apply", "--env", env, "--app", d.app, "--kubeconfig", d.state.Env["KUBECONFIG"],
		"--timeout", "2m", "--rollback-on-failure")
	if code != 1 {
		return fmt.Errorf("the apply of the broken release exited %d, want 1", code)
	}
	if err := d.wantRunning(ctx, env, d.good); err != nil {
		return err
	}
	d.checked("the failure was diagnosed and the cluster runs 1.0.0 again")
	d.say("the desired state still names 1.0.1: a reverse commit restores 1.0.0 and holds it there")
	if _, err := d.must(ctx, "rollback", "--env", env, "--app", d.app, "--reason", "1.0.1 failed its probes in "+env); err != nil {
		return err
	}
	if err := d.wantDesired(env, d.good); err != nil {
		return err
	}
	msg, err := d.git("log", "-1", "--format=%B", "master")
	if err != nil {
		return err
	}
	if !strings.Contains(msg, "Stepper-Action: rollback") {
		return fmt.Errorf("the last commit on master is no rollback:\n%s", msg)
	}
	d.checked("the reverse commit on master carries the rollback's trailers and holds %s", d.app)
	if _, code := d.run(ctx, nil, "deploy", "--env", env, "--app", d.app, "--from-result", "build-broken.json", "--dry-run"); code == 0 {
		return errors.New("a deploy over the rollback hold was accepted")
	}
	d.checked("a deploy over the hold is refused until a promotion or deploy --release-hold lifts it")
	d.say("what a rollback of the Helm release itself would do now, changing nothing (its namespace comes from the desired state):")
	if _, err := d.must(ctx, "rollback", "--apply", "--dry-run", "--env", env, "--app", d.app, "--kubeconfig", d.state.Env["KUBECONFIG"],
		"--reason", "a look at what it would restore"); err != nil {
		return err
	}
	return nil
}

// ehealthDesired checks the digest env's desired-state file names.
func ehealthDesired(d *demo, env, digest string) error {
	text, err := d.git("show", branchOf(env)+":"+env+"/dsf.yaml")
	if err != nil {
		return err
	}
	if !strings.Contains(text, digest) {
		return fmt.Errorf("%s/dsf.yaml on %s does not name %s", env, branchOf(env), digest)
	}
	d.checked("%s/dsf.yaml on %s names %s", env, branchOf(env), short(digest))
	return nil
}
