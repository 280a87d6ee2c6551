package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/stepper-cd/stepper/internal/report"
	"github.com/stepper-cd/stepper/internal/testenv"
	"github.com/stepper-cd/stepper/steps/promote"
)

// The eHealth promotions, through the binary (seeds 000-002): every release
// visits inttest (devenvcgi for a vendor), exttest, preprod and prod in
// order. exttest and prod take a release through the platform's Jenkins
// promotion job, which runs stepper promote itself; preprod through the one
// merge request from master into prod. The SRE group promotes the
// platform's own services; a vendor names its own promoters.

// The platform's promotion jobs: exttest's is the profile's, prod's the
// platform file's.
const (
	exttestJob = "ehealth-promote-exttest"
	prodJob    = "platform/promote-prod"
)

// promoteEHealth carries on from sampleEHealth: an internal team's services
// along the internal chain, then the vendor's patient-api along the vendor
// chain.
func promoteEHealth(t *testing.T, s *sample, repo *testenv.Repo, gitlab *testenv.FakeGitLab, jenkins *testenv.FakeJenkins, built, base string) {
	if n := len(jenkins.Requests()); n > 0 {
		t.Errorf("build-sign-push, validate and deploy called Jenkins %d times", n)
	}
	// Jenkins' API token for the platform's bot, as the CI variables hold it.
	s = s.with("JENKINS_USER="+jenkins.User, "JENKINS_TOKEN="+jenkins.Token)
	gitlab.AddGroup("sre", "sara")
	gitlab.AddSubgroup("vendor-x", "release", "victor")
	for _, user := range []string{"sara", "victor", "mallory"} {
		gitlab.AddJobToken("test-only-job-token-"+user, user)
	}
	agent := startPromotionAgent(t, s, jenkins)
	promoteInternalChain(t, s, gitlab, agent, base)
	promoteVendorChain(t, s, repo, gitlab, agent, built, base)
}

// promoteInternalChain: careplan and questionnaire, two services of the
// platform's own, go inttest → exttest (Jenkins job) → preprod (one merge
// request from master into prod) → prod (Jenkins job, both in one commit),
// each step after a smoke test in the environment before, for a member of
// the SRE group. Every refusal on the way changes nothing anywhere.
func promoteInternalChain(t *testing.T, s *sample, gitlab *testenv.FakeGitLab, agent *promotionAgent, base string) {
	c := newInternalChain(t, s, gitlab, agent, base)
	c.refusals(t)
	c.jobFailures(t)
	c.intoExttest(t)
	c.intoPreprod(t)
	c.intoProd(t)
	c.history(t)
}

// internalChain is the internal team's desired state, its two services and
// the builds that move.
type internalChain struct {
	*ehealthWorld
	careplan, questionnaire *sample
	// sara, of group sre, promotes careplan.
	sara *sample
	// cp and qn are the releases that move; older is careplan's build
	// inttest ran before.
	cp, qn, older ehealthBuild
}

// newInternalChain seeds the team's desired state, builds what each
// environment runs and the releases that move, and deploys those into
// inttest with a validate attestation each.
func newInternalChain(t *testing.T, s *sample, gitlab *testenv.FakeGitLab, agent *promotionAgent, base string) *internalChain {
	repo := s.repo(t, "ehealth/desired-state", "ehealth/internal-desired-state", sampleSwaps{
		{ehealthChartsURL, ehealthCharts(t)}, {"registry.admin.ehealth.sundhed.dk", s.host},
	})
	gitOut(t, repo.Dir, "branch", "prod", "master")
	gitlab.AddProject("ehealth/desired-state")
	team := *s
	team.config(t, "ehealth-internal.yaml", sampleSwaps{
		{"https://gitlab.ehealth.example/", s.git.URL + "/"},
		{"https://gitlab.ehealth.example", gitlab.URL},
	})
	agent.checkout(team.file)
	c := &internalChain{
		ehealthWorld: &ehealthWorld{repo: repo, gitlab: gitlab, project: "ehealth/desired-state", agent: agent, s: s,
			images: []string{"ehealth/careplan", "ehealth/questionnaire"}},
		careplan: team.project("careplan"), questionnaire: team.project("questionnaire"),
	}
	c.sara = c.careplan.as("sara")
	// What the environments run now, which a rollback returns to.
	c.careplan.release(t, base, "2.2.0")
	c.careplan.release(t, base, "2.1.0")
	c.questionnaire.release(t, base, "1.0.0")
	c.older = c.careplan.release(t, base, "2.3.0")
	c.cp = c.careplan.release(t, base, "2.4.0")
	c.qn = c.questionnaire.release(t, base, "1.2.0")
	for _, b := range []ehealthBuild{c.cp, c.qn} {
		b.of.validateAttest(t, b.result)
		b.of.deploy(t, b.result, "inttest")
	}
	return c
}

