package cli

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stepper-cd/stepper/internal/testenv"
)

// seedFrom reads a testdata directory into a repository seed.
func seedFrom(t *testing.T, dir string) map[string]string {
	t.Helper()
	seed := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		seed[rel] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return seed
}

// deployFixture is a vendor that has built, signed and pushed an image, and
// three environments whose desired state is in git, one per format.
type deployFixture struct {
	*bspFixture
	built  string // the build-sign-push result file
	digest string
	repos  map[string]*testenv.Repo
	gitlab *testenv.FakeGitLab
}

func newDeployFixture(t *testing.T) *deployFixture {
	t.Helper()
	p := platform.Get(t)
	git, err := testenv.StartGitServer(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(git.Stop)
	_ = p
	repos := map[string]*testenv.Repo{}
	for name, dir := range map[string]string{
		"helmsman": filepath.Join("..", "..", "testdata", "desiredstate", "helmsman"),
		"flux":     filepath.Join("..", "..", "testdata", "desiredstate", "flux"),
		"helmfile": filepath.Join("..", "..", "testdata", "desiredstate", "helmfile"),
	} {
		seed := seedFrom(t, dir)
		for k := range seed {
			if strings.HasPrefix(k, "golden") {
				delete(seed, k)
			}
		}
		r, err := git.NewRepo("vendor-x/"+name, seed)
		if err != nil {
			t.Fatal(err)
		}
		repos[name] = r
	}
	f := &deployFixture{repos: repos, gitlab: testenv.StartFakeGitLab(t)}
	f.gitlab.AddProject("vendor-x/helmsman")
	tokenFile := filepath.Join(t.TempDir(), "gitlab-token")
	os.WriteFile(tokenFile, []byte(f.gitlab.Token), 0o600)
	f.gitlab.AddProject("vendor-x/helmfile")
	// One chain per platform; a test selects its chain with STEPPER_CHAIN.
	f.bspFixture = newBSPFixture(t, fmt.Sprintf(`
gitlab: {url: %q, token: "file://%s"}
chain: ehealth
chains:
  ehealth: [exttest, preprod]
  shop: [staging]
  gov: [notprod]
  govmr: [prod]
environments:
  - name: exttest
    desiredState: {repo: %q, branch: master, path: exttest.yaml, format: helmsman}
    land: {via: commit}
  - name: staging
    desiredState: {repo: %q, branch: master, path: staging/services.yaml, format: flux}
    land: {via: commit}
    tagPrefix: stag-
  - name: notprod
    desiredState: {repo: %q, branch: master, path: ".", format: helmfile}
    land: {via: commit}
  - name: preprod
    desiredState: {repo: %q, branch: master, path: exttest.yaml, format: helmsman}
    land: {via: merge-request, sourceBranch: master, targetBranch: prod}
  - name: prod
    desiredState: {repo: %q, branch: master, path: ".", format: helmfile}
    land: {via: merge-request, targetBranch: master}
`, f.gitlab.URL, tokenFile, repos["helmsman"].HTTPURL, repos["flux"].HTTPURL, repos["helmfile"].HTTPURL, repos["helmsman"].HTTPURL, repos["helmfile"].HTTPURL))
	args := f.args(t, "--tag", "2.7.0", "--allow-retag")
	if r := runCLI(t, f.environ, args...); r.code != 0 {
		t.Fatalf("build-sign-push: exit %d\n%s", r.code, r.stderr)
	}
	f.built = flagValue(t, args, "--result")
	f.digest = resultOf(t, args).Digest
	return f
}

// A release lands in each of the three formats as one commit with trailers;
// deploying it again is a no-op with no empty commit.
func TestDeployGitOpsEveryFormat(t *testing.T) {
	f := newDeployFixture(t)
	for _, tc := range []struct{ chain, env, app, repo, file string }{
		{"ehealth", "exttest", "patient-api", "helmsman", "exttest.yaml"},
		{"shop", "staging", "blog-service", "flux", "staging/services.yaml"},
		{"gov", "notprod", "casework-api", "helmfile", "environments/notprod/casework-api.yaml"},
	} {
		t.Run(tc.repo, func(t *testing.T) {
			repo := f.repos[tc.repo]
			before, _ := repo.Rev("master")
			env := append(f.environ, "HOME="+t.TempDir(), "STEPPER_CHAIN="+tc.chain)
			r := runCLI(t, env, "deploy", "-c", f.config, "--env", tc.env, "--app", tc.app, "--from-result", f.built)
			if r.code != 0 {
				t.Fatalf("exit %d\n%s", r.code, r.stderr)
			}
			after, _ := repo.Rev("master")
			if after == before {
				t.Fatal("nothing was committed")
			}
			msg := gitOut(t, repo.Dir, "log", "-1", "--format=%B", "master")
			for _, want := range []string{"deploy " + tc.app + " to " + tc.env + ": " + strings.TrimPrefix(f.digest, "sha256:")[:12],
				"Stepper-App: " + tc.app, "Stepper-Env: " + tc.env, "Stepper-Digest: " + f.digest} {
				if !strings.Contains(msg, want) {
					t.Errorf("commit message lacks %q:\n%s", want, msg)
				}
			}
			changed := gitOut(t, repo.Dir, "diff", "--name-only", before, after)
			if strings.TrimSpace(changed) == "" {
				t.Errorf("no file changed")
			}
			all, _ := repo.ReadFile("master", strings.Fields(changed)[0])
			if !strings.Contains(all, strings.TrimPrefix(f.digest, "sha256:")) && !strings.Contains(all, "2.7.0") {
				t.Errorf("%s lacks the release:\n%s", changed, all)
			}
			r = runCLI(t, env, "deploy", "-c", f.config, "--env", tc.env, "--app", tc.app, "--from-result", f.built)
			if r.code != 0 {
				t.Fatalf("second deploy: exit %d\n%s", r.code, r.stderr)
			}
			if again, _ := repo.Rev("master"); again != after {
				t.Errorf("a repeated deploy committed %s", again)
			}
		})
	}
}

// An unsigned image, or one whose tag moved, never lands.
func TestDeployRefusesUnsignedImages(t *testing.T) {
	f := newDeployFixture(t)
	build := f.args(t, "--tag", "9.9.9", "--phase", "build", "--allow-retag")
	os.WriteFile(filepath.Join(f.appDir, "server"), []byte("unsigned build"), 0o755)
	if r := runCLI(t, f.environ, append(build, "--config-set", "signing.key=file:///nonexistent")...); r.code != 0 {
		t.Fatalf("build: exit %d\n%s", r.code, r.stderr)
	}
	ref := resultOf(t, build).Outputs["image-ref"]
	before, _ := f.repos["helmsman"].Rev("master")
	r := runCLI(t, append(f.environ, "HOME="+t.TempDir()), "deploy", "-c", f.config, "--env", "exttest", "--app", "patient-api", "--image", ref)
	if r.code != 1 || !strings.Contains(r.stderr, "unsigned") {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if after, _ := f.repos["helmsman"].Rev("master"); after != before {
		t.Error("an unsigned image landed")
	}
}

// --dry-run prints the diff and the branch and pushes nothing.
func TestDeployDryRun(t *testing.T) {
	f := newDeployFixture(t)
	before, _ := f.repos["helmsman"].Rev("master")
	r := runCLI(t, append(f.environ, "HOME="+t.TempDir()), "deploy", "-c", f.config, "--env", "exttest", "--app", "patient-api", "--from-result", f.built, "--dry-run")
	if r.code != 0 || !strings.Contains(r.stdout, "would commit to master") || !strings.Contains(r.stdout, strings.TrimPrefix(f.digest, "sha256:")) {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if after, _ := f.repos["helmsman"].Rev("master"); after != before {
		t.Error("a dry run pushed")
	}
}

func gitOut(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// The government sample's route: a merge request into main with no source
// branch. The release goes to a branch of its own and a merge request from
// it; main, whose every commit triggers a release, is never written. A
// repeat makes sure of the same merge request.
func TestDeployMergeRequestFromABranchOfItsOwn(t *testing.T) {
	f := newDeployFixture(t)
	env := append(f.environ, "HOME="+t.TempDir(), "STEPPER_CHAIN=govmr")
	before, _ := f.repos["helmfile"].Rev("master")
	for range 2 {
		r := runCLI(t, env, "deploy", "-c", f.config, "--env", "prod", "--app", "casework-api", "--from-result", f.built, "-m", "fixes HOCS-77")
		if r.code != 0 {
			t.Fatalf("exit %d\n%s", r.code, r.stderr)
		}
	}
	if after, _ := f.repos["helmfile"].Rev("master"); after != before {
		t.Fatalf("the target branch moved: %s -> %s", before, after)
	}
	mrs := f.gitlab.MergeRequests("vendor-x/helmfile")
	if len(mrs) != 1 {
		t.Fatalf("%d merge requests, want 1", len(mrs))
	}
	mr := mrs[0]
	if !strings.HasPrefix(mr.SourceBranch, "stepper/prod/casework-api-") || mr.TargetBranch != "master" || mr.State != "opened" {
		t.Errorf("merge request %s -> %s (%s)", mr.SourceBranch, mr.TargetBranch, mr.State)
	}
	for _, want := range []string{f.digest, "signature: verified", "/-/pipelines/7", "```diff", "fixes HOCS-77"} {
		if !strings.Contains(mr.Description, want) {
			t.Errorf("description lacks %q:\n%s", want, mr.Description)
		}
	}
	if msg := gitOut(t, f.repos["helmfile"].Dir, "log", "-1", "--format=%B", mr.SourceBranch); !strings.Contains(msg, "fixes HOCS-77") {
		t.Errorf("--message is not in the commit:\n%s", msg)
	}
}

// A direct deploy goes only into the chain's first environment: preprod is
// reached by promote, with evidence from the environment before.
func TestDeploySkippingTheChainIsRefused(t *testing.T) {
	f := newDeployFixture(t)
	before, _ := f.repos["helmsman"].Rev("master")
	r := runCLI(t, append(f.environ, "HOME="+t.TempDir()), "deploy", "-c", f.config, "--env", "preprod", "--app", "patient-api", "--from-result", f.built)
	if r.code != 1 || !strings.Contains(r.stderr, "stepper promote --from exttest --to preprod") {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if after, _ := f.repos["helmsman"].Rev("master"); after != before {
		t.Error("a deploy that skipped the chain landed")
	}
	if len(f.gitlab.MergeRequests("vendor-x/helmsman")) != 0 {
		t.Error("a merge request was opened")
	}
}

// An environment with a tagPrefix (Flux image automation follows stag-*)
// gets the image tagged PREFIX+TAG at the verified digest, and its desired
// state names that tag.
func TestDeployTagsWithTheEnvironmentsPrefix(t *testing.T) {
	f := newDeployFixture(t)
	env := append(f.environ, "HOME="+t.TempDir(), "STEPPER_CHAIN=shop")
	r := runCLI(t, env, "deploy", "-c", f.config, "--env", "staging", "--app", "blog-service", "--from-result", f.built)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	ref := resultOf(t, []string{"--result", f.built}).Outputs["image-ref"]
	repo, _, _ := strings.Cut(ref, "@")
	if got := tagDigest(t, repo+":stag-2.7.0"); got != f.digest {
		t.Errorf("stag-2.7.0 points at %q, want %s", got, f.digest)
	}
	content, _ := f.repos["flux"].ReadFile("master", "staging/services.yaml")
	if !strings.Contains(content, "stag-2.7.0") {
		t.Errorf("the HelmRelease does not name stag-2.7.0:\n%s", content)
	}
}

// 20 pipelines deploy 20 apps into one environment repository at once, over
// HTTP: every one lands, none is lost.
func TestDeployConcurrentPipelines(t *testing.T) {
	p := platform.Get(t)
	_ = p
	git, err := testenv.StartGitServer(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(git.Stop)
	var dsf strings.Builder
	dsf.WriteString("helmRepos:\n  ehealth: https://charts.example.invalid\nnamespaces:\n  exttest: {}\napps:\n")
	for i := range 20 {
		fmt.Fprintf(&dsf, "  app-%02d:\n    namespace: exttest\n    enabled: true\n    chart: ehealth/service\n    version: \"1.0.0\"\n    set:\n      image.repository: old/app\n      image.tag: \"1\"\n\n", i)
	}
	repo, err := git.NewRepo("env.git", map[string]string{"exttest.yaml": dsf.String()})
	if err != nil {
		t.Fatal(err)
	}
	f := newBSPFixture(t, fmt.Sprintf(`
environments:
  - name: exttest
    desiredState: {repo: %q, branch: master, path: exttest.yaml, format: helmsman}
    land: {via: commit}
`, repo.HTTPURL))
	args := f.args(t, "--tag", "3.0.0", "--allow-retag")
	if r := runCLI(t, f.environ, args...); r.code != 0 {
		t.Fatalf("build-sign-push: exit %d\n%s", r.code, r.stderr)
	}
	built := flagValue(t, args, "--result")
	errs := make(chan string, 20)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			r := runCLI(t, f.environ, "deploy", "-c", f.config, "--env", "exttest", "--app", fmt.Sprintf("app-%02d", i), "--from-result", built)
			if r.code != 0 {
				errs <- fmt.Sprintf("app-%02d: exit %d\n%s", i, r.code, r.stderr)
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	final, err := repo.ReadFile("master", "exttest.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(final, "vendor-x/patient-api"); n != 20 {
		t.Errorf("%d of 20 apps carry the new image:\n%s", n, final)
	}
	if n := strings.Count(gitOut(t, repo.Dir, "log", "--format=%s", "master"), "deploy app-"); n != 20 {
		t.Errorf("%d deploy commits, want 20", n)
	}
}

// A tag that no longer names the digest given is refused: the release
// would say one thing and run another.
func TestDeployRefusesMovedTag(t *testing.T) {
	f := newDeployFixture(t)
	ref := resultOf(t, []string{"--result", f.built}).Outputs["image-ref"]
	repo, digest, _ := strings.Cut(ref, "@")
	os.WriteFile(filepath.Join(f.appDir, "server"), []byte("a newer build under the same tag"), 0o755)
	if r := runCLI(t, f.environ, f.args(t, "--tag", "2.7.0", "--allow-retag")...); r.code != 0 {
		t.Fatalf("rebuild: exit %d\n%s", r.code, r.stderr)
	}
	before, _ := f.repos["helmsman"].Rev("master")
	r := runCLI(t, append(f.environ, "HOME="+t.TempDir()), "deploy", "-c", f.config, "--env", "exttest", "--app", "patient-api", "--image", repo+":2.7.0@"+digest)
	if r.code != 1 || !strings.Contains(r.stderr, "the tag moved") {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if after, _ := f.repos["helmsman"].Rev("master"); after != before {
		t.Error("a deploy with a moved tag landed")
	}
}

// A release refused by the guard (here a rollback hold) pushes no
// prefixed tag: image automation following stag-* would roll out the
// release stepper refused to land.
func TestDeployRefusedPushesNoPrefixedTag(t *testing.T) {
	f := newDeployFixture(t)
	env := append(f.environ, "HOME="+t.TempDir(), "STEPPER_CHAIN=shop")
	tag := fmt.Sprintf("hold-%d", time.Now().UnixNano())
	args := f.args(t, "--tag", tag)
	if r := runCLI(t, f.environ, args...); r.code != 0 {
		t.Fatalf("build-sign-push: exit %d\n%s", r.code, r.stderr)
	}
	work := t.TempDir()
	gitOut(t, work, "clone", "--quiet", f.repos["flux"].Dir, ".")
	gitOut(t, work, "-c", "user.name=sre", "-c", "user.email=sre@example.invalid", "commit", "--quiet", "--allow-empty",
		"-m", "rollback blog-service in staging", "-m", "Stepper-Action: rollback\nStepper-App: blog-service\nStepper-Env: staging\n"+
			"Stepper-Image: docker.io/hostedshop/blog-service:1.0.0@sha256:"+strings.Repeat("1", 64)+"\nStepper-Hold: true\nStepper-Reason: INC-42")
	gitOut(t, work, "push", "--quiet", "origin", "HEAD:master")
	before, _ := f.repos["flux"].Rev("master")

	r := runCLI(t, env, "deploy", "-c", f.config, "--env", "staging", "--app", "blog-service", "--from-result", flagValue(t, args, "--result"))
	if r.code != 1 || !strings.Contains(r.stderr, "held at") || !strings.Contains(r.stderr, "INC-42") {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if after, _ := f.repos["flux"].Rev("master"); after != before {
		t.Error("a release landed over the hold")
	}
	repo, _, _ := strings.Cut(resultOf(t, args).Outputs["image-ref"], "@")
	if got := tagDigest(t, repo+":stag-"+tag); got != "" {
		t.Errorf("stag-%s was pushed (%s) for a release that did not land", tag, got)
	}
}

// A merge request's pipeline builds without signing: validate reports the
// signature as not checked, and a dry-run deploy shows the change, both
// with --unsigned-build; neither lands anything, and without --dry-run the
// flag is refused.
func TestMergeRequestBuildWithUnsignedBuild(t *testing.T) {
	f := newDeployFixture(t)
	build := f.args(t, "--tag", "9.9.8", "--phase", "build", "--allow-retag")
	os.WriteFile(filepath.Join(f.appDir, "server"), []byte("a merge request's build"), 0o755)
	if r := runCLI(t, f.environ, append(build, "--config-set", "signing.key=file:///nonexistent")...); r.code != 0 {
		t.Fatalf("build: exit %d\n%s", r.code, r.stderr)
	}
	result := flagValue(t, build, "--result")
	env := append(f.environ, "HOME="+t.TempDir())
	if r := runCLI(t, env, "validate", "-c", f.config, "--from-result", result, "--unsigned-build", "-o", "json"); !strings.Contains(r.stdout, "signed once merged") || strings.Contains(r.stderr, "not signed by an approved key") {
		t.Errorf("validate --unsigned-build: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	before, _ := f.repos["helmsman"].Rev("master")
	r := runCLI(t, env, "deploy", "-c", f.config, "--env", "exttest", "--app", "patient-api", "--from-result", result, "--dry-run", "--unsigned-build")
	if r.code != 0 || !strings.Contains(r.stdout, "would commit to master") {
		t.Fatalf("deploy --dry-run --unsigned-build: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if r := runCLI(t, env, "deploy", "-c", f.config, "--env", "exttest", "--app", "patient-api", "--from-result", result, "--unsigned-build"); r.code != 2 {
		t.Errorf("deploy --unsigned-build without --dry-run: exit %d, want 2\n%s", r.code, r.stderr)
	}
	if after, _ := f.repos["helmsman"].Rev("master"); after != before {
		t.Error("an unsigned build landed")
	}
}
