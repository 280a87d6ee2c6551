package citemplates

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/stepper-cd/stepper/internal/report"
)

// project is a vendor repository checked out for gitlab-ci-local: its
// .gitlab-ci.yml includes the components from the templates project on the
// same git server, as a GitLab project includes them from its instance.
type project struct {
	dir string
	// vars are the project's CI/CD variables: name → environment scope →
	// value ("*" for every job), as GitLab's settings hold them; files are
	// the names of File variables, whose job variable is the path of a file
	// holding the value.
	vars  map[string]map[string]string
	files map[string]bool
	// protected are the names of protected variables, which GitLab gives
	// only to pipelines of protected refs.
	protected map[string]bool
	w         *world
	// listed says the included components were fetched and the pipeline
	// passed GitLab's CI schema (gitlab-ci-local --list).
	listed bool
}

// newProject commits files to a fresh repository name on the world's git
// server (default branch master) and checks it out.
func (w *world) newProject(t *testing.T, name string, files map[string]string) *project {
	t.Helper()
	repo, err := w.git.NewRepo(name, files)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), filepath.Base(name))
	gitRun(t, "", "clone", "--quiet", repo.HTTPURL, dir)
	gitRun(t, dir, "config", "user.name", "Vera Vendor")
	gitRun(t, dir, "config", "user.email", "vera@vendor-x.example")
	// GitLab's CI_DEFAULT_BRANCH; gitlab-ci-local reads it from origin/HEAD.
	gitRun(t, dir, "remote", "set-head", "origin", "master")
	return &project{dir: dir, vars: map[string]map[string]string{}, files: map[string]bool{}, protected: map[string]bool{}, w: w}
}

// set makes name a CI/CD variable of the project for every job.
func (p *project) set(name, value string) { p.setScoped(name, "*", value) }

// setFile makes name a File variable for every job.
func (p *project) setFile(name, value string) {
	p.set(name, value)
	p.files[name] = true
}

// setProtected makes name a protected variable only for jobs whose
// environment matches scope, as the signing key is in GitLab.
func (p *project) setProtected(name, scope, value string) {
	p.setScoped(name, scope, value)
	p.protected[name] = true
}

// setScoped makes name a variable only for jobs whose environment matches
// scope.
func (p *project) setScoped(name, scope, value string) {
	if p.vars[name] == nil {
		p.vars[name] = map[string]string{}
	}
	p.vars[name][scope] = value
}

// pipeline is one gitlab-ci-local run.
type pipeline struct {
	args   []string
	out    string
	code   int
	wall   time.Duration
	passed map[string]bool // by job, for the jobs that ran
	runs   []stepperRun    // of this run, from the timing shim
	p      *project
}

// run runs the pipeline of the checked-out commit with gitlab-ci-local's
// shell executor and the stepper under test on PATH: every job the rules
// admit, or only jobs when given (a manual job runs when named). vars are
// the run's own variables (--variable), such as the pipeline source.
func (p *project) run(t *testing.T, vars map[string]string, jobs ...string) *pipeline {
	t.Helper()
	varsFile := filepath.Join(".gitlab-ci-local", "project-variables.yml")
	if err := os.MkdirAll(filepath.Join(p.dir, ".gitlab-ci-local"), 0o755); err != nil {
		t.Fatal(err)
	}
	doc := map[string]any{}
	for name, scoped := range p.vars {
		if p.protected[name] && vars["CI_COMMIT_REF_PROTECTED"] != "true" {
			continue
		}
		kind := "variable"
		if p.files[name] {
			kind = "file"
		}
		doc[name] = map[string]any{"type": kind, "values": scoped}
	}
	b, _ := yaml.Marshal(doc)
	if err := os.WriteFile(filepath.Join(p.dir, varsFile), b, 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--force-shell-executor", "--shell-isolation", "--no-artifacts-to-source", "--no-color", "--no-json-schema-validation",
		"--variables-file", varsFile, "--timestamps"}
	if len(vars) > 0 {
		args = append(args, "--ignore-predefined-vars", strings.Join(slices.Sorted(maps.Keys(vars)), ","))
	}
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		if vars[k] == unset {
			args = append(args, "--unset-variable", k)
			continue
		}
		args = append(args, "--variable", k+"="+vars[k])
	}
	args = append(args, jobs...)
	if !p.listed {
		p.list(t)
	}
	before := len(p.w.stepperRuns(t))
	cmd := exec.CommandContext(t.Context(), p.w.glci, args...)
	cmd.Dir, cmd.Env = p.dir, p.w.jobEnv()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	pl := &pipeline{args: args, out: out.String(), wall: time.Since(start), passed: map[string]bool{}, p: p}
	if err != nil {
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) {
			t.Fatalf("gitlab-ci-local: %v\n%s", err, out.String())
		}
		pl.code = exitErr.ExitCode()
	}
	for _, line := range strings.Split(pl.out, "\n") {
		if m := verdict.FindStringSubmatch(line); m != nil {
			pl.passed[m[2]] = m[1] == "PASS"
		}
	}
	pl.runs = p.w.stepperRuns(t)[before:]
	return pl
}

