package citemplates

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/stepper-cd/stepper/internal/testenv"
)

// ehealthChartsURL is the eHealth chart repository the seed desired state
// names; a local one stands in for it.
const ehealthChartsURL = "https://registry.admin.ehealth.sundhed.dk/chartrepo/ehealth"

// The platform's Jenkins promotion jobs: the profile's for exttest, the
// platform file's for prod.
const (
	exttestJob = "ehealth-promote-exttest"
	prodJob    = "platform/promote-prod"
)

// ehealth is an eHealth vendor (seeds 000-002) on the local platform: the
// vendor chain devenvcgi → exttest → preprod → prod, Helmsman desired state
// in the vendor's GitLab project, the platform's Jenkins promotion jobs,
// a Kubernetes cluster the platform applies each environment to, and the
// vendor's project vendor-x/patient-api whose .gitlab-ci.yml is the
// README's eHealth example.
type ehealth struct {
	*world
	p        *project
	state    *testenv.Repo
	gitlab   *testenv.FakeGitLab
	jenkins  *testenv.FakeJenkins
	kube     *testenv.Kube
	key      testenv.CosignKey
	platform string // the platform file
	config   string // the vendor's stepper.yaml, as the platform's jobs check it out
	base     string // the approved base image, by digest
	url      string // where the app answers (every environment's, here)
	// env are the credentials the platform's own jobs have.
	env []string
}

func newEHealth(t *testing.T) *ehealth {
	w := newWorld(t, "vendor-x-ci")
	e := &ehealth{world: w, kube: kube.Get(t).Kube, gitlab: testenv.StartFakeGitLab(t), jenkins: testenv.StartFakeJenkins(t), url: smokeApp(t)}
	charts := chartRepository(t, map[string]string{"ehealth-spring-boot": "3.2.0", "ehealth-nginx": "1.8.0"})
	var err error
	e.state, err = w.git.NewRepo("vendor-x/desired-state", seed(t, "ehealth/desired-state", swaps{{ehealthChartsURL, charts}, {"registry.admin.ehealth.sundhed.dk", w.host}}))
	if err != nil {
		t.Fatal(err)
	}
	// preprod and prod read their files from prod, which master reaches by
	// a merge request.
	gitRun(t, e.state.Dir, "branch", "prod", "master")
	e.gitlab.AddProject("vendor-x/desired-state")
	e.gitlab.AddSubgroup("vendor-x", "release", "victor")
	e.gitlab.AddJobToken("test-only-job-token-victor", "victor")

	// The platform's file and keys, as its stepper image carries them.
	dir := t.TempDir()
	e.platform = writeFile(t, filepath.Join(dir, "ehealth-platform.yaml"), swaps{
		{"https://jenkins.ehealth.example", e.jenkins.URL},
		{"registry.admin.ehealth.sundhed.dk", w.host},
	}.apply(t, "ehealth-platform.yaml", readTestdata(t, "config/ehealth-platform.yaml")))
	if e.key, err = testenv.NewCosignKey(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	revoked, err := testenv.NewCosignKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "keys", "ehealth-2026.pub"), string(must(os.ReadFile(e.key.Public))))
	writeFile(t, filepath.Join(dir, "keys", "ehealth-2024.pub"), string(must(os.ReadFile(revoked.Public))))

	// The vendor's file: the sample, its addresses swapped, with the
	// vendor's own promoters on the vendor chain.
	config := swaps{
		{"https://gitlab.ehealth.example/", w.git.URL + "/"},
		{"https://gitlab.ehealth.example", e.gitlab.URL},
	}.apply(t, "ehealth-helmsman.yaml", readTestdata(t, "config/ehealth-helmsman.yaml"))
	for env, line := range map[string]string{
		"exttest": "    chainPromoters: &release-managers {vendor: [group:vendor-x/release]}",
		"preprod": "    chainPromoters: *release-managers",
		"prod":    "    chainPromoters: *release-managers",
	} {
		item := "  - name: " + env + "\n"
		config = strings.Replace(config, item, item+line+"\n", 1)
	}
	e.config = writeFile(t, filepath.Join(t.TempDir(), "stepper.yaml"), config)
	e.base = w.pushBase(t, "ehealth/base/java")
	pem := string(must(os.ReadFile(e.key.Private)))
	e.env = []string{"STEPPER_PLATFORM_CONFIG=" + e.platform, "HARBOR_USER=" + w.user, "HARBOR_PASSWORD=" + w.secret,
		"GITLAB_TOKEN=" + e.gitlab.Token, "JENKINS_USER=" + e.jenkins.User, "JENKINS_TOKEN=" + e.jenkins.Token}

	e.p = w.newProject(t, "vendor-x/patient-api", map[string]string{
		".gitlab-ci.yml": readmeExample(t, "ehealth-vendor", swaps{
			{"/etc/stepper/ehealth-platform.yaml", e.platform},
			{"https://patients.devenvcgi.vendor-x.ehealth.example", e.url},
			{"https://patients.exttest.vendor-x.ehealth.example", e.url},
			{"https://patients.preprod.vendor-x.ehealth.example", e.url},
			{"https://patients.vendor-x.ehealth.example", e.url},
		}),
		"stepper.yaml": config,
		"Dockerfile":   "FROM " + e.base + "\nCOPY server /app/server\nUSER 65532:65532\nENTRYPOINT [\"/app/server\"]\n",
		"server":       "#!/bin/false\npatient-api\n",
	})
	// The project's CI/CD variables, as the vendor and the platform set
	// them in GitLab. The signing key and its password are protected and
	// scoped to the environments whose jobs sign: the sign and validate
	// jobs' signing environment and each environment's smoke test.
	for _, scope := range []string{"stepper-signing", "devenvcgi", "exttest", "preprod", "prod"} {
		e.p.setProtected("COSIGN_PRIVATE_KEY", scope, pem)
		e.p.setProtected("COSIGN_PASSWORD", scope, testenv.TestOnlyKeyPassword)
	}
	for _, kv := range e.env[1:] {
		k, v, _ := strings.Cut(kv, "=")
		e.p.set(k, v)
	}
	// buildah pulls the base with it (containers-auth.json).
	e.p.setFile("REGISTRY_AUTH_FILE", w.authFile())
	e.p.set("KUBECONFIG", e.kube.Kubeconfig)
	e.addPromotionJobs(t)
	return e
}

