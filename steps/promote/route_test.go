package promote_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stepper-cd/stepper/internal/config"
	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/land"
	"github.com/stepper-cd/stepper/internal/release"
	"github.com/stepper-cd/stepper/steps/promote"
)

func TestCommitRoute(t *testing.T) {
	f := newFixture(t)
	out, err := f.run()
	if err != nil {
		t.Fatal(err)
	}
	call := f.landed()
	if call.route.Via != land.ViaCommit || call.spec.Env != "prod" || call.spec.Path != "prod/dsf.yaml" {
		t.Errorf("landed by %+v into %+v", call.route, call.spec)
	}
	want := release.Trailers{
		Action: release.ActionPromote, App: "api", Env: "prod", From: "staging",
		Image:        release.Ref{Repository: repoAPI, Tag: "stag-abc", Digest: digestA},
		ChartVersion: "1.2.0", Started: started, Pipeline: pipeline, Actor: "maria",
		Evidence: "validated-api smoke-tested-api",
	}
	ch := call.change
	if fmt.Sprint(ch.Trailers) != fmt.Sprint(want) {
		t.Errorf("trailers\n got %+v\nwant %+v", ch.Trailers, want)
	}
	if len(ch.More) != 0 {
		t.Errorf("more trailers %+v for one app", ch.More)
	}
	if ch.Subject != "promote api from staging to prod: aaaaaaaaaaaa" || ch.Branch != "stepper/prod/promote-api-aaaaaaaaaaaa" {
		t.Errorf("subject %q branch %q", ch.Subject, ch.Branch)
	}
	for _, s := range []string{
		"Promotion staging → prod by maria (GitLab job token) at 2025-06-01T12:00:00Z.",
		"Run: " + pipeline,
		"api " + repoAPI + ":stag-abc@" + digestA + " chart 1.2.0: smoke-tested passed: smoke-tested ok [smoke-tested-api]",
	} {
		if !strings.Contains(ch.Body, s) {
			t.Errorf("body lacks %q:\n%s", s, ch.Body)
		}
	}
	a := appIn(t, f.lander.edited, "api")
	if a.Image.Digest != digestA || a.Image.Tag != "stag-abc" || a.ChartVersion != "1.2.0" {
		t.Errorf("prod's api after the edit: %+v chart %s", a.Image, a.ChartVersion)
	}
	if got := appIn(t, f.lander.edited, "batch").Image.Digest; got != digestF {
		t.Errorf("batch moved to %s with --app api", got)
	}
	if out.Route != "commit" || out.Landing.Via != land.ViaCommit || out.Landing.Commit != strings.Repeat("c", 40) || out.Diff == "" {
		t.Errorf("outcome %+v", out)
	}
	if len(f.registry.tags) != 0 {
		t.Errorf("tags pushed on a route without tag prefix: %v", f.registry.tags)
	}
}

// A target that names images by a tag prefix gets the tag with the
// source's prefix swapped, in the file and in the registry once landed.
func TestCommitRouteWithTagPrefix(t *testing.T) {
	f := newFixture(t)
	f.job.To.TagPrefix = "master-"
	out, err := f.run()
	if err != nil {
		t.Fatal(err)
	}
	if tr := f.landed().change.Trailers; tr.Image.Tag != "master-abc" || tr.Image.Digest != digestA {
		t.Errorf("trailer image %s", tr.Image)
	}
	if a := appIn(t, f.lander.edited, "api"); a.Image.Tag != "master-abc" || a.Image.Digest != digestA {
		t.Errorf("prod's api %s", a.Image)
	}
	if want := []string{repoAPI + "@" + digestA + " master-abc retag=false"}; !slices.Equal(f.registry.tags, want) {
		t.Errorf("tags %v, want %v", f.registry.tags, want)
	}
	if out.Tags["api"] != repoAPI+":master-abc" {
		t.Errorf("outcome tags %v", out.Tags)
	}
}

func TestCommitRouteTagFails(t *testing.T) {
	f := newFixture(t)
	f.job.To.TagPrefix = "master-"
	f.registry.tagErr = exit.Failedf("tag master-abc names another digest")
	_, err := f.run()
	if err == nil || !strings.Contains(err.Error(), "the promotion landed naming "+repoAPI+":master-abc@"+digestA+", but the tag could not be pushed") {
		t.Fatalf("err = %v", err)
	}
}

