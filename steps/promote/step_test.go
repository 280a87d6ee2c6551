package promote_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stepper-cd/stepper/internal/config"
	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/gitrepo"
	"github.com/stepper-cd/stepper/internal/release"
)

func TestAuthorize(t *testing.T) {
	for _, tc := range []struct {
		name           string
		promoters      []string
		chainPromoters map[string][]string
		chain          string
		user           string
		whoErr         error
		noIdentity     bool
		// allowed, else refused with class and message
		allowed bool
		class   exit.Class
		message []string
		actor   string
	}{
		{name: "no promoters: anyone", user: "mallory", allowed: true, actor: "mallory"},
		{name: "no promoters, nobody known: anyone", whoErr: errors.New("no job token"), allowed: true},
		{name: "no promoters, no identity: anyone", noIdentity: true, allowed: true},
		{name: "user named", promoters: []string{"user:maria"}, user: "maria", allowed: true, actor: "maria"},
		{name: "user not named", promoters: []string{"user:maria"}, user: "mallory", class: exit.Failed,
			message: []string{"promote into prod refused", "user mallory (from GitLab job token)", "on the vendor chain", "(user:maria)", "environments[prod].promoters"}},
		{name: "group member", promoters: []string{"user:bob", "group:sre"}, user: "maria", allowed: true, actor: "maria"},
		{name: "not a group member", promoters: []string{"group:sre"}, user: "mallory", class: exit.Failed, message: []string{"user mallory", "group:sre"}},
		{name: "a user name is not a group", promoters: []string{"user:sre"}, user: "maria", class: exit.Failed},
		{name: "chainPromoters replace promoters", promoters: []string{"user:maria"}, chainPromoters: map[string][]string{"vendor": {"user:bob"}}, user: "bob", allowed: true, actor: "bob"},
		{name: "chainPromoters: promoters do not count", promoters: []string{"user:maria"}, chainPromoters: map[string][]string{"vendor": {"user:bob"}}, user: "maria", class: exit.Failed, message: []string{"user maria", "user:bob"}},
		{name: "another chain's promoters", promoters: []string{"user:maria"}, chainPromoters: map[string][]string{"internal": {"user:bob"}}, user: "bob", class: exit.Failed},
		{name: "chain with an empty list: anyone", promoters: []string{"user:maria"}, chainPromoters: map[string][]string{"vendor": {}}, user: "mallory", allowed: true, actor: "mallory"},
		{name: "no chain selected", promoters: []string{"user:maria"}, chain: "-", user: "mallory", class: exit.Failed, message: []string{"on the selected chain"}},
		{name: "identity fails", promoters: []string{"user:maria"}, whoErr: exit.Infraf("gitlab: 503"), class: exit.Infra,
			message: []string{"who runs this promotion cannot be established", "only user:maria may promote", "gitlab: 503"}},
		{name: "no identity", promoters: []string{"user:maria"}, noIdentity: true, class: exit.Failed, message: []string{"cannot be established"}},
		{name: "identity answers nobody", promoters: []string{"user:maria"}, user: "", class: exit.Failed, message: []string{"cannot be established"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.job.To.Promoters, f.job.To.ChainPromoters = tc.promoters, tc.chainPromoters
			if tc.chain == "-" {
				f.job.Chain = ""
			}
			f.identity.user, f.identity.err = tc.user, tc.whoErr
			step := f.step()
			if tc.noIdentity {
				step.Identity = nil
			}
			out, err := step.Run(f.t.Context(), f.job)
			if tc.allowed {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				f.landed()
				if out.Actor != tc.actor {
					t.Errorf("actor %q, want %q", out.Actor, tc.actor)
				}
				if tr := f.landed().change.Trailers; tr.Actor != tc.actor {
					t.Errorf("Stepper-Actor %q, want %q", tr.Actor, tc.actor)
				}
				return
			}
			if err == nil {
				t.Fatal("allowed, want a refusal")
			}
			if got := exit.ClassOf(err); got != tc.class {
				t.Errorf("class %s, want %s: %v", got, tc.class, err)
			}
			for _, s := range tc.message {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("refusal %q lacks %q", err, s)
				}
			}
			if tc.whoErr != nil && !errors.Is(err, tc.whoErr) {
				t.Errorf("the identity error is not wrapped: %v", err)
			}
			f.nothingMoved()
			if len(f.states.reads) != 0 || len(f.gates.wants) != 0 {
				t.Errorf("read %v and checked %d gates before refusing", f.states.reads, len(f.gates.wants))
			}
		})
	}
}

