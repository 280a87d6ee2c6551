package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stepper-cd/stepper/internal/report"
	"github.com/stepper-cd/stepper/internal/testenv"
)

// promoteGov: the government platform's chain dev → qa → prod (seed 004),
// where a release is a merged merge request on a deployment repository.
// qa lives beside dev in hocs/deploy-notprod; prod has a repository of its
// own, hocs/deploy-prod, which only release managers merge into. Every
// promotion writes one branch of its own and opens a merge request from it
// into main; main is never written, since every commit there releases.
// The test merges as GitLab would: a merge commit on main, the merge
// request marked merged.
func promoteGov(t *testing.T, s *sample, notprod *testenv.Repo, gitlab *testenv.FakeGitLab, charts, built, base string) {
	g := newGovChain(t, s, notprod, gitlab, charts)
	first := s.digest

	// The release reaches dev when its merge request is merged.
	g.merge(t, govNotprod, g.onlyMR(t, govNotprod, "stepper/dev/"+s.app+"-"+shortDigest(first)))
	s.validateAttest(t, built)
	s.smokeTest(t, "dev", built)

	// Refusals that change nothing: not a branch, not a merge request.
	g.as(govReleaseManager)
	g.refused(t, "dev → prod skips qa", []string{"the chain goes dev → qa"}, "--app", s.app, "--from", "dev", "--to", "prod")
	// A spoofed GITLAB_USER_LOGIN (a qa member's) does not make mallory one.
	g.as(govOutsider, "GITLAB_USER_LOGIN="+govQAMember)
	g.refused(t, "mallory posing as quinn", []string{"user mallory (from GitLab job token)", "group:hocs-qa"}, "--app", s.app, "--from", "dev")
	// qa runs 3.1.0, which is not in the registry: a rollback would have
	// nowhere to go.
	g.as(govQAMember)
	g.refused(t, "qa's rollback target unresolvable", []string{"gate rollback", "rollback target", ":3.1.0 does not resolve"}, "--app", s.app, "--from", "dev")
	s.previousBuild(t, base, "3.1.0")

	// --dry-run runs every gate and prints the diff it would propose.
	before := g.snapshot(t)
	r, res := s.promote(t, "--app", s.app, "--from", "dev", "--dry-run")
	if r.code != 0 || !strings.Contains(r.stdout, "+++ b/environments/qa/versions.yaml") || !strings.Contains(r.stdout, `+  casework: "3.3.0"`) {
		t.Fatalf("promote --dry-run: exit %d, want 0 and the diff of environments/qa/versions.yaml\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	g.assertGatesPassed(t, res)
	g.unchanged(t, before, "promote --dry-run")

	// dev → qa: a branch of its own in hocs/deploy-notprod and a merge
	// request from it into main, with the evidence.
	qaBranch := "stepper/qa/promote-" + s.app + "-" + shortDigest(first)
	qaMain := g.rev(t, notprod, "main")
	r, res = s.promote(t, "--app", s.app, "--from", "dev")
	if r.code != 0 {
		t.Fatalf("promote dev → qa: exit %d\n%s", r.code, r.stderr)
	}
	if g.rev(t, notprod, "main") != qaMain {
		t.Fatal("promote dev → qa wrote main, whose every commit releases")
	}
	head := g.rev(t, notprod, qaBranch)
	g.assertRelease(t, notprod, qaMain, head, "qa", first, "3.3.0", map[string][]string{
		"environments/qa/values/common.yaml": {"replicaCount: 2"},
		"environments/qa/settings.yaml":      {"domain: qa.hocs.example"},
	})
	qaMR := g.onlyMR(t, govNotprod, qaBranch)
	g.assertPromotionMR(t, qaMR, "qa", "opened", first)
	g.assertGatesPassed(t, res)
	if res.Outputs["promoted-by"] != govQAMember || res.Outputs["merge-request"] != qaMR.WebURL || res.Outputs["branch"] != qaBranch {
		t.Errorf("result: promoted-by %q, merge-request %q, branch %q", res.Outputs["promoted-by"], res.Outputs["merge-request"], res.Outputs["branch"])
	}

	// The same promotion again makes sure of the same merge request.
	if r, _ := s.promote(t, "--app", s.app, "--from", "dev"); r.code != 0 {
		t.Fatalf("promote dev → qa again: exit %d\n%s", r.code, r.stderr)
	}
	if again := g.onlyMR(t, govNotprod, qaBranch); again.IID != qaMR.IID || again.State != "opened" {
		t.Errorf("the repeated promotion left !%d (%s), want !%d open", again.IID, again.State, qaMR.IID)
	}
	if now := g.rev(t, notprod, qaBranch); now != head {
		t.Errorf("the repeated promotion moved %s: %s -> %s", qaBranch, head, now)
	}

	// Another build passes dev while that merge request is open. A merge
	// request of its own branch carries one release, so the second
	// release gets a second one, and the first is left as it was.
	built2, second := g.nextBuild(t, base, "3.3.1")
	s.validateAttest(t, built2)
	s.deploy(t, built2, "dev")
	g.merge(t, govNotprod, g.onlyMR(t, govNotprod, "stepper/dev/"+s.app+"-"+shortDigest(second)))
	s.smokeTest(t, "dev", built2)
	if r, _ := s.promote(t, "--app", s.app, "--from", "dev"); r.code != 0 {
		t.Fatalf("promote the second build dev → qa: exit %d\n%s", r.code, r.stderr)
	}
	qaMR2 := g.onlyMR(t, govNotprod, "stepper/qa/promote-"+s.app+"-"+shortDigest(second))
	g.assertPromotionMR(t, qaMR2, "qa", "opened", second)
	if now := g.onlyMR(t, govNotprod, qaBranch); now.State != "opened" || now.Description != qaMR.Description || g.rev(t, notprod, qaBranch) != head {
		t.Errorf("the second release's promotion changed the first's merge request !%d (%s) or branch", now.IID, now.State)
	}

	// The qa release managers merge the first; it is smoke-tested in qa.
	g.merge(t, govNotprod, g.onlyMR(t, govNotprod, qaBranch))
	s.smokeTest(t, "qa", built)

	// qa → prod: only a release manager may, and only with a way back.
	g.as(govQAMember)
	g.refused(t, "quinn into prod", []string{"user quinn (from GitLab job token)", "group:hocs-release-managers"}, "--app", s.app, "--from", "qa")
	g.as(govReleaseManager)
	g.refused(t, "prod's rollback target unresolvable", []string{"gate rollback", "rollback target", ":3.0.4 does not resolve"}, "--app", s.app, "--from", "qa")
	s.previousBuild(t, base, "3.0.4")

	// The merge request goes into main of the second repository. Closed
	// without merging, --wait fails and nothing reaches prod. (stepper
	// asks GitLab every 10s, so each wait below takes up to one interval.)
	prodBranch := "stepper/prod/promote-" + s.app + "-" + shortDigest(first)
	prodMain := g.rev(t, g.prod, "main")
	notprodMRs := len(gitlab.MergeRequests(govNotprod))
	closed := g.settle(t, govProd, 0, "closed")
	r, res = s.promote(t, "--app", s.app, "--from", "qa", "--wait")
	mr, ok := closed()
	if !ok {
		t.Fatalf("promote qa → prod --wait opened no merge request in %s: exit %d\n%s", govProd, r.code, r.stderr)
	}
	if r.code != 1 || !strings.Contains(r.stderr, "the merge request "+mr.WebURL+" was closed without being merged: nothing was promoted into prod") {
		t.Errorf("promote --wait, closed: exit %d, want 1 saying it was closed without being merged\n%s", r.code, r.stderr)
	}
	if res.Outputs["merge-request"] != mr.WebURL || mr.SourceBranch != prodBranch || mr.TargetBranch != "main" {
		t.Errorf("the prod merge request %s: %s -> %s, result names %q", mr.WebURL, mr.SourceBranch, mr.TargetBranch, res.Outputs["merge-request"])
	}
	if n := len(gitlab.MergeRequests(govNotprod)); n != notprodMRs {
		t.Errorf("the promotion into prod opened a merge request in %s", govNotprod)
	}
	head = g.rev(t, g.prod, prodBranch)
	g.assertRelease(t, g.prod, prodMain, head, "prod", first, "3.3.0", map[string][]string{
		"environments/prod/values/common.yaml":        {"replicaCount: 3", "minAvailable: 2"},
		"environments/prod/settings.yaml":             {"domain: hocs.homeoffice.gov.example"},
		"environments/prod/values/hocs-casework.yaml": {"database: hocs-casework-prod-db", "notify: hocs-notify-prod-api-key", `FEE_FORMAT: "$#,##0.00"`, `RETENTION_YEARS: "07"`, `cpu: "0.5"`, "livenessProbe: *probe", "<<: *probe"},
		"helmfile.yaml.gotmpl":                        {"tag: {{ .Values.versions.casework | quote }}", "host: casework.{{ .Values.domain }}"},
	})

	// Asked again and merged this time: --wait reports it merged.
	merged := g.settle(t, govProd, 1, "merged")
	r, res = s.promote(t, "--app", s.app, "--from", "qa", "--wait")
	if mr, ok = merged(); !ok {
		t.Fatalf("promote qa → prod --wait again opened no merge request in %s: exit %d\n%s", govProd, r.code, r.stderr)
	}
	if r.code != 0 || !strings.Contains(r.stderr, "merged: prod rolls the promotion") {
		t.Fatalf("promote --wait, merged: exit %d\n%s", r.code, r.stderr)
	}
	g.assertPromotionMR(t, mr, "prod", "merged", first)
	if mr.SourceBranch != prodBranch || g.rev(t, g.prod, prodBranch) != head {
		t.Errorf("the second prod merge request is from %s, want the same branch %s unchanged", mr.SourceBranch, prodBranch)
	}
	if st := promotionState(t, res); st != "merged" || res.Outputs["promoted-by"] != govReleaseManager {
		t.Errorf("result: merge request %q, promoted by %q", st, res.Outputs["promoted-by"])
	}
	if g.rev(t, g.prod, "main") != prodMain {
		t.Error("promote qa → prod wrote main of " + govProd + ", whose every commit releases")
	}
	g.mergeBranch(t, g.prod, mr)
	if h := s.stepper(t, "promote", "-c", s.file, "--history", "--env", "prod", "--app", s.app); h.code != 0 ||
		!strings.Contains(h.stdout, govReleaseManager) || !strings.Contains(h.stdout, shortDigest(first)) {
		t.Errorf("promote --history --env prod: exit %d\n%s\n%s", h.code, h.stdout, h.stderr)
	}
}

const (
	govNotprod = "hocs/deploy-notprod"
	govProd    = "hocs/deploy-prod"

	govQAMember       = "quinn"   // hocs-qa
	govReleaseManager = "rita"    // hocs-release-managers
	govOutsider       = "mallory" // neither
)

// govChain is the government sample's promotion setting: the second
// deployment repository, who is in which group, and each user's job token.
type govChain struct {
	s       *sample
	gitlab  *testenv.FakeGitLab
	notprod *testenv.Repo
	prod    *testenv.Repo
	env     []string // the sample's environment, without a job token
}

func newGovChain(t *testing.T, s *sample, notprod *testenv.Repo, gitlab *testenv.FakeGitLab, charts string) *govChain {
	t.Helper()
	gitlab.AddProject(govProd)
	prod := s.repo(t, govProd, "gov/deploy-prod", sampleSwaps{{"registry.gov.example", s.host}, {govChartsURL, charts}})
	gitOut(t, prod.Dir, "branch", "-m", "master", "main")
	gitOut(t, prod.Dir, "symbolic-ref", "HEAD", "refs/heads/main")
	gitlab.AddGroup("hocs-qa", govQAMember)
	gitlab.AddGroup("hocs-release-managers", govReleaseManager)
	gitlab.AddUser(govOutsider)
	for _, u := range []string{govQAMember, govReleaseManager, govOutsider} {
		gitlab.AddJobToken("test-only-job-token-"+u, u)
	}
	return &govChain{s: s, gitlab: gitlab, notprod: notprod, prod: prod, env: slices.Clone(s.env)}
}

// as runs the next stepper commands in a GitLab CI job started by user,
// with extra variables.
func (g *govChain) as(user string, extra ...string) {
	g.s.env = append(append(slices.Clone(g.env), "CI_JOB_TOKEN=test-only-job-token-"+user), extra...)
}

func (g *govChain) rev(t *testing.T, repo *testenv.Repo, ref string) string {
	t.Helper()
	sha, err := repo.Rev(ref)
	if err != nil {
		t.Fatalf("%v\nbranches:\n%s", err, gitOut(t, repo.Dir, "branch", "--list"))
	}
	return sha
}

// merge merges the merge request as GitLab does by default, and marks it
// merged.
func (g *govChain) merge(t *testing.T, project string, mr testenv.GitLabMergeRequest) {
	t.Helper()
	repo := g.notprod
	if project == govProd {
		repo = g.prod
	}
	g.mergeBranch(t, repo, mr)
	if !g.gitlab.EditMergeRequest(project, mr.IID, func(m *testenv.GitLabMergeRequest) {
		now := time.Now().UTC()
		m.State, m.MergedAt = "merged", &now
	}) {
		t.Fatalf("no merge request !%d in %s", mr.IID, project)
	}
}

// mergeBranch makes the merge commit of the merge request's source branch
// on its target branch, as GitLab's default merge method does.
func (g *govChain) mergeBranch(t *testing.T, repo *testenv.Repo, mr testenv.GitLabMergeRequest) {
	t.Helper()
	target, source := g.rev(t, repo, mr.TargetBranch), g.rev(t, repo, mr.SourceBranch)
	tree := strings.TrimSpace(gitOut(t, repo.Dir, "merge-tree", "--write-tree", target, source))
	msg := fmt.Sprintf("Merge branch '%s' into '%s'\n\n%s\n\nSee merge request !%d", mr.SourceBranch, mr.TargetBranch, mr.Title, mr.IID)
	merge := strings.TrimSpace(gitOut(t, repo.Dir, "-c", "user.name=GitLab", "-c", "user.email=gitlab@gov.example",
		"commit-tree", tree, "-p", target, "-p", source, "-m", msg))
	gitOut(t, repo.Dir, "update-ref", "refs/heads/"+mr.TargetBranch, merge, target)
}

// settle does to the next merge request opened in project, once there are
// more than known, what a person in GitLab would: state "merged" or
// "closed". Call the function it returns once the run is over: it stops
// looking and returns the merge request settled, if any.
func (g *govChain) settle(t *testing.T, project string, known int, state string) func() (testenv.GitLabMergeRequest, bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	out := make(chan testenv.GitLabMergeRequest, 1)
	go func() {
		defer close(out)
		for {
			if mrs := g.gitlab.MergeRequests(project); len(mrs) > known {
				mr := mrs[known]
				g.gitlab.EditMergeRequest(project, mr.IID, func(m *testenv.GitLabMergeRequest) {
					now := time.Now().UTC()
					m.State = state
					if state == "merged" {
						m.MergedAt = &now
					} else {
						m.ClosedAt = &now
					}
					mr = *m
				})
				out <- mr
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	return func() (testenv.GitLabMergeRequest, bool) {
		cancel()
		mr, ok := <-out
		return mr, ok
	}
}

// nextBuild builds, signs and pushes another build of the app under tag
// and returns its result file and digest; the sample's own build stays the
// one its fields describe.
func (g *govChain) nextBuild(t *testing.T, base, tag string) (built, digest string) {
	t.Helper()
	s := g.s
	saved, cur, ref := s.digest, s.tag, s.imageRef
	defer func() { s.digest, s.tag, s.imageRef = saved, cur, ref }()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "VERSION"), []byte(tag+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	built = s.buildSignPush(t, base, "--tag", tag, "--layer", dir+":/version")
	if s.digest == saved {
		t.Fatal("the next build has the same digest as the current one")
	}
	return built, s.digest
}

// govState is what a refused promotion must leave as it was: every branch
// of both deployment repositories and every merge request of both
// projects.
type govState struct {
	refs string
	mrs  []testenv.GitLabMergeRequest
}

func (g *govChain) snapshot(t *testing.T) govState {
	t.Helper()
	var st govState
	for _, repo := range []*testenv.Repo{g.notprod, g.prod} {
		st.refs += gitOut(t, repo.Dir, "for-each-ref", "--format=%(refname) %(objectname)")
	}
	st.mrs = append(g.gitlab.MergeRequests(govNotprod), g.gitlab.MergeRequests(govProd)...)
	return st
}

func (g *govChain) unchanged(t *testing.T, before govState, what string) {
	t.Helper()
	after := g.snapshot(t)
	if after.refs != before.refs {
		t.Errorf("%s moved branches:\nbefore:\n%s\nafter:\n%s", what, before.refs, after.refs)
	}
	if len(after.mrs) != len(before.mrs) {
		t.Errorf("%s left %d merge requests, want %d", what, len(after.mrs), len(before.mrs))
		return
	}
	for i, mr := range after.mrs {
		if b := before.mrs[i]; mr.IID != b.IID || mr.State != b.State || mr.Description != b.Description || mr.Title != b.Title {
			t.Errorf("%s changed merge request !%d", what, mr.IID)
		}
	}
}

// refused runs a promotion that must exit 1 with every one of want in its
// message and change nothing.
func (g *govChain) refused(t *testing.T, what string, want []string, args ...string) {
	t.Helper()
	before := g.snapshot(t)
	r, _ := g.s.promote(t, args...)
	if r.code != 1 || slices.ContainsFunc(want, func(w string) bool { return !strings.Contains(r.stderr, w) }) {
		t.Errorf("%s: exit %d, want 1 and %q\n%s", what, r.code, want, r.stderr)
	}
	g.unchanged(t, before, what)
}

// onlyMR is the one merge request from branch.
func (g *govChain) onlyMR(t *testing.T, project, branch string) testenv.GitLabMergeRequest {
	t.Helper()
	var found []testenv.GitLabMergeRequest
	for _, mr := range g.gitlab.MergeRequests(project) {
		if mr.SourceBranch == branch {
			found = append(found, mr)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d merge requests in %s from %s, want 1", len(found), project, branch)
	}
	return found[0]
}

// assertRelease: the change from..to releases digest under tag into env
// and touches nothing else: the environment's versions file and the app's
// own values file only, and in them only the lines of the release; every
// file of keep still holds its lines (the environment's replicas, DNS,
// secrets, and values that only look like numbers or variables).
func (g *govChain) assertRelease(t *testing.T, repo *testenv.Repo, from, to, env, digest, tag string, keep map[string][]string) {
	t.Helper()
	versions, values := "environments/"+env+"/versions.yaml", "environments/"+env+"/values/"+g.s.app+".yaml"
	changed := strings.Fields(gitOut(t, repo.Dir, "diff", "--name-only", from, to))
	if !slices.Contains(changed, versions) || slices.ContainsFunc(changed, func(f string) bool { return f != versions && f != values }) {
		t.Errorf("the change touches %v, want %s and at most %s", changed, versions, values)
	}
	// LOG_LEVEL is not the release's: it differs per environment in the
	// sample (debug, info, warn), but the sample's configuration does not
	// list env.LOG_LEVEL in values.perEnvironment, so a promotion carries
	// dev's debug logging on to qa and prod. Reported; allowed here so
	// that the rest of the diff is still checked.
	g.s.assertSurgical(t, repo, from, to, "casework:", "image:", "digest: "+digest, "LOG_LEVEL:")
	v, _ := repo.ReadFile(to, versions)
	if !strings.Contains(v, `casework: "`+tag+`"`) {
		t.Errorf("%s lacks casework %q:\n%s", versions, tag, v)
	}
	for path, lines := range keep {
		text, err := repo.ReadFile(to, path)
		if err != nil {
			t.Error(err)
			continue
		}
		for _, line := range lines {
			if !strings.Contains(text, line) {
				t.Errorf("%s after the promotion lacks %q:\n%s", path, line, text)
			}
		}
	}
}

// assertGatesPassed: all four gates ran and passed.
func (g *govChain) assertGatesPassed(t *testing.T, res *report.Result) {
	t.Helper()
	v := gateVerdicts(res)
	for _, gate := range []string{"signed", "validated", "smoke-tested", "rollback"} {
		if v[gate+" "+g.s.app] != report.Succeeded {
			t.Errorf("gate %s: %q, want passed (all: %v)", gate, v[gate+" "+g.s.app], v)
		}
	}
}

// assertPromotionMR: a merge request into main, in state, labelled for the
// environment, whose description carries the evidence table.
func (g *govChain) assertPromotionMR(t *testing.T, mr testenv.GitLabMergeRequest, env, state, digest string) {
	t.Helper()
	if mr.TargetBranch != "main" || mr.State != state || !slices.Contains(mr.Labels, "env::"+env) {
		t.Errorf("merge request !%d %s -> %s (%s), labels %v", mr.IID, mr.SourceBranch, mr.TargetBranch, mr.State, mr.Labels)
	}
	d := mr.Description
	for _, want := range []string{
		"| app | image | chart | gate | verdict | evidence |",
		"| signed | passed: signed by key", "| validated | passed: validated at", "| smoke-tested | passed: tested in",
		"| rollback | passed: both resolvable",
		strings.TrimPrefix(digest, "sha256:"),
	} {
		if !strings.Contains(d, want) {
			t.Errorf("merge request !%d's description lacks %q:\n%s", mr.IID, want, d)
		}
	}
}

// govChartsURL is the chart repository the deployment repositories name.
const govChartsURL = "https://ukhomeofficedigital.github.io/hocs-helm-charts"

// govChartRepository serves, in place of hocs-helm-charts, a chart
// repository index listing the versions of hocs-generic-service the
// environments name, shaped as helm repo index writes it. The rollback
// gate reads it to tell whether a chart version can still be installed;
// nothing here downloads a chart.
func govChartRepository(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(srv.Close)
	var b strings.Builder
	b.WriteString("apiVersion: v1\nentries:\n  hocs-generic-service:\n")
	for _, v := range []string{"7.1.0", "7.0.3", "7.0.0"} {
		fmt.Fprintf(&b, `  - apiVersion: v2
    appVersion: 1.0.0
    created: "2026-01-12T09:00:00Z"
    description: The Helm chart every hocs service is deployed with
    digest: %s
    name: hocs-generic-service
    type: application
    urls:
    - %s/hocs-generic-service-%s.tgz
    version: %s
`, strings.Repeat("0", 64), srv.URL, v, v)
	}
	b.WriteString("generated: \"2026-01-12T09:00:00Z\"\n")
	if err := os.WriteFile(filepath.Join(dir, "index.yaml"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return srv.URL
}

func shortDigest(d string) string { return strings.TrimPrefix(d, "sha256:")[:12] }

// promotionState is the merge request state the promotion's result
// records.
func promotionState(t *testing.T, res *report.Result) string {
	t.Helper()
	var out struct {
		MergeRequestState string `json:"mergeRequestState"`
	}
	b, _ := json.Marshal(res.Details)
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out.MergeRequestState
}