func TestDryRunCommit(t *testing.T) {
	f := newFixture(t)
	f.job.DryRun = true
	f.job.To.TagPrefix = "master-"
	out, err := f.run()
	if err != nil {
		t.Fatal(err)
	}
	if !f.landed().change.DryRun || !out.DryRun {
		t.Error("the lander was not told it is a dry run")
	}
	if len(f.registry.tags) != 0 {
		t.Errorf("a dry run pushed tags %v", f.registry.tags)
	}
}

func TestMergeRequestRoute(t *testing.T) {
	f := newFixture(t)
	f.job.To.Land = config.Land{Via: config.ViaMergeRequest, TargetBranch: "master", Reviewers: []string{"sre-lead"}, Labels: []string{"prod-change"}}
	f.lander.landed.MergeRequestIID, f.lander.landed.Project = 5, "vendor-x/desired-state"
	out, err := f.run()
	if err != nil {
		t.Fatal(err)
	}
	call := f.landed()
	if want := (land.Route{Via: land.ViaMergeRequest, TargetBranch: "master", Project: "vendor-x/desired-state"}); call.route != want {
		t.Errorf("route %+v, want %+v", call.route, want)
	}
	ch := call.change
	if !slices.Equal(ch.Reviewers, []string{"sre-lead"}) {
		t.Errorf("reviewers %v", ch.Reviewers)
	}
	if !slices.Equal(ch.Labels, []string{"stepper", "promotion", "env::prod", "prod-change"}) {
		t.Errorf("labels %v", ch.Labels)
	}
	if ch.Title != ch.Subject {
		t.Errorf("title %q", ch.Title)
	}
	for _, s := range []string{"| app | image | chart | gate | verdict | evidence |", "| api | `" + repoAPI + ":stag-abc@" + digestA + "` | 1.2.0 | validated | passed: validated ok | validated-api |"} {
		if !strings.Contains(ch.Description, s) {
			t.Errorf("description lacks %q:\n%s", s, ch.Description)
		}
	}
	if out.Route != "merge-request" || len(f.mrs.asked) != 0 {
		t.Errorf("route %q, waited %v without --wait", out.Route, f.mrs.asked)
	}
}

func TestMergeRequestSourceBranch(t *testing.T) {
	f := newFixture(t)
	f.job.To.Land = config.Land{Via: config.ViaMergeRequest, SourceBranch: "pending-prod", TargetBranch: "master"}
	if _, err := f.run(); err != nil {
		t.Fatal(err)
	}
	if r := f.landed().route; r.SourceBranch != "pending-prod" || r.TargetBranch != "master" {
		t.Errorf("route %+v", r)
	}
}

func TestMergeRequestNotGitLab(t *testing.T) {
	f := newFixture(t)
	f.job.To.Land = config.Land{Via: config.ViaMergeRequest, TargetBranch: "master"}
	f.job.To.DesiredState.Repo = "/srv/git/desired-state.git"
	_, err := f.run()
	if exit.ClassOf(err) != exit.Usage {
		t.Fatalf("err = %v, want a usage error", err)
	}
	f.nothingMoved()
}

func TestMergeRequestWait(t *testing.T) {
	for _, tc := range []struct {
		state string
		ok    bool
	}{{"merged", true}, {"closed", false}} {
		t.Run(tc.state, func(t *testing.T) {
			f := newFixture(t)
			f.job.Wait = true
			f.job.To.Land = config.Land{Via: config.ViaMergeRequest, TargetBranch: "master"}
			f.lander.landed.MergeRequestIID, f.lander.landed.Project = 5, "vendor-x/desired-state"
			f.mrs.state = tc.state
			out, err := f.run()
			if got := strings.Join(f.mrs.asked, " "); got != "vendor-x/desired-state!5" {
				t.Errorf("waited for %q", got)
			}
			if out.MergeState != tc.state {
				t.Errorf("merge state %q", out.MergeState)
			}
			if tc.ok != (err == nil) {
				t.Fatalf("err = %v", err)
			}
			if !tc.ok && (exit.ClassOf(err) != exit.Failed || !strings.Contains(err.Error(), "closed without being merged: nothing was promoted into prod")) {
				t.Errorf("err = %v", err)
			}
		})
	}
}

