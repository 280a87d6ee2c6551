package cli

import (
	"strings"
	"testing"
	"time"
)

// The hold across a chain (seed 003, the shop on Flux): production is
// rolled back and held there, with its HelmRelease's image-policy setters
// in a form image automation does not read, until a release is promoted
// into it with evidence from staging; the promotion records the hold it
// lifts and makes the setters live again.
func TestRollbackGitOpsHoldUntilPromoted(t *testing.T) {
	w := newGitOpsWorld(t, stepperBinary(t), "flux", "commit")
	prod := grProduction(t, w)

	v1 := prod.release(t, "2.0.0")
	v2 := prod.release(t, "2.1.0")
	if got := prod.tag(t); got != "master-2.1.0" {
		t.Fatalf("production names %q after two promotions, want master-2.1.0", got)
	}

	before := w.state(t)
	reason := "INC-5150: checkout totals off by one cent since 2.1.0"
	r, res := w.rollback(t, "--env", "production", "--app", w.a, "--reason", reason)
	if r.code != 0 {
		t.Fatalf("rollback production: exit %d\n%s", r.code, r.stderr)
	}
	rollback := w.landed(t, before, res)
	msg := gitOut(t, w.repo.Dir, "log", "-1", "--format=%B", rollback)
	assertContains(t, "the rollback commit", msg, "Stepper-Action: rollback", "Stepper-Env: production", "Stepper-Digest: "+v1.digest,
		// maria: the job token's user, not GITLAB_USER_LOGIN (alice).
		"Stepper-Hold: true", "Stepper-Reason: "+reason, "Stepper-Actor: maria", "Stepper-Reverts: "+prod.promoted[v2.digest])
	if got := prod.tag(t); got != "master-2.0.0" {
		t.Errorf("production names %q after the rollback, want master-2.0.0", got)
	}
	prod.assertSetters(t, rollback, "held")

	// Staging moves on; the promotion is the deliberate move forward.
	v3 := prod.release(t, "2.2.0")
	promotion := prod.promoted[v3.digest]
	msg = gitOut(t, w.repo.Dir, "log", "-1", "--format=%B", promotion)
	assertContains(t, "the promotion over the hold", msg, "Stepper-Action: promote", "Stepper-Digest: "+v3.digest, "Stepper-Releases-Hold: "+rollback)
	if got := prod.tag(t); got != "master-2.2.0" {
		t.Errorf("production names %q after the promotion, want master-2.2.0", got)
	}
	prod.assertSetters(t, promotion, "live")
	if hist := prod.history(t); len(hist) == 0 || hist[0].Hold || hist[0].Digest != v3.digest {
		t.Errorf("production's history starts with %+v, want the promotion of %s, not held", hist, v3.digest)
	}
}

// grProd is the shop's production, promoted into from staging by maria,
// a maintainer, with validate and smoke-test evidence.
type grProd struct {
	w    *grWorld
	file string
	// promoted maps a digest to the commit that promoted it; none on the
	// tag route, which commits nothing.
	promoted map[string]string
}

func grProduction(t *testing.T, w *grWorld) *grProd {
	t.Helper()
	w.gitlab.AddGroup("hostedshop-maintainers", "maria")
	w.gitlab.AddJobToken("test-only-job-token-maria", "maria")
	w.env = append(w.env, "CI_JOB_TOKEN=test-only-job-token-maria")
	// What production runs before: a signed build under the tag the
	// HelmRelease names, which a promotion's rollback gate asks for.
	w.build(t, w.a, "7c6b5a4-1763400000", "master-7c6b5a4-1763400000")
	return &grProd{w: w, file: "clusters/production/apps/" + w.a + ".yaml", promoted: map[string]string{}}
}