func TestAuthorizeGroupError(t *testing.T) {
	f := newFixture(t)
	f.job.To.Promoters = []string{"group:sre"}
	f.identity.groupErr = exit.Infraf("gitlab: members/all: 500")
	if _, err := f.run(); exit.ClassOf(err) != exit.Infra {
		t.Fatalf("err = %v, want the group lookup's error", err)
	}
	if got := strings.Join(f.identity.asked, " "); got != "sre/maria" {
		t.Errorf("asked %q, want sre/maria", got)
	}
	f.nothingMoved()
}

func TestDigestMismatchRefused(t *testing.T) {
	f := newFixture(t)
	f.job.Digest = digestG
	_, err := f.run()
	if exit.ClassOf(err) != exit.Failed {
		t.Fatalf("err = %v, want a refusal", err)
	}
	for _, s := range []string{"promote api refused", "staging runs " + digestA, "not the " + digestG} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("refusal %q lacks %q", err, s)
		}
	}
	f.nothingMoved()
	if len(f.gates.wants) != 0 {
		t.Error("gates checked for a release that was not asked for")
	}
}

func TestDigestMatch(t *testing.T) {
	f := newFixture(t)
	f.job.Digest = digestA
	if _, err := f.run(); err != nil {
		t.Fatal(err)
	}
	f.landed()
}

// web runs the same digest and chart in both: nothing to do, nothing
// asked, nothing written.
func TestSameReleaseIsNoOp(t *testing.T) {
	f := newFixture(t)
	f.job.App = "web"
	out, err := f.run()
	if err != nil {
		t.Fatal(err)
	}
	if !out.NoOp || len(out.Releases) != 0 {
		t.Fatalf("outcome %+v, want a no-op", out)
	}
	f.nothingMoved()
	if len(f.gates.wants) != 0 {
		t.Errorf("checked %d gates for a no-op", len(f.gates.wants))
	}
}

// The same digest with another chart version is a release to move.
func TestSameDigestOtherChartMoves(t *testing.T) {
	f := newFixture(t)
	f.states.docs["prod"] = strings.Replace(prodDSF, app("web", "master-w1", digestC, "1.0.0"), app("web", "master-w1", digestC, "0.9.0"), 1)
	f.job.App = "web"
	out, err := f.run()
	if err != nil {
		t.Fatal(err)
	}
	if out.NoOp || len(out.Releases) != 1 {
		t.Fatalf("outcome %+v, want web to move", out)
	}
	if got := appIn(t, f.lander.edited, "web").ChartVersion; got != "1.0.0" {
		t.Errorf("chart version in prod %s, want 1.0.0", got)
	}
}

