package cli

import (
	"strings"
	"testing"
)

// grCharts are the chart versions of the first app, before and after the
// commit that releases both apps, as its file writes them.
var grCharts = map[string]struct{ old, new, oldText, newText string }{
	"helmsman": {"3.2.0", "3.3.0", `version: "3.2.0" #`, `version: "3.3.0" #`},
	"helmfile": {"7.1.0", "7.0.0", "casework: 7.1.0", "casework: 7.0.0"},
	"flux":     {"1.5.0", "1.6.0", `version: "1.5.0"`, `version: "1.6.0"`},
}

// grTags are the releases of the two apps in each world: the apps' seeds
// name other tags, and no tag is part of another or of a chart version.
var grTags = map[string]struct{ a, b [3]string }{
	"helmsman": {a: [3]string{"1.5.0", "1.6.0", "1.7.0"}, b: [3]string{"2.1.0", "2.2.0"}},
	"helmfile": {a: [3]string{"3.3.0", "3.4.0", "3.5.0"}, b: [3]string{"5.2.0", "5.3.0"}},
	"flux":     {a: [3]string{"2.0.0", "2.1.0", "2.2.0"}, b: [3]string{"1.1.0", "1.2.0"}},
}

// In each format, the commit undone released two apps at once (a
// promotion of a whole environment, with both releases' trailers, and a
// newer chart for one): the rollback returns that app to the release and
// chart before it and leaves the other as the commit left it, byte for
// byte, with the comments, anchors, number-like strings and dollar signs
// of the sample around them; a dry run first shows the change and lands
// nothing. The rollback commit says what it did, why, who and what it
// undid, and holds the app: a newer deploy is refused until one lifts the
// hold with --release-hold. --history lists the releases; --to-commit
// undoes a hand commit for one app; --to returns to an older release by
// digest, by tag and by chart version. The helmfile environment lands by
// merge request, merged as GitLab would.
func TestRollbackGitOpsEveryFormat(t *testing.T) {
	bin := stepperBinary(t)
	for _, kind := range grFormats {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			w := newGitOpsWorld(t, bin, kind, "")
			tags := grTags[kind]
			a1, b1 := w.build(t, w.a, tags.a[0]), w.build(t, w.b, tags.b[0])
			w.deploy(t, a1)
			w.deploy(t, b1)
			a2, b2 := w.build(t, w.a, tags.a[1]), w.build(t, w.b, tags.b[1])
			both := w.releaseBoth(t, a1, a2, b1, b2)
			released := w.read(t, both)

			// --dry-run checks everything, shows the change and lands
			// nothing.
			before := w.state(t)
			reason := "INC-4711: 500s on /login since " + a2.tag
			dry := w.stepper(t, "rollback", "-c", w.file, "--env", w.first, "--app", w.a, "--reason", reason, "--dry-run")
			if dry.code != 0 {
				t.Fatalf("rollback --dry-run: exit %d\n%s", dry.code, dry.stderr)
			}
			assertContains(t, "rollback --dry-run's output", dry.stdout, "would land by ", "(dry run)")
			if !grDiffLine(dry.stdout, "-", w.fileTag(a2)) || !grDiffLine(dry.stdout, "+", w.fileTag(a1)) {
				t.Errorf("rollback --dry-run shows no diff from %s to %s:\n%s", w.fileTag(a2), w.fileTag(a1), dry.stdout)
			}
			w.unchanged(t, "rollback --dry-run", before)

			r, res := w.rollback(t, "--env", w.first, "--app", w.a, "--reason", reason)
			if r.code != 0 {
				t.Fatalf("rollback: exit %d\n%s", r.code, r.stderr)
			}
			commit := w.landed(t, before, res)
			w.assertRollbackCommit(t, commit, w.a, a1, both, reason)
			chart := grCharts[kind]
			assertContains(t, "the rollback commit", gitOut(t, w.repo.Dir, "log", "-1", "--format=%B", commit), "Stepper-Chart-Version: "+chart.old)
			want := grEach(grEach(released, w.bump(a2, a1)), w.chartEdit(chart.newText, chart.oldText))
			if kind == "flux" {
				want = grEach(want, grHeld(w.a))
			}
			w.assertFiles(t, "the rollback of "+w.a, commit, want)
			if res.Digest != a1.digest || !strings.Contains(res.Outputs["rolled-back-from"], w.fileTag(a2)) || res.Outputs["reason"] != reason {
				t.Errorf("result: digest %s, rolled back from %q, reason %q", res.Digest, res.Outputs["rolled-back-from"], res.Outputs["reason"])
			}

			// Held: a newer release does not land over the rollback
			// unless it lifts the hold on purpose.
			a3 := w.build(t, w.a, tags.a[2])
			w.refusedOverHold(t, a3, reason)
			lifted := w.releaseHold(t, a3)

			// The history lists every release of the app, newest first.
			hist := w.history(t)
			wantHist := []struct {
				action, digest, chart, actor string
				hold                         bool
			}{{"deploy", a3.digest, chart.old, "alice", false}, {"rollback", a1.digest, chart.old, "alice", true}, {"deploy", a2.digest, chart.new, "sara", false}, {"deploy", a1.digest, chart.old, "alice", false}}
			if len(hist) != len(wantHist) {
				t.Fatalf("--history lists %d releases, want %d: %+v", len(hist), len(wantHist), hist)
			}
			var chartless []string
			for i, want := range wantHist {
				c := hist[i]
				if c.ChartVersion == "" && c.Action == "deploy" && c.Actor == "alice" {
					chartless = append(chartless, c.Image)
					c.ChartVersion = want.chart
				}
				if c.Action != want.action || c.Digest != want.digest || c.ChartVersion != want.chart || c.Actor != want.actor || c.Hold != want.hold || c.Current != (i == 0) || c.Time.IsZero() || c.Commit == "" {
					t.Errorf("--history[%d] = %+v, want %+v, current %v", i, c, want, i == 0)
				}
			}
			if len(chartless) > 0 {
				// steps/deploy/gitops.go writes Stepper-Chart-Version only
				// from --chart-version, not the chart the app runs.
				w.knownDefect(t, "--history shows no chart version for the deploys of %s: deploy records Stepper-Chart-Version only when --chart-version is given, so --to CHARTVERSION cannot find those releases either", strings.Join(chartless, ", "))
			}
			if hist[0].Commit != lifted || hist[2].Commit != both {
				t.Errorf("--history commits %s and %s, want %s and %s", hist[0].Commit, hist[2].Commit, lifted, both)
			}

			// --to-commit undoes a hand commit without trailers that moved
			// both apps, for one of them: a3 comes back, b stays at b1.
			hand := w.commitByHand(t, "bump both by hand", w.handEdits(w.read(t, lifted), [2]grBuild{a3, a2}, [2]grBuild{b2, b1}))
			handState := w.read(t, hand)
			before = w.state(t)
			r, res = w.rollback(t, "--env", w.first, "--app", w.a, "--to-commit", hand[:10], "--reason", "INC-4712")
			if r.code != 0 {
				t.Fatalf("rollback --to-commit: exit %d\n%s", r.code, r.stderr)
			}
			commit = w.landed(t, before, res)
			w.assertRollbackCommit(t, commit, w.a, a3, hand, "INC-4712")
			want = grEach(handState, w.bump(a2, a3))
			if kind == "flux" {
				want = grEach(want, grHeld(w.a))
			}
			w.assertFiles(t, "the rollback --to-commit", commit, want)

			// --to the first release, by digest: the app as it was then,
			// the other app as it is now. The release returned to is the
			// newest commit that landed it, the first rollback's.
			now := w.read(t, commit)
			w.rollbackTo(t, a1.digest, a1, hist[1].Commit, grEach(now, w.bump(a3, a1)))

			// --to the first release, by its tag as --history shows it.
			lifted = w.releaseHold(t, a3)
			now = w.read(t, lifted)
			want = grEach(now, w.bump(a3, a1))
			if kind == "flux" {
				want = grEach(want, grHeld(w.a))
			}
			commit = w.rollbackTo(t, w.fileTag(a1), a1, "", want)

			// --to the chart version of the release of both apps: that
			// release of the app, with its chart.
			now = w.read(t, commit)
			w.rollbackTo(t, chart.new, a2, both, grEach(grEach(now, w.bump(a1, a2)), w.chartEdit(chart.oldText, chart.newText)))
		})
	}
}