// unset as the value of a run's variable removes a predefined one, such
// as CI_COMMIT_BRANCH, which merge request pipelines do not have.
const unset = "\x00unset"

// list fetches the components the pipeline includes and checks the
// expanded pipeline against GitLab's CI schema, with gitlab-ci-local
// --list. gitlab-ci-local 4.73 fetches includes concurrently, and two
// fetches of one file (four-phase includes each per-verb component once per
// environment) can collide in a cp ("File exists"); a fetched file is kept,
// so a second try completes what the first left.
func (p *project) list(t *testing.T) {
	t.Helper()
	var out []byte
	for try := 1; try <= 3; try++ {
		cmd := exec.CommandContext(t.Context(), p.w.glci, "--list", "--no-color")
		cmd.Dir, cmd.Env = p.dir, p.w.jobEnv()
		var err error
		if out, err = cmd.CombinedOutput(); err == nil {
			p.listed = true
			return
		}
		if !strings.Contains(string(out), "could not be fetched") {
			break
		}
		t.Logf("gitlab-ci-local --list, try %d: fetching the includes collided; again", try)
	}
	t.Fatalf("gitlab-ci-local --list:\n%s", out)
}

var verdict = regexp.MustCompile(`^\s*(PASS|FAIL)\s+(?:\[[^\]]*\]\s+)?(\S+)`)

// must fails the test unless every job in want ran and passed, and no
// other job ran.
func (pl *pipeline) must(t *testing.T, want ...string) {
	t.Helper()
	var failed []string
	for job, ok := range pl.passed {
		if !ok {
			failed = append(failed, job)
		}
	}
	if got := slices.Sorted(maps.Keys(pl.passed)); len(failed) > 0 || !slices.Equal(got, slices.Sorted(slices.Values(want))) {
		t.Fatalf("gitlab-ci-local %s: jobs %v ran (failed: %v), want %v passed\n%s", strings.Join(pl.args, " "), got, failed, want, pl.out)
	}
}

// result is the result file a job left in its artifacts.
func (pl *pipeline) result(t *testing.T, job, file string) *report.Result {
	t.Helper()
	r, err := report.ReadJSON(pl.p.artifact(job, file))
	if err != nil {
		t.Fatalf("job %s: %v\n%s", job, err, pl.out)
	}
	return r
}

// artifact is the path of a job's artifact, as gitlab-ci-local keeps it.
func (p *project) artifact(job, file string) string {
	return filepath.Join(p.dir, ".gitlab-ci-local", "artifacts", job, file)
}

