package cli

import (
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/stepper-cd/stepper/internal/helm"
	"github.com/stepper-cd/stepper/internal/release"
	"github.com/stepper-cd/stepper/internal/report"
	"github.com/stepper-cd/stepper/internal/testenv"
	"github.com/stepper-cd/stepper/steps/rollback"
)

// Tests of stepper rollback --apply through the CLI on kwok: each builds
// the images it rolls between, so that no other test signs, moves or
// deletes them.

// buildImage builds, signs with the fixture's approved key and pushes an
// image of the app whose content is this fixture's own, tagged tag.
func (f *applyFixture) buildImage(t testing.TB, tag string) release.Ref {
	t.Helper()
	base, err := testenv.PushBaseImage(t.Context(), f.host, "base/static")
	if err != nil {
		t.Fatal(err)
	}
	app, dir := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(app, "server"), []byte("#!/bin/false\n"+f.prefix+" "+tag+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	args := []string{"build-sign-push", "-c", f.config, "--log-format", "json", "--result", filepath.Join(dir, "result.json"),
		"--base", base.String(), "--layer", app + ":/app", "--entrypoint", "/app/server", "--user", "65532:65532", "--tag", tag}
	if r := runCLI(t, append(slices.Clone(f.environ), "CI_PROJECT_NAME=patient-api"), args...); r.code != 0 {
		t.Fatalf("build-sign-push %s: exit %d\n%s", tag, r.code, r.stderr)
	}
	res := resultOf(t, args)
	return release.Ref{Repository: res.Image, Tag: tag, Digest: res.Digest}
}

// rbRelease is one app of a desired state the rollback tests apply: the
// fixture's chart patient-api at version, running image.
type rbRelease struct {
	name, ns, version string
	image             release.Ref
	// repoURL is the chart repository; the fixture's when "".
	repoURL string
	// values is the content of a values file of the app; none when "".
	values string
}

// stateOf writes a Helmsman desired state of r into a directory of its own
// and returns the file.
func (f *applyFixture) stateOf(t testing.TB, r rbRelease) string {
	t.Helper()
	dir := t.TempDir()
	var b strings.Builder
	fmt.Fprintf(&b, "namespaces:\n  %s:\nhelmRepos:\n  local: %q\napps:\n  %s:\n    namespace: %s\n    enabled: true\n    chart: local/patient-api\n    version: %s\n",
		r.ns, cmp.Or(r.repoURL, f.repoURL), r.name, r.ns, r.version)
	if r.values != "" {
		if err := os.WriteFile(filepath.Join(dir, "values.yaml"), []byte(r.values), 0o644); err != nil {
			t.Fatal(err)
		}
		b.WriteString("    valuesFiles: [values.yaml]\n")
	}
	fmt.Fprintf(&b, "    set:\n      image.repository: %s\n      image.tag: %q\n      image.digest: %q\n      autoscaling.enabled: false\n      replicaCount: 2\n",
		r.image.Repository, r.image.Tag, r.image.Digest)
	path := filepath.Join(dir, "dsf.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// helm3 runs helm3 install or upgrade of app in ns: the fixture's chart
// patient-api at version, running img, waited for.
func (f *applyFixture) helm3(t testing.TB, verb, app, ns, version string, img release.Ref) {
	t.Helper()
	args := []string{verb, app, "patient-api", "--repo", f.repoURL, "--version", version, "-n", ns, "--wait", "--timeout", "2m",
		"--set", fmt.Sprintf("image.repository=%s,image.tag=%s,image.digest=%s,autoscaling.enabled=false,replicaCount=2", img.Repository, img.Tag, img.Digest)}
	if verb == "install" {
		args = append(args, "--create-namespace")
	}
	f.helmCLI(t, "helm3", args...)
}

// rollbackArgs are the command line of stepper rollback --apply of app in
// ns, writing a result file of its own.
func (f *applyFixture) rollbackArgs(t testing.TB, app, ns, reason string, extra ...string) []string {
	return append([]string{"--config", f.config, "--log-format", "json", "--result", filepath.Join(t.TempDir(), "rollback.json"),
		"rollback", "--env", applyEnv, "--app", app, "--apply", "--namespace", ns, "--kubeconfig", f.kubeconfig, "--timeout", "2m",
		"--reason", reason}, extra...)
}

// refused runs args, which must exit 1 with every one of want in stderr
// and leave the release's history as it was.
func (f *applyFixture) refused(t testing.TB, app, ns string, args []string, want ...string) {
	t.Helper()
	before := f.history(t, app, ns)
	r := runCLI(t, f.environ, args...)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1 (refused)\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	for _, w := range want {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
		}
	}
	if after := f.history(t, app, ns); after != before {
		t.Errorf("a refused rollback changed the history: %q, was %q", after, before)
	}
}

// image is the image of the Deployment's first container.
func (f *applyFixture) image(t testing.TB, name, ns string) string {
	t.Helper()
	d, err := f.client.AppsV1().Deployments(ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("deployment %s/%s: %v", ns, name, err)
	}
	return d.Spec.Template.Spec.Containers[0].Image
}

// revision is revision n of the release.
func (f *applyFixture) revision(t testing.TB, name, ns string, n int) *helm.ReleaseResult {
	t.Helper()
	hist, err := f.helm.History(t.Context(), f.cluster, name, ns)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range hist {
		if r.Revision == n {
			return r
		}
	}
	t.Fatalf("release %s/%s has no revision %d", ns, name, n)
	return nil
}

// rollbackResult is a rollback's result file with its details.
type rollbackResult struct {
	report.Result
	Details rollback.Outcome `json:"details"`
}

func readRollbackResult(t testing.TB, args []string) (rollbackResult, string) {
	t.Helper()
	raw := mustRead(t, flagValue(t, args, "--result"))
	var res rollbackResult
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatalf("result file: %v\n%s", err, raw)
	}
	return res, string(raw)
}

// A crash-looping upgrade deployed without --rollback-on-failure stays
// failed; stepper rollback --apply returns the release to its last
// deployed revision, waits for it, and records what it did.
func TestRollbackApplyAfterCrashLoop(t *testing.T) {
	t.Parallel()
	f := newApplyFixture(t)
	ns := f.ns("app")
	good, bad := f.buildImage(t, "rb-"+f.prefix+"-good"), f.buildImage(t, "rb-"+f.prefix+"-bad")
	// Both releases render a database password into their manifests, and
	// have it in their values: no output of the rollback may show it.
	password := canarySecret{name: "database password", value: "canary-rollback-db-password-3c81f0"}
	secretValues := "database:\n  literalPassword: " + password.value + "\n"
	f.apply(t, f.stateOf(t, rbRelease{name: "records", ns: ns, version: "1.4.0", image: good, values: secretValues}))
	crash := f.stateOf(t, rbRelease{name: "records", ns: ns, version: "1.5.0", image: bad, values: secretValues + chaosValues})
	if r := runCLI(t, f.environ, f.args(crash)...); r.code != 1 {
		t.Fatalf("the crash-looping upgrade: exit %d, want 1\n%s", r.code, r.stderr)
	}
	if h := f.history(t, "records", ns); h != "1:deployed 2:failed" {
		t.Fatalf("after the failed upgrade: history %q, want 1:deployed 2:failed", h)
	}

	// A dry run checks and changes nothing.
	dry := f.rollbackArgs(t, "records", ns, "dry", "--dry-run")
	if r := runCLI(t, f.environ, dry...); r.code != 0 {
		t.Fatalf("dry run: exit %d\n%s", r.code, r.stderr)
	}
	if h := f.history(t, "records", ns); h != "1:deployed 2:failed" {
		t.Errorf("the dry run changed the history to %q", h)
	}

	const reason = "INC-7: records 1.5.0 crash-loops on start"
	args := f.rollbackArgs(t, "records", ns, reason)
	r := runCLI(t, f.environ, args...)
	if r.code != 0 {
		t.Fatalf("rollback: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if h := f.history(t, "records", ns); h != "1:superseded 2:failed 3:deployed" {
		t.Errorf("history %q, want 1:superseded 2:failed 3:deployed", h)
	}
	st, err := f.helm.Status(t.Context(), f.cluster, "records", ns)
	if err != nil {
		t.Fatal(err)
	}
	if st.Revision != 3 || st.Status != "deployed" || st.RolledBackTo != 1 || st.Chart != "patient-api-1.4.0" {
		t.Errorf("status: revision %d %s rolled back to %d chart %s; want 3 deployed 1 patient-api-1.4.0", st.Revision, st.Status, st.RolledBackTo, st.Chart)
	}
	f.ready(t, "records", ns)
	if img := f.image(t, "records", ns); img != good.String() {
		t.Errorf("the Deployment runs %s, want %s", img, good)
	}
	if l := f.podLabel(t, "records", ns, testenv.ChaosFailBeforeReady); l != "" {
		t.Errorf("the Deployment still has the crashing version's pods (%s=%s)", testenv.ChaosFailBeforeReady, l)
	}

	res, raw := readRollbackResult(t, args)
	leaks := slices.Concat(scanText("stdout", []byte(r.stdout), []canarySecret{password}),
		scanText("stderr", []byte(r.stderr), []canarySecret{password}), scanText("result file", []byte(raw), []canarySecret{password}))
	for _, l := range leaks {
		t.Errorf("the rollback leaked the release's secret: %s", l)
	}
	if res.Status != report.Succeeded || res.Env != applyEnv || res.App != "records" || res.Image != good.Repository || res.Digest != good.Digest {
		t.Errorf("result %s %s/%s %s@%s; want succeeded %s/records %s", res.Status, res.Env, res.App, res.Image, res.Digest, applyEnv, good.Pinned())
	}
	if o := res.Outputs; o[release.OutRolledBackFrom] != bad.String() || o[release.OutReason] != reason || o[release.OutImageRef] != good.String() {
		t.Errorf("outputs %v; want rolled-back-from %s, reason %q, image-ref %s", o, bad, reason, good)
	}
	d := res.Details
	if d.From.Digest != bad.Digest || d.To.Digest != good.Digest || d.Chart != "1.4.0" || d.Reason != reason || d.Reverts != "revision 2" {
		t.Errorf("details from %s to %s chart %s reason %q reverts %q", d.From, d.To, d.Chart, d.Reason, d.Reverts)
	}
	if d.Helm == nil || d.Helm.Revision != 3 || d.Helm.RolledBackTo != 1 || d.Helm.Status != "deployed" {
		t.Errorf("details.helm %+v, want revision 3 rolled back to 1, deployed", d.Helm)
	}
	if d.Migrations == nil || d.Migrations.Found {
		t.Errorf("details.migrations %+v, want none found", d.Migrations)
	}
	if len(d.Gates) == 0 || len(res.Checks) != len(d.Gates) {
		t.Errorf("gates %+v, checks %+v: want the target's gates, each a check", d.Gates, res.Checks)
	}
	for _, g := range d.Gates {
		if !g.Passed {
			t.Errorf("gate %s did not pass: %s", g.Gate, g.Found)
		}
	}
}

// smoke-test --rollback-on-failure after a failed health check: the Helm
// release goes back to its last deployed revision, the result names what
// was restored, and the smoke test still exits 1.
func TestRollbackApplyFromSmokeTest(t *testing.T) {
	t.Parallel()
	f := newApplyFixture(t)
	ns := f.ns("smoke")
	v1, v2 := f.buildImage(t, "rb-"+f.prefix+"-v1"), f.buildImage(t, "rb-"+f.prefix+"-v2")
	f.apply(t, f.stateOf(t, rbRelease{name: "api", ns: ns, version: "1.4.0", image: v1}))
	f.apply(t, f.stateOf(t, rbRelease{name: "api", ns: ns, version: "1.5.0", image: v2}))

	url := runSmokeApp(t, "HEALTH_STATUS=500")
	result := filepath.Join(t.TempDir(), "smoke.json")
	r := runCLI(t, f.environ, "smoke-test", "-c", f.config, "--log-format", "json", "--result", result,
		"--env", applyEnv, "--app", "api", "--namespace", ns, "--kubeconfig", f.kubeconfig,
		"--url", url, "--timeout", "15s", "--soak", "0", "--no-evidence", "--rollback-on-failure")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1 (the smoke test failed)\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if h := f.history(t, "api", ns); h != "1:superseded 2:superseded 3:deployed" {
		t.Errorf("history %q, want 1:superseded 2:superseded 3:deployed\nstderr:\n%s", h, r.stderr)
	}
	st, err := f.helm.Status(t.Context(), f.cluster, "api", ns)
	if err != nil {
		t.Fatal(err)
	}
	if st.RolledBackTo != 1 || st.Chart != "patient-api-1.4.0" {
		t.Errorf("status: rolled back to %d chart %s; want 1 patient-api-1.4.0", st.RolledBackTo, st.Chart)
	}
	f.ready(t, "api", ns)
	if img := f.image(t, "api", ns); img != v1.String() {
		t.Errorf("the Deployment runs %s, want %s", img, v1)
	}
	res, err := report.ReadJSON(result)
	if err != nil {
		t.Fatal(err)
	}
	restored := res.Outputs[release.OutRestored]
	if want := fmt.Sprintf("Helm release %s/api revision 1", ns); !strings.Contains(restored, want) || !strings.Contains(restored, v1.Digest) {
		t.Errorf("outputs.restored = %q; want it to name %q and %s", restored, want, v1.Digest)
	}
	if res.Status != report.Failed {
		t.Errorf("result status %s, want failed", res.Status)
	}
}

// A release installed and upgraded by the Helm 3 CLI rolls back with
// stepper client-side, as Helm 3 applied it, and Helm 3 goes on with it.
func TestRollbackApplyHelm3Release(t *testing.T) {
	t.Parallel()
	f := newApplyFixture(t)
	ns := f.ns("helm3")
	v1, v2 := f.buildImage(t, "rb-"+f.prefix+"-v1"), f.buildImage(t, "rb-"+f.prefix+"-v2")
	f.helm3(t, "install", "records", ns, "1.4.0", v1)
	f.helm3(t, "upgrade", "records", ns, "1.5.0", v2)

	r := runCLI(t, f.environ, f.rollbackArgs(t, "records", ns, "v2 answers 500")...)
	if r.code != 0 {
		t.Fatalf("rollback: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	st, err := f.helm.Status(t.Context(), f.cluster, "records", ns)
	if err != nil {
		t.Fatal(err)
	}
	if st.Revision != 3 || st.Status != "deployed" || st.RolledBackTo != 1 || st.Chart != "patient-api-1.4.0" || st.ApplyMethod != helm.ApplyClientSide {
		t.Errorf("status: revision %d %s rolled back to %d chart %s applied %s; want 3 deployed 1 patient-api-1.4.0 client-side",
			st.Revision, st.Status, st.RolledBackTo, st.Chart, st.ApplyMethod)
	}
	f.ready(t, "records", ns)
	if img := f.image(t, "records", ns); img != v1.String() {
		t.Errorf("the Deployment runs %s, want %s", img, v1)
	}
	out := f.helmCLI(t, "helm3", "history", "records", "-n", ns)
	if !strings.Contains(out, "Rollback to 1") || strings.Count(out, "deployed") != 1 {
		t.Errorf("helm3 history after the rollback:\n%s", out)
	}
	// Helm 3 upgrades the release again: no field of it is owned by a
	// manager Helm 3 conflicts with.
	f.helm3(t, "upgrade", "records", ns, "1.5.0", v2)
	if h := f.history(t, "records", ns); h != "1:superseded 2:superseded 3:superseded 4:deployed" {
		t.Errorf("after helm3 upgraded again: history %q", h)
	}
}

// The revision a rollback would return to must still be installable: an
// image deleted from the registry, or never signed, is refused before
// anything changes; a revision that does not exist is a usage error.
func TestRollbackApplyRefusesUninstallableTarget(t *testing.T) {
	t.Parallel()
	f := newApplyFixture(t)
	current := f.buildImage(t, "rb-"+f.prefix+"-current")

	t.Run("image deleted", func(t *testing.T) {
		t.Parallel()
		ns := f.ns("gone")
		gone := f.buildImage(t, "rb-"+f.prefix+"-gone")
		f.apply(t, f.stateOf(t, rbRelease{name: "records", ns: ns, version: "1.4.0", image: gone}))
		f.apply(t, f.stateOf(t, rbRelease{name: "records", ns: ns, version: "1.5.0", image: current}))
		ref, err := name.NewDigest(gone.Pinned(), name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Delete(ref, remote.WithContext(t.Context())); err != nil {
			t.Fatal(err)
		}
		f.refused(t, "records", ns, f.rollbackArgs(t, "records", ns, "v2 is slow"),
			"refused", gone.ShortDigest(), "gone from the registry")
		if img := f.image(t, "records", ns); img != current.String() {
			t.Errorf("the Deployment runs %s, want %s still", img, current)
		}
	})

	t.Run("image not signed", func(t *testing.T) {
		t.Parallel()
		ns := f.ns("unsigned")
		img, err := random.Image(512, 1)
		if err != nil {
			t.Fatal(err)
		}
		tag, err := name.NewTag(current.Repository+":rb-"+f.prefix+"-unsigned", name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(tag, img, remote.WithContext(t.Context())); err != nil {
			t.Fatal(err)
		}
		d, _ := img.Digest()
		unsigned := release.Ref{Repository: current.Repository, Tag: tag.TagStr(), Digest: d.String()}
		// deploy --apply installs only signed images; the Helm 3 CLI does not ask.
		f.helm3(t, "install", "records", ns, "1.4.0", unsigned)
		f.helm3(t, "upgrade", "records", ns, "1.5.0", current)
		f.refused(t, "records", ns, f.rollbackArgs(t, "records", ns, "v2 is slow"),
			"refused", unsigned.ShortDigest(), "signed by an approved key")
		if got := f.image(t, "records", ns); got != current.String() {
			t.Errorf("the Deployment runs %s, want %s still", got, current)
		}

		// Revisions and releases that cannot be returned to are usage errors.
		for _, tc := range []struct {
			app  string
			args []string
			want string
		}{
			{"records", []string{"--to-revision", "2"}, "is the current one"},
			{"records", []string{"--to-revision", "7"}, "revision 7 not found"},
			{"nosuch", nil, "there is no Helm release nosuch in namespace " + ns},
		} {
			r := runCLI(t, f.environ, f.rollbackArgs(t, tc.app, ns, "typo", tc.args...)...)
			if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("%s %v: exit %d, want 2 saying %q\n%s", tc.app, tc.args, r.code, tc.want, r.stderr)
			}
		}
		if h := f.history(t, "records", ns); h != "1:superseded 2:deployed" {
			t.Errorf("history %q, want 1:superseded 2:deployed", h)
		}
	})
}

// An apply killed (SIGKILL) in the middle of an upgrade leaves the release
// pending-upgrade. A rollback from another job refuses while the killed
// job's lock may still be live, naming it; the killed job, run again,
// recognises the lock as its own, marks it failed and rolls back.
func TestRollbackApplyAfterKilledUpgrade(t *testing.T) {
	t.Parallel()
	f := newApplyFixture(t)
	ns := f.ns("killed")
	v1, v2 := f.buildImage(t, "rb-"+f.prefix+"-v1"), f.buildImage(t, "rb-"+f.prefix+"-v2")
	job := func(name, id string) []string {
		return append(slices.Clone(f.environ), "GITLAB_CI=true", "CI_PROJECT_PATH=platform/ehealth-apply",
			"CI_JOB_NAME="+name, "CI_JOB_URL=https://gitlab.example.test/platform/ehealth-apply/-/jobs/"+id)
	}
	f.apply(t, f.stateOf(t, rbRelease{name: "records", ns: ns, version: "1.4.0", image: v1}))

	cmd := exec.CommandContext(t.Context(), stepperBinary(t),
		f.args(f.stateOf(t, rbRelease{name: "records", ns: ns, version: "1.5.0", image: v2, values: unschedulableValues}))...)
	cmd.Env = job("apply-devtest", "1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(time.Minute)
	for !strings.HasSuffix(f.history(t, "records", ns), "2:pending-upgrade") {
		select {
		case err := <-exited:
			t.Fatalf("the upgrade ended before it was killed (%v):\n%s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("the upgrade never started waiting: history %q\n%s", f.history(t, "records", ns), stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-exited

	other := runCLI(t, job("rollback-devtest", "2"), f.rollbackArgs(t, "records", ns, "v2 does not schedule")...)
	if other.code != 3 || !strings.Contains(other.stderr, "apply-devtest") {
		t.Errorf("a rollback from another job: exit %d, want 3 naming the killed job apply-devtest\n%s", other.code, other.stderr)
	}
	if h := f.history(t, "records", ns); h != "1:deployed 2:pending-upgrade" {
		t.Fatalf("after the other job's rollback: history %q, want the lock left alone", h)
	}

	r := runCLI(t, job("apply-devtest", "3"), f.rollbackArgs(t, "records", ns, "v2 does not schedule")...)
	if r.code != 0 {
		t.Fatalf("the killed job's rollback: exit %d\n%s", r.code, r.stderr)
	}
	if h := f.history(t, "records", ns); h != "1:superseded 2:failed 3:deployed" {
		t.Errorf("history %q, want 1:superseded 2:failed 3:deployed", h)
	}
	f.ready(t, "records", ns)
	if img := f.image(t, "records", ns); img != v1.String() {
		t.Errorf("the Deployment runs %s, want %s", img, v1)
	}
}