// rollbackTo rolls the first app back --to to, which names target, checks
// that the files are want afterwards and, unless reverts is "", the
// commit's trailers, and returns the commit.
func (w *grWorld) rollbackTo(t *testing.T, to string, target grBuild, reverts string, want map[string]string) string {
	t.Helper()
	before := w.state(t)
	reason := "INC-4713: back to " + to
	r, res := w.rollback(t, "--env", w.first, "--app", w.a, "--to", to, "--reason", reason)
	if r.code != 0 {
		t.Fatalf("rollback --to %s: exit %d\n%s", to, r.code, r.stderr)
	}
	commit := w.landed(t, before, res)
	msg := gitOut(t, w.repo.Dir, "log", "-1", "--format=%B", commit)
	assertContains(t, "the rollback --to commit", msg, "Stepper-Digest: "+target.digest, "Stepper-Hold: true", "Stepper-Reason: "+reason)
	if reverts != "" {
		assertContains(t, "the rollback --to commit", msg, "Stepper-Reverts: "+reverts)
	}
	w.assertFiles(t, "the rollback --to "+to, commit, want)
	return commit
}

// refusedOverHold: a deploy of b over the rollback hold is refused, names
// the hold, its reason and --release-hold, and changes nothing.
func (w *grWorld) refusedOverHold(t *testing.T, b grBuild, reason string) {
	t.Helper()
	before := w.state(t)
	r := w.deployRun(t, b)
	if r.code != 1 || !strings.Contains(r.stderr, "held at") || !strings.Contains(r.stderr, reason) || !strings.Contains(r.stderr, "--release-hold") {
		t.Errorf("deploy over the hold: exit %d, want 1 naming the hold, its reason and --release-hold\n%s", r.code, r.stderr)
	}
	w.unchanged(t, "the deploy refused over the hold", before)
}