func TestAllSelectsDifferingApps(t *testing.T) {
	f := newFixture(t)
	f.job.App, f.job.All = "", true
	out, err := f.run()
	if err != nil {
		t.Fatal(err)
	}
	var apps []string
	for _, c := range out.Releases {
		apps = append(apps, c.App)
	}
	if strings.Join(apps, ",") != "api,batch" {
		t.Fatalf("releases %v, want api and batch (web is the same, worker not in prod)", apps)
	}
	if !strings.Contains(f.logs.String(), "worker is not in the desired state of prod") {
		t.Errorf("no warning about worker:\n%s", f.logs.String())
	}
	ch := f.landed().change
	if ch.Trailers.App != "api" || len(ch.More) != 1 || ch.More[0].App != "batch" {
		t.Fatalf("trailers %+v more %+v, want api then batch", ch.Trailers, ch.More)
	}
	if ch.More[0].Image.Digest != digestD || ch.More[0].Action != release.ActionPromote || ch.More[0].From != "staging" || ch.More[0].Evidence != "validated-batch smoke-tested-batch" {
		t.Errorf("batch's trailers %+v", ch.More[0])
	}
	if ch.Subject != "promote 2 apps from staging to prod" {
		t.Errorf("subject %q", ch.Subject)
	}
	if want := "stepper/prod/promote-all-from-staging-1748779200"; ch.Branch != want {
		t.Errorf("branch %q, want %q", ch.Branch, want)
	}
	for app, d := range map[string]string{"api": digestA, "batch": digestD, "web": digestC} {
		if got := appIn(t, f.lander.edited, app).Image.Digest; got != d {
			t.Errorf("%s in prod runs %s, want %s", app, got, d)
		}
	}
	if _, err := f.lander.edited.App("worker"); err == nil {
		t.Error("worker was added to prod")
	}
	if len(f.gates.wants) != 2 {
		t.Errorf("gates checked %d times, want once per app", len(f.gates.wants))
	}
}

func TestAllNothingDiffers(t *testing.T) {
	f := newFixture(t)
	f.states.docs["staging"] = header + app("web", "stag-w1", digestC, "1.0.0")
	f.job.App, f.job.All = "", true
	out, err := f.run()
	if err != nil || !out.NoOp {
		t.Fatalf("outcome %+v, %v; want a no-op", out, err)
	}
	f.nothingMoved()
}

