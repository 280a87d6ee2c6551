package land_test

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stepper-cd/stepper/internal/desiredstate"
	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/gitlab"
	"github.com/stepper-cd/stepper/internal/land"
	"github.com/stepper-cd/stepper/internal/release"
	"github.com/stepper-cd/stepper/internal/secret"
	"github.com/stepper-cd/stepper/internal/testenv"
)

// A Helmsman DSF as a vendor writes one: comments, an anchor, quoted and
// unquoted values, a value that looks like a number.
const dsf = `# desired state of exttest (comment kept)
settings: &defaults
  kubeContext: exttest
namespaces:
  exttest: {}
helmRepos:
  ehealth: https://charts.example.invalid
apps:
  api:
    namespace: exttest   # the team's namespace
    enabled: true
    chart: ehealth/service
    version: "1.0.0"
    set:
      image.repository: "registry.example/vendor/api"
      image.tag: "1.10"
      replicaCount: 2
  web:
    namespace: exttest
    enabled: true
    chart: ehealth/service
    version: 1.0.0
    set:
      image.repository: registry.example/vendor/web
      image.tag: '7'
`

func digest(c byte) string { return "sha256:" + strings.Repeat(string(c), 64) }

type fixture struct {
	repo   *testenv.Repo
	gitlab *testenv.FakeGitLab
	lander *land.Lander
	spec   land.Spec
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	git, err := testenv.StartGitServer(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(git.Stop)
	repo, err := git.NewRepo("vendor-x/desired-state", map[string]string{"exttest/dsf.yaml": dsf})
	if err != nil {
		t.Fatal(err)
	}
	gl := testenv.StartFakeGitLab(t)
	gl.AddProject("vendor-x/desired-state")
	client, err := gitlab.New(gitlab.Options{URL: gl.URL, Token: secret.NewValue(gl.Token, secret.NewSet())})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{
		repo: repo, gitlab: gl,
		lander: &land.Lander{Checkouts: &land.Checkouts{CacheDir: t.TempDir()}, MRs: client},
		spec:   land.Spec{Env: "exttest", Repo: repo.HTTPURL, Branch: "master", Path: "exttest/dsf.yaml", Format: "helmsman", Keys: desiredstate.DefaultKeys()},
	}
}

func setImage(app string, img release.Ref) func(desiredstate.Document) (bool, error) {
	return func(doc desiredstate.Document) (bool, error) {
		return doc.SetImage(app, desiredstate.Image{Repository: img.Repository, Tag: img.Tag, Digest: img.Digest})
	}
}

func change(app string, img release.Ref, started time.Time) land.Change {
	return land.Change{
		App: app, Edit: setImage(app, img),
		Guard: func(h []release.Entry) error {
			if len(h) == 0 {
				return nil
			}
			if why := release.Late(&h[0], img, started); why != "" {
				return exit.Failedf("refused: %s", why)
			}
			return nil
		},
		Trailers: release.Trailers{Action: release.ActionDeploy, App: app, Env: "exttest", Image: img, Started: started},
		Subject:  "deploy " + app + " to exttest: " + img.ShortDigest(),
		Branch:   "stepper/exttest/" + app + "-" + img.ShortDigest(),
		Title:    "deploy " + app,
	}
}

func rev(t *testing.T, r *testenv.Repo, ref string) string {
	t.Helper()
	sha, err := r.Rev(ref)
	if err != nil {
		t.Fatal(err)
	}
	return sha
}

func gitIn(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := exec.Command("git", append([]string{"--git-dir", dir}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// The commit route lands one commit with trailers that read back as the
// release; the same change again is a no-op.
func TestCommitRoute(t *testing.T) {
	f := newFixture(t)
	img := release.Ref{Repository: "registry.example/vendor/api", Tag: "2.0.0", Digest: digest('a')}
	now := time.Now()
	got, err := f.lander.Land(t.Context(), f.spec, land.Route{Via: land.ViaCommit}, change("api", img, now))
	if err != nil {
		t.Fatal(err)
	}
	if got.NoOp || got.Commit != rev(t, f.repo, "master") {
		t.Fatalf("landed %+v; master is %s", got, rev(t, f.repo, "master"))
	}
	content, _ := f.repo.ReadFile("master", "exttest/dsf.yaml")
	for _, want := range []string{"# the team's namespace", "image.tag: \"2.0.0\"", img.Digest, "image.tag: '7'"} {
		if !strings.Contains(content, want) {
			t.Errorf("the DSF lacks %q:\n%s", want, content)
		}
	}
	msg := gitIn(t, f.repo.Dir, "log", "-1", "--format=%B", "master")
	for _, want := range []string{"Stepper-Action: deploy", "Stepper-App: api", "Stepper-Image: " + img.String(), "Stepper-Started: "} {
		if !strings.Contains(msg, want) {
			t.Errorf("commit message lacks %q:\n%s", want, msg)
		}
	}
	again, err := f.lander.Land(t.Context(), f.spec, land.Route{Via: land.ViaCommit}, change("api", img, time.Now()))
	if err != nil || !again.NoOp {
		t.Fatalf("again: %+v, %v", again, err)
	}
}

// The government sample's route: merge-request into main with no source
// branch. The change goes to a branch of its own and a merge request from
// it; the target branch is never written (it would trigger the release).
func TestMergeRequestRouteNeverCommitsToTarget(t *testing.T) {
	for _, source := range []string{"", "master"} {
		t.Run("source="+source, func(t *testing.T) {
			f := newFixture(t)
			before := rev(t, f.repo, "master")
			img := release.Ref{Repository: "registry.example/vendor/api", Tag: "2.0.0", Digest: digest('b')}
			route := land.Route{Via: land.ViaMergeRequest, SourceBranch: source, TargetBranch: "master", Project: "vendor-x/desired-state"}
			ch := change("api", img, time.Now())
			for range 2 {
				got, err := f.lander.Land(t.Context(), f.spec, route, ch)
				if err != nil {
					t.Fatal(err)
				}
				if got.Branch != ch.Branch || got.MergeRequest == "" {
					t.Errorf("landed %+v", got)
				}
			}
			if after := rev(t, f.repo, "master"); after != before {
				t.Fatalf("the target branch moved: %s -> %s", before, after)
			}
			side := rev(t, f.repo, ch.Branch)
			if parent := gitIn(t, f.repo.Dir, "rev-parse", side+"^"); parent != before {
				t.Errorf("the change's parent is %s, want the target head %s", parent, before)
			}
			mrs := f.gitlab.MergeRequests("vendor-x/desired-state")
			if len(mrs) != 1 || mrs[0].SourceBranch != ch.Branch || mrs[0].TargetBranch != "master" {
				t.Fatalf("merge requests: %+v", mrs)
			}
			if !strings.Contains(mrs[0].Description, img.String()) || !strings.Contains(mrs[0].Description, "```diff") {
				t.Errorf("description:\n%s", mrs[0].Description)
			}
		})
	}
}

// eHealth's pre-production: changes go to master and one merge request
// from master into prod proposes them; its description lists every pending
// change, not only the last one's.
func TestSharedMergeRequestListsEveryPendingChange(t *testing.T) {
	f := newFixture(t)
	gitIn(t, f.repo.Dir, "branch", "prod", "master")
	route := land.Route{Via: land.ViaMergeRequest, SourceBranch: "master", TargetBranch: "prod", Project: "vendor-x/desired-state"}
	api := release.Ref{Repository: "registry.example/vendor/api", Tag: "2.0.0", Digest: digest('c')}
	web := release.Ref{Repository: "registry.example/vendor/web", Tag: "8", Digest: digest('d')}
	withRecord := func(c land.Change) land.Change {
		c.Description = "evidence of " + c.App
		return c
	}
	for _, c := range []land.Change{withRecord(change("api", api, time.Now())), withRecord(change("web", web, time.Now()))} {
		got, err := f.lander.Land(t.Context(), f.spec, route, c)
		if err != nil {
			t.Fatal(err)
		}
		if got.Branch != "master" || got.MergeRequest == "" {
			t.Errorf("landed %+v", got)
		}
	}
	mrs := f.gitlab.MergeRequests("vendor-x/desired-state")
	if len(mrs) != 1 || mrs[0].SourceBranch != "master" || mrs[0].TargetBranch != "prod" {
		t.Fatalf("merge requests: %+v", mrs)
	}
	// Each change's own record (a promotion's evidence) stays, the first's
	// beside the second's.
	for _, want := range []string{api.String(), web.String(), "2 pending", "evidence of api", "evidence of web", "in exttest"} {
		if !strings.Contains(mrs[0].Description+mrs[0].Title, want) {
			t.Errorf("merge request lacks %q:\n%s\n%s", want, mrs[0].Title, mrs[0].Description)
		}
	}
	if rev(t, f.repo, "prod") == rev(t, f.repo, "master") {
		t.Error("prod moved")
	}
}

// A late pipeline: run A read the desired state first, run B started after
// it and landed first (here between A's read and A's push, so A's push
// loses the race). A's edit is applied again on the newer head, and there
// the guard sees B's newer release and refuses: B's release stays.
func TestLatePipelineDoesNotOverwriteNewerRelease(t *testing.T) {
	f := newFixture(t)
	startedA := time.Now()
	older := release.Ref{Repository: "registry.example/vendor/api", Tag: "2.0.0", Digest: digest('e')}
	newer := release.Ref{Repository: "registry.example/vendor/api", Tag: "2.1.0", Digest: digest('f')}
	a := change("api", older, startedA)
	edit := a.Edit
	raced := false
	a.Edit = func(doc desiredstate.Document) (bool, error) {
		if !raced {
			raced = true
			other := &land.Lander{Checkouts: &land.Checkouts{}}
			if _, err := other.Land(context.Background(), f.spec, land.Route{}, change("api", newer, startedA.Add(time.Second))); err != nil {
				t.Errorf("run B: %v", err)
			}
		}
		return edit(doc)
	}
	_, err := f.lander.Land(t.Context(), f.spec, land.Route{}, a)
	if err == nil || !strings.Contains(err.Error(), "newer release") || exit.ClassOf(err) != exit.Failed {
		t.Fatalf("run A: %v", err)
	}
	content, _ := f.repo.ReadFile("master", "exttest/dsf.yaml")
	if !strings.Contains(content, newer.Digest) || strings.Contains(content, older.Digest) {
		t.Errorf("master:\n%s", content)
	}
}

// A rollback hold stops every release but the held image.
func TestRollbackHoldStopsDeploys(t *testing.T) {
	f := newFixture(t)
	held := release.Ref{Repository: "registry.example/vendor/api", Tag: "1.9.0", Digest: digest('1')}
	hold := change("api", held, time.Now())
	hold.Guard = nil
	hold.Trailers.Action, hold.Trailers.Hold, hold.Trailers.Reason = release.ActionRollback, true, "500s on /login"
	if _, err := f.lander.Land(t.Context(), f.spec, land.Route{}, hold); err != nil {
		t.Fatal(err)
	}
	next := release.Ref{Repository: "registry.example/vendor/api", Tag: "2.2.0", Digest: digest('2')}
	_, err := f.lander.Land(t.Context(), f.spec, land.Route{}, change("api", next, time.Now()))
	if err == nil || !strings.Contains(err.Error(), "held at") || !strings.Contains(err.Error(), "500s on /login") {
		t.Fatalf("deploy over a hold: %v", err)
	}
}

// The configured format is honoured: a Helmsman path that is not a
// Helmsman file is an error naming the file, not an empty environment.
func TestFormatIsHonoured(t *testing.T) {
	f := newFixture(t)
	s := f.spec
	s.Format = "flux"
	_, err := f.lander.Land(t.Context(), s, land.Route{}, change("api", release.Ref{Repository: "r/api", Tag: "1", Digest: digest('3')}, time.Now()))
	if err == nil || exit.ClassOf(err) != exit.Usage || !strings.Contains(err.Error(), "dsf.yaml") {
		t.Fatalf("flux format on a Helmsman file: %v", err)
	}
}

// The jenkins route is promote's: landing on it is refused with what to do.
func TestJenkinsRouteIsPromotes(t *testing.T) {
	f := newFixture(t)
	_, err := f.lander.Land(t.Context(), f.spec, land.Route{Via: land.ViaJenkins, Job: "promote-prod"}, land.Change{App: "api"})
	if err == nil || !strings.Contains(err.Error(), "stepper promote") {
		t.Fatal(err)
	}
}

// A desired state that is a directory (Flux's clusters/staging/apps) is
// edited where its files are, never written again at the repository root.
func TestDirectoryStateIsEditedInPlace(t *testing.T) {
	git, err := testenv.StartGitServer(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(git.Stop)
	hr := `# managed by the shop's platform team
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: blog-service
  namespace: shop
spec:
  interval: 5m
  chart:
    spec:
      chart: generic-service
      version: "1.2.0"
      sourceRef: {kind: HelmRepository, name: shop}
  values:
    image:
      repository: docker.io/hostedshop/blog-service
      tag: stag-1
`
	repo, err := git.NewRepo("shop/flux", map[string]string{"clusters/staging/apps/blog-service.yaml": hr})
	if err != nil {
		t.Fatal(err)
	}
	spec := land.Spec{Env: "staging", Repo: repo.HTTPURL, Branch: "master", Path: "clusters/staging/apps", Format: "flux", Keys: desiredstate.DefaultKeys()}
	img := release.Ref{Repository: "docker.io/hostedshop/blog-service", Tag: "stag-2", Digest: digest('9')}
	l := &land.Lander{Checkouts: &land.Checkouts{}}
	got, err := l.Land(t.Context(), spec, land.Route{}, change("blog-service", img, time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	files := gitIn(t, repo.Dir, "diff", "--name-only", got.Commit+"^", got.Commit)
	if files != "clusters/staging/apps/blog-service.yaml" {
		t.Fatalf("the commit changed %q", files)
	}
	content, _ := repo.ReadFile("master", "clusters/staging/apps/blog-service.yaml")
	if !strings.Contains(content, "tag: stag-2") || !strings.Contains(content, "# managed by") {
		t.Errorf("the HelmRelease:\n%s", content)
	}
}

// An edit the desired state refuses (here: a value an anchor shares) is a
// usage error naming the environment, never an infrastructure one, and
// nothing lands.
func TestRefusedEditIsAUsageError(t *testing.T) {
	f := newFixture(t)
	before := rev(t, f.repo, "master")
	ch := change("api", release.Ref{Repository: "registry.example/vendor/api", Tag: "2.0.0", Digest: digest('a')}, time.Now())
	ch.Edit = func(desiredstate.Document) (bool, error) {
		return false, errors.New("resources.limits is shared with other keys through an anchor")
	}
	_, err := f.lander.Land(t.Context(), f.spec, land.Route{Via: land.ViaCommit}, ch)
	if exit.ClassOf(err) != exit.Usage || !strings.Contains(err.Error(), "desired state of exttest") {
		t.Fatalf("err = %v (class %v), want a usage error naming exttest", err, exit.ClassOf(err))
	}
	if rev(t, f.repo, "master") != before {
		t.Error("a refused edit landed")
	}
}