// defaultBranch are the variables of a pipeline on the default branch,
// master, which is protected; victor pushed.
func defaultBranch() map[string]string {
	return map[string]string{"GITLAB_CI": "true", "CI_COMMIT_REF_PROTECTED": "true", "CI_JOB_TOKEN": "test-only-job-token-victor", "GITLAB_USER_LOGIN": "victor"}
}

// rollOut applies env's desired state to the cluster for the app, as the
// platform's Jenkins deployment pipeline does once the desired state
// changed (seed 001: it watches the Helmsman file and pushes updates to
// Kubernetes). The pipelines never do this themselves.
func (e *ehealth) rollOut(t *testing.T, env string) {
	t.Helper()
	e.stepper(t, e.env, "deploy", "--apply", "-c", e.config, "--env", env, "--app", "patient-api",
		"--kubeconfig", e.kube.Kubeconfig, "--timeout", "2m", "--log-format", "json")
}

// previousBuild pushes and signs another build of patient-api under tag,
// as the release an environment ran before.
func (e *ehealth) previousBuild(t *testing.T, tag string) {
	t.Helper()
	e.priorBuild(t, append(slices.Clone(e.env), "COSIGN_PRIVATE_KEY="+string(must(os.ReadFile(e.key.Private))), "COSIGN_PASSWORD="+testenv.TestOnlyKeyPassword),
		e.config, "patient-api", e.base, tag)
}

// addPromotionJobs adds the platform's Jenkins promotion jobs: each runs
// `stepper promote` with the build's parameters on an agent that has the
// platform's file and credentials and the vendor's stepper.yaml, and no
// GitLab job token; stepper there learns who started the build from
// Jenkins' causes.
func (e *ehealth) addPromotionJobs(t *testing.T) {
	e.jenkins.StartAs("victor")
	workspace := t.TempDir()
	for _, job := range []string{exttestJob, prodJob} {
		e.jenkins.AddJob(job, testenv.FakeJob{Run: func(ctx context.Context, b *testenv.FakeBuild, log io.Writer) string {
			p := b.Params
			args := []string{"promote", "-c", e.config, "--log-format", "json", "--from", p["FROM"], "--to", p["TO"], "--app", p["APP"], "--digest", p["DIGEST"]}
			fmt.Fprintf(log, "+ stepper %s\n", strings.Join(args, " "))
			cmd := exec.CommandContext(ctx, e.bin, args...)
			cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + workspace, "JENKINS_URL=" + e.jenkins.URL + "/",
				"BUILD_URL=" + b.URL, "JOB_NAME=" + job, "BUILD_NUMBER=" + strconv.Itoa(b.Number), "WORKSPACE=" + workspace}, e.env...)
			cmd.Dir, cmd.Stdout, cmd.Stderr = workspace, log, log
			if err := cmd.Run(); err != nil {
				fmt.Fprintf(log, "ERROR: stepper promote: %v\n", err)
				return "FAILURE"
			}
			return "SUCCESS"
		}})
	}
}