func TestCandidateRefusals(t *testing.T) {
	for _, tc := range []struct {
		name       string
		app        string
		setup      func(*fixture)
		noRegistry bool
		class      exit.Class
		message    []string
	}{
		{name: "app missing in the target", app: "worker", class: exit.Usage,
			message: []string{"promote worker into prod", "add it to prod's desired state first"}},
		{name: "app missing in the source", app: "billing", class: exit.Usage, message: []string{"promote billing from staging"}},
		{name: "no app", app: "", class: exit.Usage, message: []string{"pass --app NAME (or --all)"}},
		{name: "source names no digest, no registry", app: "api", class: exit.Failed, noRegistry: true,
			setup: func(f *fixture) {
				f.states.docs["staging"] = strings.Replace(stagingDSF, "      image.digest: \""+digestA+"\"\n", "", 1)
			},
			message: []string{"names registry.example/vendor/api:stag-abc without a digest"}},
		{name: "source tag does not resolve", app: "api", class: exit.Failed,
			setup: func(f *fixture) {
				f.states.docs["staging"] = strings.Replace(stagingDSF, "      image.digest: \""+digestA+"\"\n", "", 1)
			},
			message: []string{"resolve registry.example/vendor/api:stag-abc: MANIFEST_UNKNOWN"}},
		{name: "target's tag lookup fails", app: "api", class: exit.Infra,
			setup: func(f *fixture) {
				f.states.docs["prod"] = strings.Replace(prodDSF, "      image.digest: \""+digestB+"\"\n", "", 1)
				f.registry.resolveErr = exit.Infraf("registry.example: 503")
			},
			message: []string{"503"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.job.App = tc.app
			if tc.setup != nil {
				tc.setup(f)
			}
			step := f.step()
			if tc.noRegistry {
				step.Registry = nil
			}
			_, err := step.Run(t.Context(), f.job)
			if got := exit.ClassOf(err); got != tc.class {
				t.Fatalf("class %s, want %s: %v", got, tc.class, err)
			}
			for _, s := range tc.message {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
			f.nothingMoved()
		})
	}
}

// A source written by tag is pinned by what the tag resolves to now: that
// digest is what the gates check and what moves.
func TestSourceTagResolved(t *testing.T) {
	f := newFixture(t)
	f.states.docs["staging"] = strings.Replace(stagingDSF, "      image.digest: \""+digestA+"\"\n", "", 1)
	f.registry.resolve[repoAPI+":stag-abc"] = digestA
	out, err := f.run()
	if err != nil {
		t.Fatal(err)
	}
	if out.Releases[0].Image.Digest != digestA || f.gates.wants[0].Image.Digest != digestA {
		t.Fatalf("released %+v, gated %+v", out.Releases[0].Image, f.gates.wants[0].Image)
	}
	if got := appIn(t, f.lander.edited, "api").Image.Digest; got != digestA {
		t.Errorf("prod pinned to %q, want %s", got, digestA)
	}
}

// What the target runs is the rollback target: pinned as written, or its
// tag resolved, or, when the tag does not resolve, the tag alone so the
// rollback gate can say so.
func TestCurrentIsTheRollbackTarget(t *testing.T) {
	noDigest := strings.Replace(prodDSF, "      image.digest: \""+digestB+"\"\n", "", 1)
	for _, tc := range []struct {
		name    string
		prod    string
		resolve map[string]string
		want    release.Ref
	}{
		{name: "pinned", prod: prodDSF, want: release.Ref{Repository: repoAPI, Tag: "master-old", Digest: digestB}},
		{name: "tag resolved", prod: noDigest, resolve: map[string]string{repoAPI + ":master-old": digestB}, want: release.Ref{Repository: repoAPI, Tag: "master-old", Digest: digestB}},
		{name: "tag does not resolve", prod: noDigest, want: release.Ref{Repository: repoAPI, Tag: "master-old"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.states.docs["prod"] = tc.prod
			f.registry.resolve = tc.resolve
			if _, err := f.run(); err != nil {
				t.Fatal(err)
			}
			w := f.gates.wants[0]
			if w.Current == nil || w.Current.Image != tc.want || w.Current.ChartVersion != "1.1.0" || w.Current.ChartRepo != "https://charts.example" {
				t.Fatalf("current %+v, want %v with chart 1.1.0", w.Current, tc.want)
			}
		})
	}
}

// The gates are asked about exactly the release that moves, entering the
// target from the source, since its last deploy there.
func TestGatesAskedForTheRelease(t *testing.T) {
	f := newFixture(t)
	f.job.To.Gates.Off = []config.Gate{config.GateRollback}
	out, err := f.run()
	if err != nil {
		t.Fatal(err)
	}
	w := f.gates.wants[0]
	if w.App != "api" || w.Env != "prod" || strings.Join(w.From, ",") != "staging" || w.Hotfix || w.Only != nil {
		t.Errorf("want %+v", w)
	}
	if w.Image != (release.Ref{Repository: repoAPI, Tag: "stag-abc", Digest: digestA}) || w.ChartVersion != "1.2.0" || w.Chart != "service" || w.ChartRepo != "https://charts.example" {
		t.Errorf("release %+v", w.Release)
	}
	if w.Gates.Soak != "24h" || w.Gates.MaxAge != "168h" {
		t.Errorf("gates %+v, want prod's", w.Gates)
	}
	if !w.Deployed.Equal(started.Add(-100 * time.Hour)) {
		t.Errorf("deployed %s, want the commit that deployed api to staging, %s", w.Deployed, started.Add(-100*time.Hour))
	}
	if !out.Releases[0].Deployed.Equal(w.Deployed) {
		t.Errorf("outcome's deployedInSource %s", out.Releases[0].Deployed)
	}
	// staging's desired state with its history, then prod's with its
	// own (for a rollback hold this promotion would lift): once each.
	if got := f.states.reads; len(got) != 2 || got[0] != "staging" || got[1] != "prod" {
		t.Errorf("read %v, want staging's desired state, then prod's", got)
	}
	if len(out.GatesOff) != 1 || out.GatesOff[0] != config.GateRollback {
		t.Errorf("gates off %v", out.GatesOff)
	}
	if body := f.landed().change.Body; !strings.Contains(body, "Gates switched off in prod: rollback.") {
		t.Errorf("the audit does not record the gate switched off:\n%s", body)
	}
}

// A release whose last deploy the history does not show (web has no
// stepper commit) counts from the newest change of the source: any change
// may have redeployed it.
func TestDeployedFallsBackToTheNewestChange(t *testing.T) {
	f := newFixture(t)
	f.states.docs["prod"] = strings.Replace(prodDSF, app("web", "master-w1", digestC, "1.0.0"), app("web", "master-w0", digestB, "1.0.0"), 1)
	f.job.App = "web"
	if _, err := f.run(); err != nil {
		t.Fatal(err)
	}
	if got := f.gates.wants[0].Deployed; !got.Equal(started.Add(-30 * time.Hour)) {
		t.Errorf("deployed %s, want the newest change to staging, %s", got, started.Add(-30*time.Hour))
	}
}

// The last deploy recorded is of another digest (staging was changed by
// hand since): the newest change counts, not the old deploy.
func TestDeployedIgnoresAnotherDigest(t *testing.T) {
	f := newFixture(t)
	h := f.ownHistory()
	h.commit(started.Add(-10*time.Hour), "staging/dsf.yaml", "deploy api to staging",
		release.Trailers{Action: release.ActionDeploy, App: "api", Env: "staging", Image: release.Ref{Repository: repoAPI, Tag: "stag-new", Digest: digestG}})
	h.commit(started.Add(-5*time.Hour), "staging/dsf.yaml", "back to abc by hand")
	if _, err := f.run(); err != nil {
		t.Fatal(err)
	}
	if got := f.gates.wants[0].Deployed; !got.Equal(started.Add(-5 * time.Hour)) {
		t.Errorf("deployed %s, want %s", got, started.Add(-5*time.Hour))
	}
}

func TestFailedGateLandsNothing(t *testing.T) {
	f := newFixture(t)
	f.job.App, f.job.All = "", true
	f.gates.fail = map[string]config.Gate{"batch": config.GateSmokeTested}
	out, err := f.run()
	if exit.ClassOf(err) != exit.Failed {
		t.Fatalf("err = %v, want a refusal", err)
	}
	for _, s := range []string{"promote staging → prod refused", "gate smoke-tested for batch: wanted smoke-tested evidence; found no attestation"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("refusal %q lacks %q", err, s)
		}
	}
	if strings.Contains(err.Error(), "for api") {
		t.Errorf("refusal names api, whose gates passed: %v", err)
	}
	f.nothingMoved()
	if len(out.Gates) != 8 {
		t.Fatalf("outcome carries %d verdicts, want every gate of both apps", len(out.Gates))
	}
	if out.Gates[6].App != "batch" || out.Gates[6].Gate != config.GateSmokeTested || out.Gates[6].Passed {
		t.Errorf("verdict %+v", out.Gates[6])
	}
}