// refusals: what promote refuses before it triggers anything. It ends
// with careplan smoke-tested in inttest.
func (c *internalChain) refusals(t *testing.T) {
	// A skipped environment: the chain goes inttest → exttest.
	before := c.snapshot(t)
	if r, _ := c.sara.promote(t, "--from", "inttest", "--to", "preprod"); r.code != 1 || !strings.Contains(r.stderr, "the chain goes inttest → exttest") {
		t.Errorf("promote inttest → preprod: exit %d, want 1 naming the chain\n%s", r.code, r.stderr)
	}
	c.unchanged(t, "a promotion skipping exttest", before)

	// No smoke test in inttest yet.
	r, res := c.sara.promote(t, "--from", "inttest")
	if r.code != 1 || !strings.Contains(r.stderr, "gate smoke-tested for careplan") || !strings.Contains(r.stderr, "unsigned: no") {
		t.Errorf("promote without a smoke test: exit %d, want 1 naming the smoke-tested gate\n%s", r.code, r.stderr)
	}
	if v := gateVerdicts(res); v["signed careplan"] != report.Succeeded || v["validated careplan"] != report.Succeeded ||
		v["smoke-tested careplan"] != report.Failed || v["rollback careplan"] != report.Succeeded {
		t.Errorf("gate verdicts without a smoke test: %v", v)
	}
	c.unchanged(t, "a promotion without a smoke test", before)

	// An unsigned image written into inttest by hand is refused by its
	// signature, whatever else it shows.
	unsigned := c.careplan.pushUnsigned(t, "ehealth/careplan:2.4.1")
	commitByHand(t, c.repo, "master", "inttest/dsf.yaml", "careplan 2.4.1, hot off the laptop", func(dsf string) string {
		return strings.ReplaceAll(strings.ReplaceAll(dsf, c.cp.hex(), strings.TrimPrefix(unsigned, "sha256:")), `"2.4.0`, `"2.4.1`)
	})
	before = c.snapshot(t)
	if r, _ := c.sara.promote(t, "--from", "inttest"); r.code != 1 || !strings.Contains(r.stderr, "gate signed for careplan") || !strings.Contains(r.stderr, unsigned) {
		t.Errorf("promote an unsigned digest: exit %d, want 1 naming the signed gate and %s\n%s", r.code, unsigned, r.stderr)
	}
	c.unchanged(t, "a promotion of an unsigned digest", before)
	c.careplan.deploy(t, c.cp.result, "inttest")

	// Evidence about the digest, but of another environment or app.
	c.careplan.smokeTestAs(t, "exttest", "careplan", c.cp.result)
	c.careplan.smokeTestAs(t, "inttest", "questionnaire", c.cp.result)
	before = c.snapshot(t)
	r, _ = c.sara.promote(t, "--from", "inttest")
	if r.code != 1 || !strings.Contains(r.stderr, "evidence of exttest") || !strings.Contains(r.stderr, "about app questionnaire, not careplan") {
		t.Errorf("promote with another environment's and another app's evidence: exit %d, want 1 naming both\n%s", r.code, r.stderr)
	}
	c.unchanged(t, "a promotion with evidence of another environment or app", before)

	c.careplan.smokeTest(t, "inttest", c.cp.result)
	tested := time.Now()

	// Who promotes is GitLab's answer for the job token: mallory is not in
	// sre, however GITLAB_USER_LOGIN reads.
	before = c.snapshot(t)
	mallory := c.careplan.as("mallory").with("GITLAB_USER_LOGIN=sara")
	if r, _ := mallory.promote(t, "--from", "inttest"); r.code != 1 || !strings.Contains(r.stderr, "user mallory (from GitLab job token)") || !strings.Contains(r.stderr, "group:sre") {
		t.Errorf("promote by mallory: exit %d, want 1 naming mallory and group:sre\n%s", r.code, r.stderr)
	}
	c.unchanged(t, "a promotion by mallory", before)

	// A redeploy after the smoke test makes it stale: another build, then
	// this one again. Commit times count in seconds, so the redeploy waits
	// for the second after the test.
	waitPastSecondOf(tested)
	c.careplan.deploy(t, c.older.result, "inttest")
	c.careplan.deploy(t, c.cp.result, "inttest")
	before = c.snapshot(t)
	if r, _ := c.sara.promote(t, "--from", "inttest"); r.code != 1 || !strings.Contains(r.stderr, "before the last deploy to inttest") {
		t.Errorf("promote with a stale smoke test: exit %d, want 1 saying it ran before the last deploy\n%s", r.code, r.stderr)
	}
	c.unchanged(t, "a promotion with a stale smoke test", before)
	c.careplan.smokeTest(t, "inttest", c.cp.result)
}