// The README's eHealth example on the default branch, then every manual
// job in chain order. The default-branch pipeline runs up to the smoke test
// in devenvcgi: the build job pushes by digest without the key, the sign
// job signs and tags, validate attests, deploy commits to devenvcgi's
// desired state, the platform rolls it out, and the smoke test proves it
// there with signed evidence. Then each promotion, through the platform's
// Jenkins job (exttest, prod) or the merge request into prod (preprod), each
// followed by the environment's roll-out and its smoke test; and a rollback.
// Logs the default-branch pipeline's wall time on gitlab-ci-local and the
// share spent outside stepper.
func TestEHealthPipelines(t *testing.T) {
	e := newEHealth(t)
	e.previousBuild(t, "1.4.1") // devenvcgi's, which a rollback returns to
	e.previousBuild(t, "1.4.0") // exttest's
	e.previousBuild(t, "1.3.2") // preprod's and prod's
	digest := e.defaultBranch(t)
	checkDotenvHandOver(t, e.p)
	e.promoteThroughTheChain(t, digest)
	e.rollBack(t, digest)
	checkDotenvReports(t, e.p, verbs...)
}

// defaultBranch runs the default-branch pipeline and returns the digest it
// built.
func (e *ehealth) defaultBranch(t *testing.T) string {
	before, _ := e.state.Rev("master")
	// Up to the deploy; the environment rolls out of the pipeline's sight,
	// so the smoke test runs once the platform has rolled it out.
	first := e.p.run(t, defaultBranch(), "stepper-build", "stepper-sign", "stepper-validate", "stepper-deploy-devenvcgi")
	first.must(t, "stepper-build", "stepper-sign", "stepper-validate", "stepper-deploy-devenvcgi")
	e.rollOut(t, "devenvcgi")
	second := e.p.run(t, defaultBranch(), "stepper-smoke-test-devenvcgi")
	second.must(t, "stepper-smoke-test-devenvcgi")

	built := first.result(t, "stepper-build", "stepper-build.json")
	signed := first.result(t, "stepper-sign", "stepper-sign.json")
	digest := signed.Digest
	if built.Digest != digest || built.Outputs["tagged"] != "false" || signed.Outputs["tagged"] != "true" {
		t.Errorf("build %s (tagged %s), sign %s (tagged %s): want one digest, tagged by the sign job only", built.Digest, built.Outputs["tagged"], digest, signed.Outputs["tagged"])
	}
	// SLSA build level 3: the key never reached the job that ran the
	// Dockerfile; it did reach the sign job.
	if b, s := first.run(t, "stepper-build").sawKey, first.run(t, "stepper-sign").sawKey; b || !s {
		t.Errorf("the signing key reached build: %v, sign: %v; want sign only", b, s)
	}
	if got := built.Outputs["builder"]; got != "buildah" {
		t.Errorf("the build job built with %q, want buildah from the Dockerfile", got)
	}
	// The registry: the digest, signed, tagged, with the validate verdict.
	ref := e.host + "/vendor-x/patient-api@" + digest
	e.verifySignature(t, e.key.Public, ref)
	tag := strings.Split(signed.Outputs["tags"], ",")[0]
	if got := e.tagDigest(t, "vendor-x/patient-api:"+tag); got != digest {
		t.Errorf("tag %s names %q, want %s", tag, got, digest)
	}
	e.verifySignature(t, e.key.Public, ref, "--type", "https://github.com/stepper-cd/stepper/attestations/validate/v1")
	validated := first.result(t, "stepper-validate", "stepper-validate.json")
	if validated.Status != "succeeded" || validated.Outputs["validate-attestation"] == "" {
		t.Errorf("validate: %s, attestation %q", validated.Status, validated.Outputs["validate-attestation"])
	}
	testenv.ValidateJUnit(t, e.p.artifact("stepper-validate", "stepper-validate.xml"))
	if _, err := os.Stat(e.p.artifact("stepper-validate", "stepper-code-quality.json")); err != nil {
		t.Errorf("validate's Code Quality report: %v", err)
	}

	// The desired state: one commit on master, to devenvcgi's file.
	after, _ := e.state.Rev("master")
	if after == before || gitRun(t, e.state.Dir, "rev-parse", "master^") != before {
		t.Fatalf("master %s -> %s: want one commit", before, after)
	}
	if files := gitRun(t, e.state.Dir, "diff", "--name-only", before, after); files != "devenvcgi/dsf.yaml" {
		t.Errorf("the deploy changed %q, want devenvcgi/dsf.yaml", files)
	}
	assertContains(t, "the deploy commit", gitRun(t, e.state.Dir, "log", "-1", "--format=%B", "master"),
		"Stepper-Action: deploy", "Stepper-Env: devenvcgi", "Stepper-Digest: "+digest, "Stepper-App: patient-api", "Stepper-Actor: victor")

	// The release in the cluster, and the smoke test's evidence about it.
	e.runs(t, "vendor-x-devenvcgi", digest)
	smoked := second.result(t, "stepper-smoke-test-devenvcgi", "stepper-smoke-test-devenvcgi.json")
	if smoked.Digest != digest || smoked.Env != "devenvcgi" {
		t.Errorf("the smoke test tested %s in %s, want %s in devenvcgi", smoked.Digest, smoked.Env, digest)
	}
	e.verifySignature(t, e.key.Public, ref, "--type", "https://github.com/stepper-cd/stepper/attestations/smoke-test/v1")

	wall := first.wall + second.wall
	in := first.inStepper() + second.inStepper()
	var jobs []string
	for _, r := range append(slices.Clone(first.runs), second.runs...) {
		jobs = append(jobs, fmt.Sprintf("%s %s", strings.TrimPrefix(r.job, "stepper-"), r.end.Sub(r.start).Round(10*time.Millisecond)))
	}
	t.Logf("default-branch pipeline on gitlab-ci-local: %s wall, %s in stepper (%s), %s (%.0f%%) outside stepper: gitlab-ci-local's parsing and job set-up, in two runs around the platform's roll-out, which is not counted, nor is fetching the components (done before, by --list)",
		wall.Round(time.Millisecond), in.Round(time.Millisecond), strings.Join(jobs, ", "), (wall - in).Round(time.Millisecond), 100*float64(wall-in)/float64(wall))
	return digest
}