func TestMergeRequestWaitWithoutGitLab(t *testing.T) {
	f := newFixture(t)
	f.job.Wait = true
	f.job.To.Land = config.Land{Via: config.ViaMergeRequest, TargetBranch: "master"}
	f.lander.landed.MergeRequestIID = 5
	step := f.step()
	step.MRs = nil
	if _, err := step.Run(t.Context(), f.job); exit.ClassOf(err) != exit.Usage {
		t.Fatalf("err = %v", err)
	}
}

func tagFixture(t *testing.T) *fixture {
	f := newFixture(t)
	f.job.To.Land = config.Land{Via: config.ViaTag}
	f.job.To.TagPrefix = "master-"
	return f
}

func TestTagRoute(t *testing.T) {
	f := tagFixture(t)
	out, err := f.run()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{repoAPI + "@" + digestA + " master-abc retag=false"}; !slices.Equal(f.registry.tags, want) {
		t.Errorf("tags %v, want %v", f.registry.tags, want)
	}
	if len(f.lander.calls) != 0 {
		t.Error("the tag route edited the desired state")
	}
	if out.Landing.Via != "tag" || out.Tags["api"] != repoAPI+":master-abc" {
		t.Errorf("outcome %+v", out)
	}
}

func TestTagRouteDryRun(t *testing.T) {
	f := tagFixture(t)
	f.job.DryRun = true
	out, err := f.run()
	if err != nil {
		t.Fatal(err)
	}
	f.nothingMoved()
	if out.Tags["api"] != repoAPI+":master-abc" {
		t.Errorf("a dry run does not say what it would tag: %v", out.Tags)
	}
}