// jobFailures: the gates pass, but the promotion job fails, its queue item
// is cancelled, or the inner stepper refuses the build's user. The outer
// run exits 1 each time and nothing lands.
func (c *internalChain) jobFailures(t *testing.T) {
	c.agent.AddJob(exttestJob, testenv.FakeJob{Run: func(_ context.Context, _ *testenv.FakeBuild, log io.Writer) string {
		fmt.Fprintln(log, "ERROR: agent ehealth-agent-3 went offline during the build")
		return "FAILURE"
	}})
	before := c.snapshot(t)
	if r, _ := c.sara.promote(t, "--from", "inttest"); r.code != 1 || !strings.Contains(r.stderr, "FAILURE") || !strings.Contains(r.stderr, "went offline") {
		t.Errorf("promote through a failing job: exit %d, want 1 with the job's result and console\n%s", r.code, r.stderr)
	}
	if b := c.agent.Builds(exttestJob); len(b) != 1 || b[0].Result != "FAILURE" {
		t.Errorf("the failing job has builds %+v, want one FAILURE", b)
	}
	c.unchangedExceptBuilds(t, "a promotion through a failing job", before)

	c.agent.AddJob(exttestJob, testenv.FakeJob{Cancel: true})
	if r, _ := c.sara.promote(t, "--from", "inttest"); r.code != 1 || !strings.Contains(r.stderr, "cancel") {
		t.Errorf("promote through a cancelled queue item: exit %d, want 1 saying it was cancelled\n%s", r.code, r.stderr)
	}
	if b := c.agent.Builds(exttestJob); len(b) != 0 {
		t.Errorf("a cancelled queue item started %d builds", len(b))
	}
	c.unchangedExceptBuilds(t, "a promotion through a cancelled queue item", before)
	c.agent.addJobs()

	// A pipeline that claims an SRE member started it (BUILD_USER_ID, the
	// REQUESTED_BY parameter) does not make the build's user one: the inner
	// stepper asks Jenkins for the build's causes.
	c.agent.StartAs("mallory")
	c.agent.pipelineSets("BUILD_USER_ID=sara", "BUILD_USER=Sara")
	defer func() { c.agent.StartAs("sara"); c.agent.pipelineSets() }()
	if r, _ := c.sara.promote(t, "--from", "inttest"); r.code != 1 || !strings.Contains(r.stderr, "user mallory (from Jenkins build causes)") {
		t.Errorf("promote through a build mallory started: exit %d, want 1 with the inner refusal of mallory\n%s", r.code, r.stderr)
	}
	if b := c.agent.Builds(exttestJob); len(b) != 1 || b[0].Result != "FAILURE" || b[0].Params["REQUESTED_BY"] != "sara" {
		t.Errorf("the spoofed build: %+v, want one FAILURE requested by sara", b)
	}
	c.unchangedExceptBuilds(t, "a promotion through a build mallory started", before)
}

// intoExttest: the outer run triggers the job and follows it; the inner one
// commits to master. exttest keeps its own host, secret, size and feature
// flag.
func (c *internalChain) intoExttest(t *testing.T) {
	before := c.snapshot(t)
	r, res := c.sara.promote(t, "--from", "inttest")
	if r.code != 0 {
		t.Fatalf("promote careplan inttest → exttest: exit %d\n%s", r.code, r.stderr)
	}
	b := c.agent.last(t, exttestJob)
	if b.Result != "SUCCESS" || !maps.Equal(b.Params, map[string]string{
		"APP": "careplan", "DIGEST": c.cp.digest, "FROM": "inttest", "TO": "exttest", "HOTFIX": "false",
		"REQUESTED_BY": "sara", "ENVIRONMENT": "exttest",
	}) {
		t.Errorf("the promotion build: %s with %v", b.Result, b.Params)
	}
	if !strings.Contains(r.stderr, "+ stepper promote -c") || !strings.Contains(r.stderr, "Finished: SUCCESS") {
		t.Errorf("the outer run did not follow the job's console:\n%s", r.stderr)
	}
	if res.Outputs["jenkins-build"] != b.URL || res.Outputs["promoted-by"] != "sara" || res.Digest != c.cp.digest {
		t.Errorf("result outputs %v digest %s, want build %s by sara of %s", res.Outputs, res.Digest, b.URL, c.cp.digest)
	}
	if !strings.Contains(b.Description, "Promotion inttest → exttest by sara (Jenkins build causes)") || !strings.Contains(b.Description, "smoke-tested") {
		t.Errorf("build description:\n%s", b.Description)
	}
	head := c.landedOn(t, "master", before, "exttest/dsf.yaml")
	assertContains(t, "the exttest commit", gitOut(t, c.repo.Dir, "log", "-1", "--format=%B", head),
		"promote careplan from inttest to exttest: "+c.cp.hex()[:12], "Stepper-Action: promote", "Stepper-App: careplan",
		"Stepper-Env: exttest", "Stepper-From: inttest", "Stepper-Digest: "+c.cp.digest, "Stepper-Actor: sara",
		"Stepper-Pipeline: "+b.URL, "Stepper-Evidence: ")
	ext, _ := c.repo.ReadFile("master", "exttest/dsf.yaml")
	assertContains(t, "exttest/dsf.yaml", ext, c.cp.hex(), "careplan.exttest.ehealth.example", "careplan-db-exttest",
		`image.tag: "1.0.0"`, `env.JAVA_OPTS: "-Xms512m -Xmx$MAX_HEAP" # $MAX_HEAP from the job`)

	c.questionnaire.smokeTest(t, "inttest", c.qn.result)
	if r, _ := c.questionnaire.as("sara").promote(t, "--from", "inttest"); r.code != 0 {
		t.Fatalf("promote questionnaire inttest → exttest: exit %d\n%s", r.code, r.stderr)
	}
	ext, _ = c.repo.ReadFile("master", "exttest/dsf.yaml")
	assertContains(t, "exttest/dsf.yaml", ext, c.qn.hex(), "adaptiveScoring: false # switched per environment", "replicaCount: 2")
}