func TestGateErrorLandsNothing(t *testing.T) {
	f := newFixture(t)
	f.gates.err = exit.Infraf("registry.example: 429")
	if _, err := f.run(); exit.ClassOf(err) != exit.Infra {
		t.Fatalf("err = %v", err)
	}
	f.nothingMoved()
}

func TestRaced(t *testing.T) {
	entry := func(app, dig string, startedAt time.Time, hold bool) release.Entry {
		return release.Entry{
			Commit:   gitrepo.Commit{SHA: strings.Repeat("1", 40)},
			Trailers: release.Trailers{Action: release.ActionDeploy, App: app, Env: "prod", Image: release.Ref{Repository: "registry.example/vendor/" + app, Tag: "x", Digest: dig}, Started: startedAt, Hold: hold},
		}
	}
	for _, tc := range []struct {
		name    string
		history []release.Entry
		refused bool
	}{
		{name: "a newer release of the app", history: []release.Entry{entry("api", digestG, started.Add(time.Minute), false)}, refused: true},
		{name: "a newer release of another app in the change",
			history: []release.Entry{entry("api", digestB, started.Add(-time.Hour), false), entry("batch", digestG, started.Add(time.Second), false)}, refused: true},
		{name: "an older release", history: []release.Entry{entry("api", digestB, started.Add(-time.Hour), false)}},
		{name: "a newer release of the same image", history: []release.Entry{entry("api", digestA, started.Add(time.Minute), false)}},
		{name: "a newer release without a start time", history: []release.Entry{entry("api", digestG, time.Time{}, false)}},
		{name: "a newer release of an app not promoted", history: []release.Entry{entry("web", digestG, started.Add(time.Minute), false)}},
		{name: "a rollback hold", history: []release.Entry{entry("api", digestB, started.Add(-time.Hour), true)}},
		{name: "only the newest entry of an app counts",
			history: []release.Entry{entry("api", digestB, started.Add(-time.Hour), true), entry("api", digestG, started.Add(time.Hour), false)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.job.App, f.job.All = "", true
			f.lander.history = tc.history
			_, err := f.run()
			if !tc.refused {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if f.lander.edited == nil {
					t.Fatal("nothing edited")
				}
				return
			}
			if exit.ClassOf(err) != exit.Failed || !strings.Contains(err.Error(), "a newer release") || !strings.Contains(err.Error(), "111111111111") {
				t.Fatalf("err = %v, want a refusal naming the newer release's commit", err)
			}
			if f.lander.edited != nil {
				t.Error("the change was applied after the guard refused")
			}
		})
	}
}