// dotenv reads a job's dotenv report.
func (p *project) dotenv(t *testing.T, job, file string) map[string]string {
	t.Helper()
	// gitlab-ci-local keeps dotenv reports (alone of the reports) here.
	b, err := os.ReadFile(filepath.Join(p.dir, ".gitlab-ci-local", "artifacts", job, ".gitlab-ci-reports", "dotenv", file))
	if err != nil {
		t.Fatalf("job %s: dotenv report: %v", job, err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		k, v, _ := strings.Cut(line, "=")
		out[k] = v
	}
	return out
}

// stepperRun is one run of the stepper binary inside a job, as the shim
// records it.
type stepperRun struct {
	job        string
	start, end time.Time
	code       int
	// sawKey says whether the signing key's variable was in the job's
	// environment; the shim never records the value.
	sawKey bool
}

// stepperShim is put on the jobs' PATH as `stepper`: it runs the stepper
// under test and appends its job, start, end, exit code and whether the
// signing key variable was set to the timings file.
const stepperShim = `#!/bin/sh
start=$(date +%%s%%N)
%q "$@"
code=$?
end=$(date +%%s%%N)
key=no
[ -n "${COSIGN_PRIVATE_KEY:-}" ] && key=yes
echo "${CI_JOB_NAME:-none} $start $end $code $key" >> %q
exit $code
`

func (w *world) stepperRuns(t *testing.T) []stepperRun {
	t.Helper()
	f, err := os.Open(w.timings)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var runs []stepperRun
	s := bufio.NewScanner(f)
	for s.Scan() {
		var r stepperRun
		var start, end int64
		var key string
		if _, err := fmt.Sscan(s.Text(), &r.job, &start, &end, &r.code, &key); err != nil {
			t.Fatalf("timings line %q: %v", s.Text(), err)
		}
		r.start, r.end, r.sawKey = time.Unix(0, start), time.Unix(0, end), key == "yes"
		runs = append(runs, r)
	}
	return runs
}

// run is one stepper run's entry for job, or fails the test.
func (pl *pipeline) run(t *testing.T, job string) stepperRun {
	t.Helper()
	for _, r := range pl.runs {
		if r.job == job {
			return r
		}
	}
	t.Fatalf("no stepper run in job %s", job)
	return stepperRun{}
}

// inStepper is the time stepper processes ran during the pipeline, with
// runs that overlapped counted once: the wall time they account for.
func (pl *pipeline) inStepper() time.Duration {
	runs := slices.Clone(pl.runs)
	slices.SortFunc(runs, func(a, b stepperRun) int { return a.start.Compare(b.start) })
	var total time.Duration
	var end time.Time
	for _, r := range runs {
		switch {
		case r.start.After(end):
			total += r.end.Sub(r.start)
			end = r.end
		case r.end.After(end):
			total += r.end.Sub(end)
			end = r.end
		}
	}
	return total
}

func gitRun(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull, "GIT_TERMINAL_PROMPT=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// commit commits every change of the checkout, on branch when given
// (created from the current commit), and pushes it.
func (p *project) commit(t *testing.T, branch, message string, files map[string]string) string {
	t.Helper()
	if branch != "" {
		gitRun(t, p.dir, "checkout", "--quiet", "-B", branch)
	}
	for path, content := range files {
		full := filepath.Join(p.dir, filepath.FromSlash(path))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gitRun(t, p.dir, "add", "--all", ":!.gitlab-ci-local")
	gitRun(t, p.dir, "commit", "--quiet", "--allow-empty", "--message", message)
	gitRun(t, p.dir, "push", "--quiet", "origin", "HEAD")
	return gitRun(t, p.dir, "rev-parse", "HEAD")
}

// GitLab's default limits on a dotenv report: 20 variables and 5 KB
// (ci_dotenv_variables, ci_dotenv_size).
const (
	dotenvMaxVariables = 20
	dotenvMaxBytes     = 5 * 1024
)

// checkDotenvReports checks every dotenv report the project's pipelines
// left against GitLab's default limits, and that each of verbs' was seen.
func checkDotenvReports(t *testing.T, p *project, verbs ...string) {
	t.Helper()
	reports, _ := filepath.Glob(filepath.Join(p.dir, ".gitlab-ci-local", "artifacts", "*", ".gitlab-ci-reports", "dotenv", "*"))
	seen := map[string]bool{}
	for _, path := range reports {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) > dotenvMaxVariables || len(b) > dotenvMaxBytes {
			t.Errorf("%s: %d variables, %d bytes; GitLab takes at most %d and %d", filepath.Base(path), len(lines), len(b), dotenvMaxVariables, dotenvMaxBytes)
		}
		for _, l := range lines {
			if step, ok := strings.CutPrefix(l, "STEPPER_STEP="); ok {
				seen[step] = true
			}
		}
		t.Logf("dotenv %s: %d variables, %d bytes", filepath.Base(path), len(lines), len(b))
	}
	for _, verb := range verbs {
		if !seen[verb] {
			t.Errorf("no dotenv report of %s was checked", verb)
		}
	}
}

// checkDotenvHandOver: GitLab gives a job the dotenv variables of the jobs
// whose artifacts it takes, and stepper reads STEPPER_<FLAG> variables as
// its flags. The sign job's report names flags of validate and deploy
// (STEPPER_IMAGE is their --image, so with --from-result they refuse to
// run), which is why those take the build job's result, which has no
// report. promote takes the sign job's report on purpose: the names it
// shares with promote's flags are --app and --digest, and hold this
// pipeline's app and digest. smoke-test takes it for $STEPPER_IMAGE_REF,
// and always passes --image on its command line, which wins over
// STEPPER_IMAGE.
func checkDotenvHandOver(t *testing.T, p *project) {
	t.Helper()
	sign := p.dotenv(t, "stepper-sign", "stepper-sign.env")
	for verb, allowed := range map[string][]string{"promote": {"STEPPER_APP", "STEPPER_DIGEST"}, "smoke-test": {"STEPPER_APP", "STEPPER_IMAGE"}, "validate": nil, "deploy": nil} {
		help, err := exec.Command(p.w.bin, verb, "--help").CombinedOutput()
		if err != nil {
			t.Fatalf("stepper %s --help: %v", verb, err)
		}
		var shared []string
		for _, m := range regexp.MustCompile(`\(\$(STEPPER_[A-Z0-9_]+)\)`).FindAllStringSubmatch(string(help), -1) {
			if _, ok := sign[m[1]]; ok {
				shared = append(shared, m[1])
			}
		}
		slices.Sort(shared)
		switch {
		case allowed != nil && !slices.Equal(shared, allowed):
			t.Errorf("the sign job's dotenv report sets %v of %s's flags, want exactly %v", shared, verb, allowed)
		case allowed == nil && len(shared) == 0:
			t.Logf("the sign job's dotenv report no longer sets flags of %s; its job could take the sign job's artifacts", verb)
		case allowed == nil:
			t.Logf("the sign job's dotenv report sets %v, flags of stepper %s: its job takes only the build job's result", shared, verb)
		}
	}
}