// release builds tag, deploys it to staging, attaches the evidence and
// promotes it into production.
func (p *grProd) release(t *testing.T, tag string) grBuild {
	t.Helper()
	w := p.w
	b := w.build(t, w.a, tag)
	w.deploy(t, b)
	w.validateAttest(t, b.result)
	w.smokeTest(t, "staging", b.result)
	before := w.head(t)
	r, res := w.promote(t, "--from", "staging")
	if r.code != 0 {
		t.Fatalf("promote %s: exit %d\n%s", tag, r.code, r.stderr)
	}
	if res.Outputs["promoted-by"] != "maria" {
		t.Errorf("promoted by %q, want maria", res.Outputs["promoted-by"])
	}
	if head := w.head(t); head != before {
		p.promoted[b.digest] = head
	}
	return b
}

// tag is the image tag production's HelmRelease names.
func (p *grProd) tag(t *testing.T) string {
	t.Helper()
	text, err := p.w.repo.ReadFile(p.w.branch, p.file)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "tag: "); ok {
			v, _, _ = strings.Cut(v, " #")
			return v
		}
	}
	t.Fatalf("%s names no tag:\n%s", p.file, text)
	return ""
}

// assertSetters checks production's setters at rev (see
// grWorld.assertSetters).
func (p *grProd) assertSetters(t *testing.T, rev, want string) {
	t.Helper()
	files := p.w.files
	p.w.files = []string{p.file}
	defer func() { p.w.files = files }()
	p.w.assertSetters(t, rev, want)
}

func (p *grProd) history(t *testing.T) []grCandidate {
	t.Helper()
	r := p.w.stepper(t, "rollback", "-c", p.w.file, "--env", "production", "--app", p.w.a, "--history", "-o", "json")
	if r.code != 0 {
		t.Fatalf("rollback --history: exit %d\n%s", r.code, r.stderr)
	}
	return grCandidates(t, r.stdout)
}

// The shop's production as its sample configures it: a promotion is the
// master- tag alone, and image automation writes the tag into the
// HelmRelease with a commit of its own, without stepper's trailers. A
// rollback there undoes automation's commit (--to-commit) and holds the
// setters, so automation does not write the newer tag back; promoting a
// release must lift that hold again, or production never moves.
func TestRollbackGitOpsHoldOnTheTagRoute(t *testing.T) {
	w := newGitOpsWorld(t, stepperBinary(t), "flux", "tag")
	prod := grProduction(t, w)
	prod.release(t, "2.0.0")
	prod.automate(t, "2.0.0")
	v2 := prod.release(t, "2.1.0")
	update := prod.automate(t, "2.1.0")

	// No release commit of stepper's in production: only --to-commit
	// knows where to go.
	before := w.state(t)
	r, _ := w.rollback(t, "--env", "production", "--app", w.a, "--reason", "INC-5151")
	if r.code != 1 || !strings.Contains(r.stderr, "--to-commit") {
		t.Errorf("rollback without a stepper release in production: exit %d, want 1 pointing at --to-commit\n%s", r.code, r.stderr)
	}
	w.unchanged(t, "the refused rollback", before)

	before = w.state(t)
	r, res := w.rollback(t, "--env", "production", "--app", w.a, "--to-commit", update, "--reason", "INC-5151")
	if r.code != 0 {
		t.Fatalf("rollback --to-commit %s: exit %d\n%s", update, r.code, r.stderr)
	}
	rollback := w.landed(t, before, res)
	if got := prod.tag(t); got != "master-2.0.0" {
		t.Errorf("production names %q after the rollback, want master-2.0.0", got)
	}
	prod.assertSetters(t, rollback, "held")
	assertContains(t, "the rollback commit", gitOut(t, w.repo.Dir, "log", "-1", "--format=%B", rollback),
		"Stepper-Hold: true", "Stepper-Reverts: "+update, "Stepper-Image: "+v2.repo+":master-2.0.0@")

	// Promoting 2.2.0 tags it master-2.2.0; automation can only follow
	// once the setters are live again.
	v3 := prod.release(t, "2.2.0")
	if got := w.tagDigest(t, "hostedshop/"+w.a+":master-2.2.0"); got != v3.digest {
		t.Errorf("master-2.2.0 names %q, want %s", got, v3.digest)
	}
	lift, committed := prod.promoted[v3.digest]
	if text, _ := w.repo.ReadFile(w.branch, prod.file); !committed && strings.Contains(text, `"$imagepolicy-held-by-stepper"`) {
		// The tag route edits nothing else: without the commit that
		// lifts the hold, production would stay at the rolled-back tag
		// and image automation would never apply master-2.2.0.
		t.Fatalf("promote on the tag route left production's setters held; production stays at %s:\n%s", prod.tag(t), text)
	}
	assertContains(t, "the commit that lifts the hold", gitOut(t, w.repo.Dir, "log", "-1", "--format=%B", lift), "Stepper-Releases-Hold: "+rollback)
	prod.assertSetters(t, lift, "live")
}