func TestHotfix(t *testing.T) {
	t.Run("without hotfixSoak", func(t *testing.T) {
		f := newFixture(t)
		f.job.Hotfix = true
		_, err := f.run()
		if exit.ClassOf(err) != exit.Usage || !strings.Contains(err.Error(), "environments[prod].gates.hotfixSoak is not set") {
			t.Fatalf("err = %v, want a usage error naming the setting", err)
		}
		f.nothingMoved()
		if len(f.states.reads) != 0 {
			t.Errorf("read %v", f.states.reads)
		}
	})
	t.Run("with hotfixSoak", func(t *testing.T) {
		f := newFixture(t)
		f.job.Hotfix = true
		f.job.To.Gates.HotfixSoak = "1h"
		out, err := f.run()
		if err != nil {
			t.Fatal(err)
		}
		if !out.Hotfix || !f.gates.wants[0].Hotfix {
			t.Errorf("outcome hotfix %v, gates asked with hotfix %v", out.Hotfix, f.gates.wants[0].Hotfix)
		}
		ch := f.landed().change
		if !ch.Trailers.Hotfix {
			t.Error("the trailers do not record the hotfix")
		}
		if !strings.HasPrefix(ch.Body, "Hotfix promotion staging → prod by maria (GitLab job token) at 2025-06-01T12:00:00Z.") {
			t.Errorf("body %q", ch.Body)
		}
	})
	t.Run("all: every release a hotfix", func(t *testing.T) {
		f := newFixture(t)
		f.job.Hotfix, f.job.App, f.job.All = true, "", true
		f.job.To.Gates.HotfixSoak = "1h"
		if _, err := f.run(); err != nil {
			t.Fatal(err)
		}
		ch := f.landed().change
		if !ch.Trailers.Hotfix || !ch.More[0].Hotfix {
			t.Errorf("trailers %+v %+v", ch.Trailers, ch.More)
		}
	})
}

func TestStatesReadError(t *testing.T) {
	f := newFixture(t)
	delete(f.states.docs, "prod")
	if _, err := f.run(); err == nil || !strings.Contains(err.Error(), "no desired state for prod") {
		t.Fatalf("err = %v", err)
	}
	f.nothingMoved()
}