// intoPreprod: --dry-run shows the gates and the diff; each promotion is a
// commit on master and the one merge request from master into prod, which
// a second promotion updates; --wait reports the merge. prod, which
// preprod rolls from, moves only with the merge.
func (c *internalChain) intoPreprod(t *testing.T) {
	c.careplan.smokeTest(t, "exttest", c.cp.result)
	c.questionnaire.smokeTest(t, "exttest", c.qn.result)
	before := c.snapshot(t)
	r, _ := c.sara.promote(t, "--from", "exttest", "--dry-run")
	if r.code != 0 || !strings.Contains(r.stdout, "smoke-tested careplan") || !strings.Contains(r.stdout, "+      image.tag:") || !strings.Contains(r.stdout, c.cp.hex()) {
		t.Errorf("promote --dry-run: exit %d, want 0 with the gates and the diff\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	c.unchanged(t, "a dry run", before)

	if r, _ := c.sara.promote(t, "--from", "exttest"); r.code != 0 {
		t.Fatalf("promote careplan exttest → preprod: exit %d\n%s", r.code, r.stderr)
	}
	c.landedOn(t, "master", before, "preprod/dsf.yaml")
	mr := c.theMergeRequest(t)
	assertContains(t, "the merge request's description", mr.Description, "promote **careplan** in preprod from exttest", c.cp.digest)
	for _, label := range []string{"stepper", "promotion", "env::preprod"} {
		if !slices.Contains(mr.Labels, label) {
			t.Errorf("merge request labels %v lack %s", mr.Labels, label)
		}
	}
	if !strings.Contains(mr.Description, "smoke") && !strings.Contains(mr.Description, "attestation") {
		t.Errorf("the merge request into prod shows no evidence for careplan:\n%s", mr.Description)
	}

	waiting := c.questionnaire.as("sara").startPromote(t, "--from", "exttest", "--wait", "--wait-timeout", "2m")
	waitUntil(t, "the merge request lists questionnaire's promotion", func() bool {
		return strings.Contains(c.theMergeRequest(t).Description, "promote **questionnaire** in preprod from exttest")
	})
	mr = c.theMergeRequest(t)
	assertContains(t, "the updated merge request", mr.Description, "promote **careplan** in preprod from exttest", "promote **questionnaire** in preprod from exttest", c.qn.digest)
	// A smoke test of preprod while the merge request is open tests what
	// preprod ran before: the release reaches it with the merge.
	c.careplan.smokeTest(t, "preprod", c.cp.result)
	waitPastSecondOf(time.Now())
	mergeAsGitLab(t, c.repo, "master", "prod")
	c.gitlab.EditMergeRequest(c.project, mr.IID, func(m *testenv.GitLabMergeRequest) {
		now := time.Now().UTC()
		m.State, m.MergedAt, m.MergeStatus, m.DetailedMergeStatus = "merged", &now, "can_be_merged", "not_open"
	})
	r, res := waiting()
	if r.code != 0 || !strings.Contains(r.stderr, "merged: preprod rolls the promotion") {
		t.Errorf("promote --wait: exit %d, want 0 reporting the merge\n%s", r.code, r.stderr)
	}
	var waited struct {
		MergeState string `json:"mergeRequestState"`
	}
	if err := remarshal(res.Details, &waited); err != nil || waited.MergeState != "merged" {
		t.Errorf("promote --wait records the merge request %q (%v)", waited.MergeState, err)
	}
	if n := len(c.gitlab.MergeRequests(c.project)); n != 1 {
		t.Errorf("%d merge requests into prod, want the one", n)
	}
	if r, _ := c.sara.promote(t, "--from", "preprod", "--dry-run"); r.code != 1 || !strings.Contains(r.stderr, "before the last deploy to preprod") {
		t.Errorf("promote preprod → prod on a smoke test from before the merge into prod: exit %d, want 1 calling it stale\n%s", r.code, r.stderr)
	}
}

// intoProd: --all carries both services through the prod job as one commit
// on prod.
func (c *internalChain) intoProd(t *testing.T) {
	c.careplan.smokeTest(t, "preprod", c.cp.result)
	c.questionnaire.smokeTest(t, "preprod", c.qn.result)
	before := c.snapshot(t)
	if r, _ := c.sara.promote(t, "--all", "--from", "preprod"); r.code != 0 {
		t.Fatalf("promote --all preprod → prod: exit %d\n%s", r.code, r.stderr)
	}
	b := c.agent.last(t, prodJob)
	if b.Result != "SUCCESS" || b.Params["ALL"] != "true" || b.Params["APP"] != "" || b.Params["ENVIRONMENT"] != "prod" {
		t.Errorf("the prod build: %s with %v, want ALL=true and no APP", b.Result, b.Params)
	}
	head := c.landedOn(t, "prod", before, "prod/dsf.yaml")
	msg := gitOut(t, c.repo.Dir, "log", "-1", "--format=%B", head)
	assertContains(t, "the prod commit", msg, "promote 2 apps from preprod to prod", "Stepper-App: careplan", "Stepper-Digest: "+c.cp.digest,
		"Stepper-App: questionnaire", "Stepper-Digest: "+c.qn.digest, "Stepper-Actor: sara")
	if n := strings.Count(msg, "Stepper-App: "); n != 2 {
		t.Errorf("the prod commit lists %d releases, want 2:\n%s", n, msg)
	}
}

// history: --history lists the promotions into exttest, newest first, as
// text and as JSON.
func (c *internalChain) history(t *testing.T) {
	r, _ := c.sara.promote(t, "--history", "--env", "exttest")
	if r.code != 0 || !strings.Contains(r.stdout, "TIME") || strings.Count(r.stdout, " inttest ") != 2 || !strings.Contains(r.stdout, "sara") {
		t.Errorf("promote --history: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r, _ = c.sara.promote(t, "--history", "--env", "exttest", "-o", "json")
	var hist struct{ Details []promote.Promotion }
	if err := json.Unmarshal([]byte(r.stdout), &hist); err != nil || len(hist.Details) != 2 {
		t.Fatalf("promote --history -o json: exit %d, %v\n%s", r.code, err, r.stdout)
	}
	for _, p := range hist.Details {
		if p.From != "inttest" || p.Actor != "sara" || len(p.Evidence) == 0 || !strings.HasPrefix(p.Run, c.agent.URL) {
			t.Errorf("history entry %+v: want from inttest by sara through the job, with evidence", p)
		}
	}
	if hist.Details[0].App != "questionnaire" || hist.Details[1].App != "careplan" {
		t.Errorf("history %s, %s: want the newest first", hist.Details[0].App, hist.Details[1].App)
	}
}

// promoteVendorChain: the vendor's patient-api goes devenvcgi → exttest →
// preprod → prod. The SRE group does not approve vendors' releases (seed
// 001): the vendor names its own promoters, and an SRE member outside them
// is refused.
func promoteVendorChain(t *testing.T, s *sample, repo *testenv.Repo, gitlab *testenv.FakeGitLab, agent *promotionAgent, built, base string) {
	vendor := *s
	vendor.file = filepath.Join(s.dir, "vendor-promoters.yaml")
	text := string(mustRead(t, s.file))
	for env, line := range map[string]string{
		"exttest": "    chainPromoters: &release-managers {vendor: [group:vendor-x/release]}",
		"preprod": "    chainPromoters: *release-managers",
		"prod":    "    chainPromoters: *release-managers",
	} {
		item := "  - name: " + env + "\n"
		if strings.Count(text, item) != 1 {
			t.Fatalf("%s has no environment %s", s.file, env)
		}
		text = strings.Replace(text, item, item+line+"\n", 1)
	}
	if err := os.WriteFile(vendor.file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	agent.checkout(vendor.file)
	agent.StartAs("victor")
	w := &ehealthWorld{repo: repo, gitlab: gitlab, project: "vendor-x/desired-state", agent: agent, s: s, images: []string{"vendor-x/patient-api"}}

	vendor.previousBuild(t, base, "1.4.0") // exttest's
	vendor.previousBuild(t, base, "1.3.2") // preprod's and prod's
	vendor.validateAttest(t, built)
	vendor.smokeTest(t, "devenvcgi", built)
	before := w.snapshot(t)
	if r, _ := vendor.as("sara").promote(t, "--from", "devenvcgi"); r.code != 1 || !strings.Contains(r.stderr, "user sara") || !strings.Contains(r.stderr, "group:vendor-x/release") {
		t.Errorf("promote by sara on the vendor chain: exit %d, want 1 naming sara and the vendor's group\n%s", r.code, r.stderr)
	}
	w.unchanged(t, "a promotion by sara on the vendor chain", before)

	victor := vendor.as("victor")
	if r, _ := victor.promote(t, "--from", "devenvcgi"); r.code != 0 {
		t.Fatalf("promote devenvcgi → exttest by victor: exit %d\n%s", r.code, r.stderr)
	}
	head := w.landedOn(t, "master", before, "exttest/dsf.yaml")
	assertContains(t, "the vendor's exttest commit", gitOut(t, repo.Dir, "log", "-1", "--format=%B", head),
		"Stepper-From: devenvcgi", "Stepper-Actor: victor", "Stepper-Digest: "+s.digest)

	vendor.smokeTest(t, "exttest", built)
	before = w.snapshot(t)
	if r, _ := victor.promote(t, "--from", "exttest"); r.code != 0 {
		t.Fatalf("promote exttest → preprod by victor: exit %d\n%s", r.code, r.stderr)
	}
	w.landedOn(t, "master", before, "preprod/dsf.yaml")
	mr := w.theMergeRequest(t)
	assertContains(t, "the vendor's merge request", mr.Description, "patient-api", s.digest)
	mergeAsGitLab(t, repo, "master", "prod")
	gitlab.EditMergeRequest(w.project, mr.IID, func(m *testenv.GitLabMergeRequest) { m.State = "merged" })

	vendor.smokeTest(t, "preprod", built)
	before = w.snapshot(t)
	if r, _ := victor.promote(t, "--from", "preprod"); r.code != 0 {
		t.Fatalf("promote preprod → prod by victor: exit %d\n%s", r.code, r.stderr)
	}
	head = w.landedOn(t, "prod", before, "prod/dsf.yaml")
	assertContains(t, "the vendor's prod commit", gitOut(t, repo.Dir, "log", "-1", "--format=%B", head),
		"Stepper-From: preprod", "Stepper-Env: prod", "Stepper-Actor: victor", "Stepper-Digest: "+s.digest)
	prod, _ := repo.ReadFile("prod", "prod/dsf.yaml")
	assertContains(t, "the vendor's prod/dsf.yaml", prod, strings.TrimPrefix(s.digest, "sha256:"), "patients.vendor-x.ehealth.example",
		"replicaCount: 4", `env.JAVA_OPTS: "-Xms256m -Xmx$MAX_HEAP" # $MAX_HEAP from the job`, `image.tag: "1.9"`)
}

// ehealthChartsURL is the platform's chart repository, which the
// desired-state files name in helmRepos.
const ehealthChartsURL = "https://registry.admin.ehealth.sundhed.dk/chartrepo/ehealth"

// ehealthCharts stands in for the platform's chart repository: the
// official charts the seeds' apps run, packaged with the helm CLI, indexed
// and served over HTTP. The rollback gate asks it whether a chart version
// can still be installed.
func ehealthCharts(t *testing.T) string {
	t.Helper()
	helm := testenv.RequireTool(t, "helm")
	dir := t.TempDir()
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(srv.Close)
	src, _ := filepath.Abs(filepath.Join("..", "..", "testdata", "validate", "charts", "patient-api"))
	for chart, version := range map[string]string{"ehealth-spring-boot": "3.2.0", "ehealth-nginx": "1.8.0"} {
		c := copyChart(t, src)
		setChartField(t, c, "name", chart)
		setChartField(t, c, "version", version)
		if out, err := exec.Command(helm, "package", c, "-d", dir).CombinedOutput(); err != nil {
			t.Fatalf("helm package %s: %v\n%s", chart, err, out)
		}
	}
	if out, err := exec.Command(helm, "repo", "index", dir, "--url", srv.URL).CombinedOutput(); err != nil {
		t.Fatalf("helm repo index: %v\n%s", err, out)
	}
	return srv.URL
}

// project is the sample as the CI of another project of the same team: its
// app, with the same configuration, registry and keys.
func (s *sample) project(app string) *sample {
	p := s.with("CI_PROJECT_NAME="+app, "CI_PROJECT_URL=https://gitlab.example.test/ehealth/"+app,
		"CI_PIPELINE_URL=https://gitlab.example.test/ehealth/"+app+"/-/pipelines/7")
	p.app = app
	return p
}

// as is the sample's CI job started by user: GitLab answers user for its
// job token.
func (s *sample) as(user string) *sample {
	return s.with("CI_JOB_TOKEN=test-only-job-token-" + user)
}

// with is a copy of the sample whose environment has the variables kv
// (NAME=value) instead of its own of those names.
func (s *sample) with(kv ...string) *sample {
	c := *s
	c.env = slices.DeleteFunc(slices.Clone(s.env), func(e string) bool {
		return slices.ContainsFunc(kv, func(v string) bool { return envName(v) == envName(e) })
	})
	c.env = append(c.env, kv...)
	return &c
}

func envName(kv string) string {
	k, _, _ := strings.Cut(kv, "=")
	return k
}

// ehealthBuild is one signed build of an app.
type ehealthBuild struct {
	of             *sample
	result, digest string
}

func (b ehealthBuild) hex() string { return strings.TrimPrefix(b.digest, "sha256:") }

// release builds, signs and pushes the project's app under tag; a layer
// with the app and tag gives every build a digest of its own.
func (s *sample) release(t *testing.T, base, tag string) ehealthBuild {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "VERSION"), []byte(s.app+" "+tag+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	result := s.buildSignPush(t, base, "--tag", tag, "--layer", dir+":/version")
	return ehealthBuild{of: s, result: result, digest: s.digest}
}

// pushUnsigned pushes an image to repoTag ("project/app:tag") of the
// sample's registry past build-sign-push: nothing signs it. It returns its
// digest.
func (s *sample) pushUnsigned(t *testing.T, repoTag string) string {
	t.Helper()
	img, err := testenv.BaseImage()
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.Annotations(img, map[string]string{"org.opencontainers.image.ref.name": repoTag}).(v1.Image)
	ref, err := name.NewTag(s.host+"/"+repoTag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithContext(t.Context()), remote.WithAuth(s.auth())); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	return d.String()
}

// smokeTestAs runs the smoke test of built against a local app, with signed
// evidence that names env and app, whatever they run.
func (s *sample) smokeTestAs(t *testing.T, env, app, built string) {
	t.Helper()
	r := s.stepper(t, "smoke-test", "-c", s.file, "--log-format", "json", "--env", env, "--app", app, "--url", runSmokeApp(t),
		"--no-wait", "--soak", "0", "--from-result", built)
	if r.code != 0 {
		t.Fatalf("smoke-test --env %s --app %s: exit %d\n%s", env, app, r.code, r.stderr)
	}
}

// startPromote runs stepper promote in the background; the function it
// returns waits for the run and returns it with its result.
func (s *sample) startPromote(t *testing.T, args ...string) func() (run, *report.Result) {
	t.Helper()
	result := filepath.Join(t.TempDir(), "promote.json")
	cmd := exec.CommandContext(t.Context(), s.bin, append([]string{"promote", "-c", s.file, "--log-format", "json", "--result", result}, args...)...)
	cmd.Env, cmd.Dir = s.env, t.TempDir()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return func() (run, *report.Result) {
		t.Helper()
		err := cmd.Wait()
		var exitErr *exec.ExitError
		if err != nil && !errors.As(err, &exitErr) {
			t.Fatal(err)
		}
		res, err := report.ReadJSON(result)
		if err != nil {
			t.Fatalf("promote %v: no result file (exit %d): %v\n%s", args, cmd.ProcessState.ExitCode(), err, stderr.String())
		}
		return run{cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()}, res
	}
}

// promotionAgent is the platform's Jenkins with its promotion jobs. Their
// pipeline runs the stepper binary on an agent, as the platform's
// Jenkinsfile does: the build's parameters become its flags, the console
// gets its output and the exit code makes the result. The agent is a
// Jenkins machine: JENKINS_URL, BUILD_URL and JOB_NAME are set, and there
// is no GitLab job token.
type promotionAgent struct {
	*testenv.FakeJenkins
	bin, home, workspace string
	env                  []string

	mu       sync.Mutex
	config   string   // the team's stepper.yaml the job checks out
	pipeline []string // variables the pipeline itself sets
}

// startPromotionAgent adds the promotion jobs to jenkins. The agent has the
// platform file and the platform's credentials (registry, GitLab API for
// group membership, Jenkins), none of the vendor's signing key.
func startPromotionAgent(t *testing.T, s *sample, jenkins *testenv.FakeJenkins) *promotionAgent {
	a := &promotionAgent{FakeJenkins: jenkins, bin: s.bin, home: t.TempDir(), workspace: t.TempDir()}
	for _, kv := range s.env {
		if k := envName(kv); k == "PATH" || k == "GITLAB_TOKEN" || strings.HasPrefix(k, "STEPPER_") || strings.HasPrefix(k, "HARBOR_") || strings.HasPrefix(k, "JENKINS_") {
			a.env = append(a.env, kv)
		}
	}
	a.env = append(a.env, "HOME="+a.home)
	a.addJobs()
	return a
}

// addJobs (re)creates both promotion jobs as the platform configures them.
func (a *promotionAgent) addJobs() {
	for _, job := range []string{exttestJob, prodJob} {
		a.AddJob(job, testenv.FakeJob{Run: func(ctx context.Context, b *testenv.FakeBuild, log io.Writer) string {
			return a.promote(ctx, job, b, log)
		}})
	}
}

// checkout makes config the stepper.yaml the jobs' workspace holds.
func (a *promotionAgent) checkout(config string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.config = config
}

// pipelineSets makes the pipeline set kv (NAME=value) for the builds from
// now on, as an edited Jenkinsfile or a replay can.
func (a *promotionAgent) pipelineSets(kv ...string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.pipeline = kv
}

// promote is the job's pipeline: `stepper promote` with the build's
// parameters.
func (a *promotionAgent) promote(ctx context.Context, job string, b *testenv.FakeBuild, log io.Writer) string {
	a.mu.Lock()
	config, pipeline := a.config, a.pipeline
	a.mu.Unlock()
	p := b.Params
	args := []string{"promote", "-c", config, "--log-format", "json", "--from", p["FROM"], "--to", p["TO"]}
	if p["ALL"] == "true" {
		args = append(args, "--all")
	} else {
		args = append(args, "--app", p["APP"], "--digest", p["DIGEST"])
	}
	if p["HOTFIX"] == "true" {
		args = append(args, "--hotfix")
	}
	fmt.Fprintf(log, "+ stepper %s\n", strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, a.bin, args...)
	cmd.Env = append(slices.Clone(a.env), "JENKINS_URL="+a.URL+"/", "BUILD_URL="+b.URL, "JOB_NAME="+job,
		"BUILD_NUMBER="+strconv.Itoa(b.Number), "WORKSPACE="+a.workspace)
	cmd.Env = append(cmd.Env, pipeline...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = a.workspace, log, log
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(log, "ERROR: stepper promote: %v\n", err)
		return "FAILURE"
	}
	return "SUCCESS"
}

// last is the job's newest build.
func (a *promotionAgent) last(t *testing.T, job string) testenv.FakeBuild {
	t.Helper()
	builds := a.Builds(job)
	if len(builds) == 0 {
		t.Fatalf("no build of %s", job)
	}
	return builds[len(builds)-1]
}

// ehealthWorld is everything a promotion could change: the desired-state
// branches, the merge requests, the Jenkins builds and the image tags.
type ehealthWorld struct {
	repo    *testenv.Repo
	gitlab  *testenv.FakeGitLab
	project string
	agent   *promotionAgent
	s       *sample
	images  []string // the apps' image repositories
}

type worldState struct {
	heads  map[string]string
	mrs    []testenv.GitLabMergeRequest
	builds map[string]int
	tags   map[string][]string
}

func (w *ehealthWorld) snapshot(t *testing.T) worldState {
	t.Helper()
	st := worldState{heads: map[string]string{}, builds: map[string]int{}, tags: map[string][]string{}}
	for _, b := range []string{"master", "prod"} {
		st.heads[b], _ = w.repo.Rev(b)
	}
	for _, line := range strings.Fields(gitOut(t, w.repo.Dir, "for-each-ref", "--format=%(refname:short)", "refs/heads")) {
		if _, ok := st.heads[line]; !ok {
			st.heads[line], _ = w.repo.Rev(line)
		}
	}
	st.mrs = w.gitlab.MergeRequests(w.project)
	for _, job := range []string{exttestJob, prodJob} {
		st.builds[job] = len(w.agent.Builds(job))
	}
	for _, app := range w.images {
		repo, err := name.NewRepository(w.s.host+"/"+app, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		tags, err := remote.List(repo, remote.WithContext(t.Context()), remote.WithAuth(w.s.auth()))
		if err != nil {
			t.Fatal(err)
		}
		st.tags[app] = tags
	}
	return st
}

// unchanged fails unless nothing changed since before.
func (w *ehealthWorld) unchanged(t *testing.T, what string, before worldState) {
	t.Helper()
	now := w.snapshot(t)
	if !maps.Equal(now.builds, before.builds) {
		t.Errorf("%s started Jenkins builds: %v, were %v", what, now.builds, before.builds)
	}
	w.unchangedExceptBuilds(t, what, before)
}

// unchangedExceptBuilds fails if a branch, a merge request or a tag changed
// since before.
func (w *ehealthWorld) unchangedExceptBuilds(t *testing.T, what string, before worldState) {
	t.Helper()
	now := w.snapshot(t)
	if !maps.Equal(now.heads, before.heads) {
		t.Errorf("%s moved branches: %v, were %v", what, now.heads, before.heads)
	}
	if len(now.mrs) != len(before.mrs) || !slices.EqualFunc(now.mrs, before.mrs, func(a, b testenv.GitLabMergeRequest) bool {
		return a.Description == b.Description && a.State == b.State && a.UpdatedAt.Equal(b.UpdatedAt)
	}) {
		t.Errorf("%s changed merge requests: %d now, %d before", what, len(now.mrs), len(before.mrs))
	}
	if !maps.EqualFunc(now.tags, before.tags, slices.Equal) {
		t.Errorf("%s changed image tags: %v, were %v", what, now.tags, before.tags)
	}
}

// landedOn checks that one commit on branch, touching path alone, is all
// that changed in the repository since before, and returns it.
func (w *ehealthWorld) landedOn(t *testing.T, branch string, before worldState, path string) string {
	t.Helper()
	now := w.snapshot(t)
	head := now.heads[branch]
	if head == before.heads[branch] {
		t.Fatalf("nothing landed on %s", branch)
	}
	if parent := strings.TrimSpace(gitOut(t, w.repo.Dir, "rev-parse", head+"^")); parent != before.heads[branch] {
		t.Errorf("%s moved by more than one commit", branch)
	}
	if changed := strings.Fields(gitOut(t, w.repo.Dir, "diff", "--name-only", before.heads[branch], head)); !slices.Equal(changed, []string{path}) {
		t.Errorf("the commit on %s touches %v, want [%s]", branch, changed, path)
	}
	for b, h := range now.heads {
		if b != branch && h != before.heads[b] {
			t.Errorf("branch %s moved too", b)
		}
	}
	return head
}

// theMergeRequest is the one merge request from master into prod.
func (w *ehealthWorld) theMergeRequest(t *testing.T) testenv.GitLabMergeRequest {
	t.Helper()
	mrs := w.gitlab.MergeRequests(w.project)
	if len(mrs) != 1 {
		t.Fatalf("%d merge requests in %s, want one", len(mrs), w.project)
	}
	if mr := mrs[0]; mr.SourceBranch != "master" || mr.TargetBranch != "prod" {
		t.Errorf("merge request %s → %s, want master → prod", mr.SourceBranch, mr.TargetBranch)
	}
	return mrs[0]
}

// commitByHand changes path on branch as a person does in GitLab's web
// editor: one commit without stepper's trailers.
func commitByHand(t *testing.T, repo *testenv.Repo, branch, path, message string, edit func(string) string) {
	t.Helper()
	work := cloneWork(t, repo, branch)
	file := filepath.Join(work, path)
	before := string(mustRead(t, file))
	after := edit(before)
	if after == before {
		t.Fatalf("the hand edit of %s changes nothing", path)
	}
	if err := os.WriteFile(file, []byte(after), 0o644); err != nil {
		t.Fatal(err)
	}
	gitOut(t, work, "commit", "--quiet", "--all", "--message", message)
	gitOut(t, work, "push", "--quiet", "origin", branch)
}

// mergeAsGitLab merges source into target with a merge commit, as GitLab
// does when a merge request is merged.
func mergeAsGitLab(t *testing.T, repo *testenv.Repo, source, target string) {
	t.Helper()
	work := cloneWork(t, repo, target)
	gitOut(t, work, "merge", "--quiet", "--no-ff", "--message", fmt.Sprintf("Merge branch '%s' into '%s'", source, target), "origin/"+source)
	gitOut(t, work, "push", "--quiet", "origin", target)
}

func cloneWork(t *testing.T, repo *testenv.Repo, branch string) string {
	t.Helper()
	work := filepath.Join(t.TempDir(), "work")
	gitOut(t, t.TempDir(), "clone", "--quiet", "--branch", branch, repo.Dir, work)
	gitOut(t, work, "config", "user.name", "Sara SRE")
	gitOut(t, work, "config", "user.email", "sara@ehealth.example")
	gitOut(t, work, "config", "commit.gpgsign", "false")
	return work
}

// waitPastSecondOf waits until the clock is in a later second than t:
// commit times count in whole seconds.
func waitPastSecondOf(t time.Time) {
	for time.Now().Unix() <= t.Unix() {
		time.Sleep(20 * time.Millisecond)
	}
}

// waitUntil polls cond until it holds, for at most two minutes.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func assertContains(t *testing.T, what, text string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, text)
		}
	}
}

// remarshal decodes v, as decoded from JSON into any, into out.
func remarshal(v, out any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}