// promoteThroughTheChain runs each manual promotion in chain order, each
// after the smoke test of the environment before, and the smoke test of
// the environment it reached once the platform rolled it out.
func (e *ehealth) promoteThroughTheChain(t *testing.T, digest string) {
	hex := strings.TrimPrefix(digest, "sha256:")

	// exttest: the platform's Jenkins job, which runs stepper promote and
	// commits to master.
	before, _ := e.state.Rev("master")
	e.p.run(t, defaultBranch(), "stepper-promote-exttest").must(t, "stepper-promote-exttest")
	b := e.lastBuild(t, exttestJob)
	if b.Result != "SUCCESS" || b.Params["APP"] != "patient-api" || b.Params["DIGEST"] != digest || b.Params["FROM"] != "devenvcgi" || b.Params["TO"] != "exttest" {
		t.Errorf("the exttest promotion build: %s with %v", b.Result, b.Params)
	}
	e.landed(t, "master", before, "exttest/dsf.yaml", "Stepper-Action: promote", "Stepper-From: devenvcgi", "Stepper-Env: exttest", "Stepper-Digest: "+digest, "Stepper-Actor: victor")
	e.rollOut(t, "exttest")
	e.runs(t, "vendor-x-exttest", digest)
	e.p.run(t, defaultBranch(), "stepper-smoke-test-exttest").must(t, "stepper-smoke-test-exttest")

	// preprod: a commit on master and the one merge request into prod,
	// which preprod rolls from once it is merged.
	before, _ = e.state.Rev("master")
	prod, _ := e.state.Rev("prod")
	e.p.run(t, defaultBranch(), "stepper-promote-preprod").must(t, "stepper-promote-preprod")
	e.landed(t, "master", before, "preprod/dsf.yaml", "Stepper-Action: promote", "Stepper-From: exttest", "Stepper-Env: preprod", "Stepper-Digest: "+digest)
	if now, _ := e.state.Rev("prod"); now != prod {
		t.Error("the preprod promotion moved prod before its merge request was merged")
	}
	mrs := e.gitlab.MergeRequests("vendor-x/desired-state")
	if len(mrs) != 1 || mrs[0].SourceBranch != "master" || mrs[0].TargetBranch != "prod" || !strings.Contains(mrs[0].Description, digest) {
		t.Fatalf("merge requests %+v: want the one from master into prod, naming %s", mrs, digest)
	}
	e.merge(t, mrs[0].IID)
	e.rollOut(t, "preprod")
	e.runs(t, "vendor-x-preprod", digest)
	e.p.run(t, defaultBranch(), "stepper-smoke-test-preprod").must(t, "stepper-smoke-test-preprod")

	// prod: the platform file's Jenkins job, which commits to prod.
	before, _ = e.state.Rev("prod")
	e.p.run(t, defaultBranch(), "stepper-promote-prod").must(t, "stepper-promote-prod")
	if b := e.lastBuild(t, prodJob); b.Result != "SUCCESS" || b.Params["DIGEST"] != digest || b.Params["FROM"] != "preprod" {
		t.Errorf("the prod promotion build: %s with %v", b.Result, b.Params)
	}
	e.landed(t, "prod", before, "prod/dsf.yaml", "Stepper-Action: promote", "Stepper-From: preprod", "Stepper-Env: prod", "Stepper-Digest: "+digest)
	dsf, _ := e.state.ReadFile("prod", "prod/dsf.yaml")
	assertContains(t, "prod/dsf.yaml", dsf, hex)
	e.rollOut(t, "prod")
	e.runs(t, "vendor-x-prod", digest)
	e.p.run(t, defaultBranch(), "stepper-smoke-test-prod").must(t, "stepper-smoke-test-prod")
}

