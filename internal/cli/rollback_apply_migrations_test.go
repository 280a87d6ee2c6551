package cli

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/stepper-cd/stepper/internal/testenv"
)

// migrationCharts adds to a chart repository serving patient-api 1.4.0 as
// it is: 1.5.0, which migrates the database in a pre-upgrade hook and
// carries the down Job that undoes it (testdata/rollback/migrations), and
// 1.6.0, which migrates with no way back. It returns the repository's URL.
func migrationCharts(t testing.TB) string {
	t.Helper()
	url, dir := chartRepo(t, map[string]string{"1.4.0": ""}, false)
	helmBin := testenv.RequireTool(t, "helm")
	src, _ := filepath.Abs(filepath.Join("..", "..", "testdata", "validate", "charts", "patient-api"))
	templates := filepath.Join("..", "..", "testdata", "rollback", "migrations")
	for version, extra := range map[string][]string{
		"1.5.0": {"migrate-job.yaml", "migrate-down-job.yaml"},
		"1.6.0": {"migrate-job.yaml"},
	} {
		c := copyChart(t, src)
		setChartField(t, c, "version", version)
		for _, name := range extra {
			if err := os.WriteFile(filepath.Join(c, "templates", name), mustRead(t, filepath.Join(templates, name)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if out, err := exec.Command(helmBin, "package", c, "-d", dir).CombinedOutput(); err != nil {
			t.Fatalf("helm package %s: %v\n%s", version, err, out)
		}
	}
	if out, err := exec.Command(helmBin, "repo", "index", dir, "--url", url).CombinedOutput(); err != nil {
		t.Fatalf("helm repo index: %v\n%s", err, out)
	}
	return url
}

// jobs are the Jobs in ns whose names start with prefix.
func (f *applyFixture) jobs(t testing.TB, ns, prefix string) []batchv1.Job {
	t.Helper()
	list, err := f.client.BatchV1().Jobs(ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []batchv1.Job
	for _, j := range list.Items {
		if strings.HasPrefix(j.Name, prefix) {
			out = append(out, j)
		}
	}
	return out
}

func jobCondition(j batchv1.Job, c batchv1.JobConditionType) bool {
	for _, cond := range j.Status.Conditions {
		if cond.Type == c && cond.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// Rolling back a release that migrated the database (seed 003's named
// failure): refused unless --with-migrations, which runs the down
// migration first and waits for it; refused with what to do by hand when
// there is no way back; and a down migration that fails stops the
// rollback.
func TestRollbackApplyMigrations(t *testing.T) {
	t.Parallel()
	f := newApplyFixture(t)
	repo := migrationCharts(t)
	commandOut := filepath.Join(t.TempDir(), "down-command.out")
	base := string(mustRead(t, f.config))
	f.config = writeConfig(t, base+fmt.Sprintf(`
migrations:
  valuesKeys: [migrations.enabled]
  apps:
    - name: ledger
      downCommand: ["sh", "-c", %q]
`, `echo "$STEPPER_APP $STEPPER_ENV $STEPPER_FROM_IMAGE $STEPPER_TO_IMAGE" >`+commandOut))
	v1, v2 := f.buildImage(t, "rb-"+f.prefix+"-v1"), f.buildImage(t, "rb-"+f.prefix+"-v2")
	// install applies v1 at 1.4.0, then version with v2 and values; the
	// upgrade must exit upgradeExit.
	install := func(t *testing.T, app, ns, version, values string, upgradeExit int) {
		f.apply(t, f.stateOf(t, rbRelease{name: app, ns: ns, version: "1.4.0", image: v1, repoURL: repo}))
		r := runCLI(t, f.environ, f.args(f.stateOf(t, rbRelease{name: app, ns: ns, version: version, image: v2, repoURL: repo, values: values}))...)
		if r.code != upgradeExit {
			t.Fatalf("upgrade to %s: exit %d, want %d\n%s", version, r.code, upgradeExit, r.stderr)
		}
	}

	t.Run("down Job", func(t *testing.T) {
		t.Parallel()
		ns := f.ns("orders")
		// The migration ran in the pre-upgrade hook; then the new code
		// crash-looped.
		install(t, "orders", ns, "1.5.0", chaosValues, 1)
		if h := f.history(t, "orders", ns); h != "1:deployed 2:failed" {
			t.Fatalf("history %q, want 1:deployed 2:failed", h)
		}
		if up := f.jobs(t, ns, "orders-migrate"); len(up) != 1 || !jobCondition(up[0], batchv1.JobComplete) {
			t.Fatalf("the migration hook did not run to completion: %+v", up)
		}

		f.refused(t, "orders", ns, f.rollbackArgs(t, "orders", ns, "crash loop"),
			"refused", "ran database migrations", "Job orders-migrate", "stepper.dev/migration", "--with-migrations", "job orders-migrate-down")
		if down := f.jobs(t, ns, "orders-migrate-down"); len(down) != 0 {
			t.Errorf("a refused rollback ran the down migration: %v", down[0].Name)
		}

		args := f.rollbackArgs(t, "orders", ns, "crash loop", "--with-migrations")
		r := runCLI(t, f.environ, args...)
		if r.code != 0 {
			t.Fatalf("rollback --with-migrations: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
		if h := f.history(t, "orders", ns); h != "1:superseded 2:failed 3:deployed" {
			t.Errorf("history %q, want 1:superseded 2:failed 3:deployed", h)
		}
		down := f.jobs(t, ns, "orders-migrate-down")
		if len(down) != 1 {
			t.Fatalf("%d down-migration Jobs, want 1: %v", len(down), down)
		}
		j := down[0]
		if !jobCondition(j, batchv1.JobComplete) || j.Status.CompletionTime == nil {
			t.Fatalf("the down-migration Job %s has not completed: %+v", j.Name, j.Status)
		}
		if got := j.Spec.Template.Spec.Containers[0].Args; strings.Join(got, " ") != "migrate down" || j.Annotations["helm.sh/hook"] != "" {
			t.Errorf("the Job runs %v with annotations %v; want the chart's down Job without Helm's hook annotations", got, j.Annotations)
		}
		// The Job's times are whole seconds; the revision's are not.
		rev := f.revision(t, "orders", ns, 3)
		if done := j.Status.CompletionTime.Time; done.After(rev.Updated) {
			t.Errorf("the down migration completed at %s, after the rollback's revision was written at %s", done, rev.Updated)
		}
		f.ready(t, "orders", ns)
		if img := f.image(t, "orders", ns); img != v1.String() {
			t.Errorf("the Deployment runs %s, want %s", img, v1)
		}
		res, _ := readRollbackResult(t, args)
		if m := res.Details.Migrations; m == nil || !m.Found || m.Down != "job orders-migrate-down" || m.Ran != "job orders-migrate-down" {
			t.Errorf("details.migrations %+v; want found, down and ran job orders-migrate-down", m)
		}
	})

	t.Run("down Job fails", func(t *testing.T) {
		t.Parallel()
		ns := f.ns("payments")
		failing := fmt.Sprintf("migrationDown:\n  podLabels:\n    %s: \"true\"\n", testenv.ChaosFailBeforeReady)
		install(t, "payments", ns, "1.5.0", failing, 0)
		f.refused(t, "payments", ns, f.rollbackArgs(t, "payments", ns, "slow", "--with-migrations"),
			"down-migration Job payments-migrate-down did not complete, so nothing was rolled back", "BackoffLimitExceeded")
		if img := f.image(t, "payments", ns); img != v2.String() {
			t.Errorf("the Deployment runs %s, want %s still", img, v2)
		}
	})

	t.Run("no way back", func(t *testing.T) {
		t.Parallel()
		ns := f.ns("billing")
		install(t, "billing", ns, "1.6.0", "", 0)
		f.refused(t, "billing", ns, f.rollbackArgs(t, "billing", ns, "wrong totals"),
			"--with-migrations", "none is configured", "migrations.apps[billing].downCommand")
		f.refused(t, "billing", ns, f.rollbackArgs(t, "billing", ns, "wrong totals", "--with-migrations"),
			"no way back is configured", "By hand", "down-migrations", "restore the database from the backup")
	})

	t.Run("down command", func(t *testing.T) {
		t.Parallel()
		ns := f.ns("ledger")
		install(t, "ledger", ns, "1.4.0", "migrations:\n  enabled: true\n", 0)
		f.refused(t, "ledger", ns, f.rollbackArgs(t, "ledger", ns, "drift"),
			"values key migrations.enabled is true", "--with-migrations", "command sh -c")
		if _, err := os.Stat(commandOut); err == nil {
			t.Error("a refused rollback ran the down-migration command")
		}
		if r := runCLI(t, f.environ, f.rollbackArgs(t, "ledger", ns, "drift", "--with-migrations")...); r.code != 0 {
			t.Fatalf("rollback --with-migrations: exit %d\n%s", r.code, r.stderr)
		}
		if got, want := strings.TrimSpace(string(mustRead(t, commandOut))), fmt.Sprintf("ledger %s %s %s", applyEnv, v2, v1); got != want {
			t.Errorf("the down command saw %q, want %q", got, want)
		}
		if h := f.history(t, "ledger", ns); h != "1:superseded 2:superseded 3:deployed" {
			t.Errorf("history %q, want 1:superseded 2:superseded 3:deployed", h)
		}
		f.ready(t, "ledger", ns)
	})
}