// releaseHold deploys b with --release-hold: it lands, the commit records
// that it lifts the hold, and image automation's setters are live again.
// It returns the commit.
func (w *grWorld) releaseHold(t *testing.T, b grBuild) string {
	t.Helper()
	w.deploy(t, b, "--release-hold")
	commit := w.lastRelease(t)
	msg := gitOut(t, w.repo.Dir, "log", "-1", "--format=%B", commit)
	assertContains(t, "the deploy --release-hold commit", msg, "Stepper-Action: deploy", "Stepper-Digest: "+b.digest, "Stepper-Releases-Hold: ")
	if w.kind == "flux" {
		w.assertSetters(t, commit, "live")
	}
	return commit
}

// lastRelease is the newest commit of the branch that changed the first
// environment's desired state (a merge commit's second parent).
func (w *grWorld) lastRelease(t *testing.T) string {
	t.Helper()
	return strings.TrimSpace(gitOut(t, w.repo.Dir, append([]string{"log", "-1", "--no-merges", "--format=%H", w.branch, "--"}, w.files...)...))
}

// history runs rollback --history, as text and as JSON, and returns the
// candidates; the text marks the current one and shows each digest, tag
// and author.
func (w *grWorld) history(t *testing.T) []grCandidate {
	t.Helper()
	r := w.stepper(t, "rollback", "-c", w.file, "--env", w.first, "--app", w.a, "--history", "-o", "json")
	if r.code != 0 {
		t.Fatalf("rollback --history -o json: exit %d\n%s", r.code, r.stderr)
	}
	list := grCandidates(t, r.stdout)
	text := w.stepper(t, "rollback", "-c", w.file, "--env", w.first, "--app", w.a, "--history")
	if text.code != 0 {
		t.Fatalf("rollback --history: exit %d\n%s", text.code, text.stderr)
	}
	lines := strings.Split(text.stdout, "\n")
	if len(lines) < len(list)+1 || !strings.Contains(lines[0], "LANDED") || !strings.Contains(lines[0], "DIGEST") || !strings.Contains(lines[0], "BY") {
		t.Fatalf("rollback --history prints no table of %d releases:\n%s", len(list), text.stdout)
	}
	for i, c := range list {
		line := lines[i+1]
		if !strings.Contains(line, strings.TrimPrefix(c.Digest, "sha256:")[:12]) || !strings.Contains(line, c.Actor) || !strings.Contains(line, c.Action) ||
			strings.HasPrefix(line, "now") != c.Current || strings.Contains(line, "held") != c.Hold {
			t.Errorf("rollback --history line %d %q does not show %+v", i+1, line, c)
		}
	}
	return list
}

// handEdits moves each pair's release from [0] to [1] in files, by hand.
func (w *grWorld) handEdits(files map[string]string, moves ...[2]grBuild) map[string]func(string) string {
	edits := map[string]func(string) string{}
	for path, text := range files {
		var steps []func(string) string
		for _, m := range moves {
			if strings.Contains(text, w.fileTag(m[0])) || strings.Contains(text, m[0].digest) {
				steps = append(steps, w.bump(m[0], m[1]))
			}
		}
		if len(steps) > 0 {
			edits[path] = func(s string) string {
				for _, f := range steps {
					s = f(s)
				}
				return s
			}
		}
	}
	return edits
}

// assertSetters checks the image-automation setters of the rolled-back
// app's HelmRelease at rev: "held", every one in the form automation does
// not read (its file then lacks even the token `"$imagepolicy"` that
// automation screens files for), or "live", every one back.
func (w *grWorld) assertSetters(t *testing.T, rev, want string) {
	t.Helper()
	text := w.read(t, rev)[w.files[0]]
	live := strings.Count(text, `"$imagepolicy"`)
	heldN := strings.Count(text, `"$imagepolicy-held-by-stepper"`)
	switch {
	case want == "held" && (live != 0 || heldN != 2):
		t.Errorf("%s at %s: %d live and %d held setters, want 0 and 2:\n%s", w.files[0], rev, live, heldN, text)
	case want == "live" && (live != 2 || heldN != 0):
		t.Errorf("%s at %s: %d live and %d held setters, want 2 and 0:\n%s", w.files[0], rev, live, heldN, text)
	}
}

// grDiffLine reports whether diff has a line sign ("+" or "-") adds or
// removes that contains text.
func grDiffLine(diff, sign, text string) bool {
	for _, line := range strings.Split(diff, "\n") {
		if strings.HasPrefix(line, sign) && !strings.HasPrefix(line, sign+sign+sign) && strings.Contains(line, text) {
			return true
		}
	}
	return false
}