// rollBack runs devenvcgi's rollback job: the deploy is undone by a held
// reverse commit, back to 1.4.1, and the platform rolls that out.
func (e *ehealth) rollBack(t *testing.T, digest string) {
	before, _ := e.state.Rev("master")
	e.p.run(t, defaultBranch(), "stepper-rollback-devenvcgi").must(t, "stepper-rollback-devenvcgi")
	e.landed(t, "master", before, "devenvcgi/dsf.yaml", "Stepper-Action: rollback", "Stepper-Env: devenvcgi", "Stepper-Hold: true", "Stepper-Reason: rolled back from http", "by victor")
	dsf, _ := e.state.ReadFile("master", "devenvcgi/dsf.yaml")
	if strings.Contains(dsf, strings.TrimPrefix(digest, "sha256:")) || !strings.Contains(dsf, `"1.4.1"`) {
		t.Errorf("devenvcgi/dsf.yaml after the rollback, want 1.4.1 back:\n%s", dsf)
	}
	e.rollOut(t, "devenvcgi")
	e.runs(t, "vendor-x-devenvcgi", e.tagDigest(t, "vendor-x/patient-api:1.4.1"))
}

// landed checks that one commit on branch, to path alone, is what changed
// since before, and that its message holds want.
func (e *ehealth) landed(t *testing.T, branch, before, path string, want ...string) {
	t.Helper()
	head, _ := e.state.Rev(branch)
	if head == before || gitRun(t, e.state.Dir, "rev-parse", head+"^") != before {
		t.Fatalf("%s %s -> %s: want one commit", branch, before, head)
	}
	if files := gitRun(t, e.state.Dir, "diff", "--name-only", before, head); files != path {
		t.Errorf("the commit on %s changed %q, want %s", branch, files, path)
	}
	assertContains(t, "the commit on "+branch, gitRun(t, e.state.Dir, "log", "-1", "--format=%B", head), want...)
}

// merge merges master into prod with a merge commit and marks the merge
// request merged, as GitLab does when a maintainer merges it.
func (e *ehealth) merge(t *testing.T, iid int) {
	t.Helper()
	work := filepath.Join(t.TempDir(), "work")
	gitRun(t, "", "clone", "--quiet", "--branch", "prod", e.state.Dir, work)
	gitRun(t, work, "-c", "user.name=Sara SRE", "-c", "user.email=sara@ehealth.example", "merge", "--quiet", "--no-ff", "-m", "Merge branch 'master' into 'prod'", "origin/master")
	gitRun(t, work, "push", "--quiet", "origin", "prod")
	e.gitlab.EditMergeRequest("vendor-x/desired-state", iid, func(m *testenv.GitLabMergeRequest) {
		now := time.Now().UTC()
		m.State, m.MergedAt, m.MergeStatus, m.DetailedMergeStatus = "merged", &now, "can_be_merged", "not_open"
	})
}

func (e *ehealth) lastBuild(t *testing.T, job string) testenv.FakeBuild {
	t.Helper()
	builds := e.jenkins.Builds(job)
	if len(builds) == 0 {
		t.Fatalf("no build of %s", job)
	}
	return builds[len(builds)-1]
}