// automate commits tag's master- tag into production's HelmRelease the way
// Flux image automation does, and returns the commit.
func (p *grProd) automate(t *testing.T, tag string) string {
	t.Helper()
	from := p.tag(t)
	return p.w.commitByHand(t, "Automated image update\n\nAutomation name: flux-system/shop-production\n\nFiles:\n- "+p.file+"\nObjects:\n- HelmRelease blog-service\nImages:\n- "+p.w.imageRepo(p.w.a)+":master-"+tag+"\n",
		map[string]func(string) string{p.file: func(s string) string {
			return strings.Replace(s, "tag: "+from+" #", "tag: master-"+tag+" #", 1)
		}})
}

// A hold survives the merge of the rollback's merge request. git log walks
// by committer date, so when the commit the rollback undoes is dated later
// than the rollback (a hand commit from a clock that runs ahead, or both
// in one second), it is listed before the rollback, its child, through the
// merge's other parent. Whatever takes the newest release from that order
// misses the hold: the landing guard reads the branch's whole log (a log
// of the desired-state path alone follows the merge's TREESAME parent and
// happens to keep the order).
func TestRollbackGitOpsHoldAcrossAMerge(t *testing.T) {
	w := newGitOpsWorld(t, stepperBinary(t), "helmfile", "")
	tags := grTags["helmfile"]
	a1, b1 := w.build(t, w.a, tags.a[0]), w.build(t, w.b, tags.b[0])
	w.deploy(t, a1)
	w.deploy(t, b1)
	a2, b2 := w.build(t, w.a, tags.a[1]), w.build(t, w.b, tags.b[1])
	w.clockAhead = 10 * time.Minute
	w.releaseBoth(t, a1, a2, b1, b2)
	w.clockAhead = 0

	before := w.state(t)
	r, res := w.rollback(t, "--env", w.first, "--app", w.a, "--reason", "INC-4720")
	if r.code != 0 {
		t.Fatalf("rollback: exit %d\n%s", r.code, r.stderr)
	}
	rollback := w.landed(t, before, res)
	if hist := w.history(t); len(hist) == 0 || hist[0].Commit != rollback {
		w.knownDefect(t, "--history does not list the rollback %s as the current release: %+v", rollback, hist)
	}

	a3 := w.build(t, w.a, tags.a[2])
	before = w.state(t)
	if d := w.deployRun(t, a3); d.code == 0 {
		// internal/gitrepo/log.go Repo.log runs git log without
		// --topo-order, and land's guard takes the first release of it.
		w.knownDefect(t, "a deploy of %s landed over the hold of rollback %s (a merge request opened):\n%s", a3.tag, rollback, d.stderr)
	} else {
		if d.code != 1 || !strings.Contains(d.stderr, "held at") || !strings.Contains(d.stderr, "--release-hold") {
			t.Errorf("deploy over the hold: exit %d, want 1 naming the hold and --release-hold\n%s", d.code, d.stderr)
		}
		w.unchanged(t, "the deploy refused over the hold", before)
	}
}