func TestTagRouteRefusals(t *testing.T) {
	t.Run("no registry", func(t *testing.T) {
		f := tagFixture(t)
		step := f.step()
		step.Registry = nil
		if _, err := step.Run(t.Context(), f.job); exit.ClassOf(err) != exit.Usage {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("tag exists for another digest", func(t *testing.T) {
		f := tagFixture(t)
		f.registry.tagErr = exit.Failedf("tag master-abc already names %s", digestB)
		if _, err := f.run(); exit.ClassOf(err) != exit.Failed {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("source without a tag", func(t *testing.T) {
		f := tagFixture(t)
		f.states.docs["staging"] = strings.Replace(stagingDSF, "      image.tag: \"stag-abc\"\n", "", 1)
		_, err := f.run()
		if exit.ClassOf(err) != exit.Usage || !strings.Contains(err.Error(), `names its images by the tag prefix "master-"`) {
			t.Fatalf("err = %v", err)
		}
		f.nothingMoved()
	})
}

func jenkinsFixture(t *testing.T) *fixture {
	f := newFixture(t)
	f.job.To.Land = config.Land{Via: config.ViaJenkins, Job: "promote-prod", Parameters: map[string]string{"CLUSTER": "prod-eu", "APP": "overridden"}}
	return f
}

func TestJenkinsRoute(t *testing.T) {
	f := jenkinsFixture(t)
	out, err := f.run()
	if err != nil {
		t.Fatal(err)
	}
	if len(f.jenkins.triggers) != 1 || f.jenkins.jobs[0] != "promote-prod" {
		t.Fatalf("triggered %v %v", f.jenkins.jobs, f.jenkins.triggers)
	}
	want := map[string]string{
		promote.ParamApp: "api", promote.ParamDigest: digestA, promote.ParamFrom: "staging", promote.ParamTo: "prod",
		promote.ParamHotfix: "false", promote.ParamRequestedBy: "maria", "CLUSTER": "prod-eu",
	}
	if got := f.jenkins.triggers[0]; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("parameters\n got %v\nwant %v", got, want)
	}
	if f.job.To.Land.Parameters["APP"] != "overridden" {
		t.Error("the configuration's parameters were changed")
	}
	if len(f.lander.calls) != 0 {
		t.Error("the run outside the job landed a change itself")
	}
	if out.Build == nil || out.Build.Number != 7 || out.Landing.Via != "jenkins" || out.Landing.Branch != "master" {
		t.Errorf("outcome %+v build %+v", out.Landing, out.Build)
	}
	if !strings.Contains(f.console.String(), "stepper promote") {
		t.Errorf("console not passed on: %q", f.console.String())
	}
}

func TestJenkinsRouteAllAndHotfix(t *testing.T) {
	f := jenkinsFixture(t)
	f.job.App, f.job.All, f.job.Hotfix = "", true, true
	f.job.To.Gates.HotfixSoak = "1h"
	f.job.To.Land.Parameters = map[string]string{"CLUSTER": "prod-eu"}
	if _, err := f.run(); err != nil {
		t.Fatal(err)
	}
	got := f.jenkins.triggers[0]
	_, app := got[promote.ParamApp]
	_, dig := got[promote.ParamDigest]
	if got[promote.ParamAll] != "true" || got[promote.ParamHotfix] != "true" || app || dig || got["CLUSTER"] != "prod-eu" {
		t.Errorf("parameters %v, want ALL and HOTFIX, no APP or DIGEST", got)
	}
}

func TestJenkinsRouteFailure(t *testing.T) {
	f := jenkinsFixture(t)
	f.jenkins.result = "FAILURE"
	out, err := f.run()
	if exit.ClassOf(err) != exit.Failed || !strings.Contains(err.Error(), "jenkins job promote-prod: build #7 ended FAILURE") {
		t.Fatalf("err = %v", err)
	}
	if out.Build == nil || out.Build.Result != "FAILURE" {
		t.Errorf("build %+v", out.Build)
	}
}

func TestJenkinsRouteFollowError(t *testing.T) {
	f := jenkinsFixture(t)
	f.jenkins.followErr = exit.Infraf("jenkins: console: connection reset")
	if _, err := f.run(); exit.ClassOf(err) != exit.Infra {
		t.Fatalf("err = %v", err)
	}
}

func TestJenkinsRouteDryRun(t *testing.T) {
	f := jenkinsFixture(t)
	f.job.DryRun = true
	out, err := f.run()
	if err != nil {
		t.Fatal(err)
	}
	f.nothingMoved()
	if out.Landing.Via != "jenkins" {
		t.Errorf("landing %+v", out.Landing)
	}
}

func TestJenkinsRouteWithoutJenkins(t *testing.T) {
	f := jenkinsFixture(t)
	step := f.step()
	step.Jenkins = nil
	_, err := step.Run(t.Context(), f.job)
	if exit.ClassOf(err) != exit.Usage || !strings.Contains(err.Error(), "through the Jenkins job promote-prod") {
		t.Fatalf("err = %v", err)
	}
}

// Inside the promotion job, the job's own run lands by commit and writes
// the audit into the build's description.
func TestJenkinsRouteInsideTheJob(t *testing.T) {
	f := jenkinsFixture(t)
	f.job.InJob, f.job.BuildURL = true, buildURL
	f.identity.source = "Jenkins build causes"
	out, err := f.run()
	if err != nil {
		t.Fatal(err)
	}
	if len(f.jenkins.triggers) != 0 {
		t.Error("the job triggered itself")
	}
	call := f.landed()
	if call.route.Via != land.ViaCommit {
		t.Errorf("route %+v, want a commit", call.route)
	}
	if call.change.Trailers.Pipeline != buildURL {
		t.Errorf("Stepper-Pipeline %q, want the build", call.change.Trailers.Pipeline)
	}
	if len(f.jenkins.descriptions) != 1 {
		t.Fatalf("descriptions %v", f.jenkins.descriptions)
	}
	url, text, _ := strings.Cut(f.jenkins.descriptions[0], "\n")
	if url != buildURL || !strings.HasPrefix(text, "Promotion staging → prod by maria (Jenkins build causes) at 2025-06-01T12:00:00Z.\nRun: "+buildURL) {
		t.Errorf("description of %s:\n%s", url, text)
	}
	if out.Landing.Via != land.ViaCommit {
		t.Errorf("landing %+v", out.Landing)
	}
}

func TestLandError(t *testing.T) {
	f := newFixture(t)
	f.lander.err = exit.Infraf("git push: 503")
	f.job.To.TagPrefix = "master-"
	out, err := f.run()
	if exit.ClassOf(err) != exit.Infra {
		t.Fatalf("err = %v", err)
	}
	if len(f.registry.tags) != 0 {
		t.Errorf("tags pushed though the landing failed: %v", f.registry.tags)
	}
	if out.Landing.Via != land.ViaCommit {
		t.Errorf("what did land is not reported: %+v", out.Landing)
	}
}