// runs checks that the app's Deployment in namespace runs digest.
func (e *ehealth) runs(t *testing.T, namespace, digest string) {
	t.Helper()
	client, err := kubernetes.NewForConfig(e.kube.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	deps, err := client.AppsV1().Deployments(namespace).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var images []string
	for _, d := range deps.Items {
		for _, c := range d.Spec.Template.Spec.Containers {
			images = append(images, c.Image)
			if strings.HasSuffix(c.Image, "@"+digest) && d.Status.ReadyReplicas > 0 {
				return
			}
		}
	}
	t.Errorf("namespace %s runs %v, want a ready Deployment of @%s", namespace, images, digest)
}

func assertContains(t *testing.T, what, text string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, text)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// mergeRequest are the variables of a merge request pipeline: no
// CI_COMMIT_BRANCH, an unprotected ref, so no protected variable.
func mergeRequest(branch string) map[string]string {
	return map[string]string{"GITLAB_CI": "true", "CI_PIPELINE_SOURCE": "merge_request_event", "CI_COMMIT_BRANCH": unset,
		"CI_MERGE_REQUEST_IID": "7", "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": branch, "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "master",
		"CI_COMMIT_REF_PROTECTED": "false", "CI_JOB_TOKEN": "test-only-job-token-victor", "GITLAB_USER_LOGIN": "victor"}
}

// A merge request's pipeline builds without signing, validates with the
// findings as JUnit and Code Quality reports (the signature reported as not
// checked: --unsigned-build), and dry-runs the deploy to devenvcgi, which
// prints the desired-state diff; nothing is signed, tagged, committed or
// opened, and no job sees the protected key.
func TestEHealthMergeRequestPipeline(t *testing.T) {
	e := newEHealth(t)
	before, _ := e.state.Rev("master")
	e.p.commit(t, "feature/greeting", "greet in Danish", map[string]string{"server": "#!/bin/false\npatient-api, hej\n"})
	pl := e.p.run(t, mergeRequest("feature/greeting"))
	if !pl.passed["stepper-build"] || !pl.passed["stepper-validate"] || !pl.passed["stepper-deploy-devenvcgi-diff"] {
		t.Fatalf("merge request pipeline: %v, want build, validate and the deploy's dry run passed\n%s", pl.passed, pl.out)
	}
	for _, r := range pl.runs {
		if r.sawKey {
			t.Errorf("job %s saw the protected signing key in a merge request pipeline", r.job)
		}
	}
	built := pl.result(t, "stepper-build", "stepper-build.json")
	if built.Outputs["tagged"] != "false" || built.Outputs["signature"] != "" {
		t.Errorf("the merge request build: %v, want pushed by digest, unsigned and untagged", built.Outputs)
	}
	if got := e.tagDigest(t, "vendor-x/patient-api:"+built.Outputs["tags"]); got != "" {
		t.Errorf("the merge request build tagged %s", built.Outputs["tags"])
	}
	validated := pl.result(t, "stepper-validate", "stepper-validate.json")
	var findings []struct {
		CheckName string `json:"check_name"`
		Severity  string `json:"severity"`
	}
	if err := json.Unmarshal(must(os.ReadFile(e.p.artifact("stepper-validate", "stepper-code-quality.json"))), &findings); err != nil {
		t.Fatal(err)
	}
	var errs []string
	for _, f := range findings {
		if f.Severity == "critical" || f.Severity == "blocker" {
			errs = append(errs, f.CheckName)
		}
	}
	if validated.ExitCode != 0 || len(errs) != 0 {
		t.Errorf("validate: exit %d, errors %v in the Code Quality report; want 0 and none (the signature is checked once merged)", validated.ExitCode, errs)
	}
	testenv.ValidateJUnit(t, e.p.artifact("stepper-validate", "stepper-validate.xml"))
	if !strings.Contains(pl.out, "+") || !strings.Contains(pl.out, built.Outputs["image-ref"][strings.LastIndex(built.Outputs["image-ref"], "@")+8:][:12]) {
		t.Errorf("the deploy's dry run shows no diff naming the build's digest\n%s", pl.out)
	}
	if after, _ := e.state.Rev("master"); after != before {
		t.Error("a merge request pipeline changed the desired state")
	}
	if mrs := e.gitlab.MergeRequests("vendor-x/desired-state"); len(mrs) != 0 {
		t.Errorf("a merge request pipeline opened %d merge requests", len(mrs))
	}
}
