package cli

import (
	"os/exec"
	"strings"
	"testing"
	"time"
)

// A platform job's apply is killed (SIGKILL) mid-upgrade, leaving the
// release pending-upgrade. The CI server retries the job: same project and
// job name, a new job URL. The retry recognises the lock as its own job's
// and recovers it at once, on its first try, without waiting out the
// holder's deadline (3 x --timeout + 1 min, here over six minutes); the
// killed try is named.
func TestApplyKilledJobRetriedRecoversItsLock(t *testing.T) {
	t.Parallel()
	f := newApplyFixture(t)
	ns := f.ns("app")
	job := func(id string) []string {
		return append(append([]string(nil), f.environ...), "GITLAB_CI=true", "CI_PROJECT_PATH=platform/ehealth-apply",
			"CI_JOB_NAME=apply-exttest", "CI_JOB_URL=https://gitlab.example.test/platform/ehealth-apply/-/jobs/"+id)
	}
	f.apply(t, f.writeDSF(t, dsfApp{name: "records", ns: ns, version: "1.4.0"}))

	f.writeState(t, "unschedulable.yaml", unschedulableValues)
	cmd := exec.CommandContext(t.Context(), stepperBinary(t),
		f.args(f.writeDSF(t, dsfApp{name: "records", ns: ns, version: "1.5.0", valuesFiles: []string{"unschedulable.yaml"}}))...)
	cmd.Env = job("1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	exited := make(chan struct{})
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(time.Minute)
	for !strings.HasSuffix(f.history(t, "records", ns), "2:pending-upgrade") {
		select {
		case <-exited:
			t.Fatalf("the first try ended before it was killed (%v):\n%s", waitErr, stderr.String())
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
	if h := f.history(t, "records", ns); h != "1:deployed 2:pending-upgrade" {
		t.Fatalf("after SIGKILL: history %q, want the lock left pending", h)
	}

	start := time.Now()
	r := runCLI(t, job("2"), f.args(f.writeDSF(t, dsfApp{name: "records", ns: ns, version: "1.5.0"}))...)
	if r.code != 0 {
		t.Fatalf("the retry: exit %d\n%s", r.code, r.stderr)
	}
	t.Logf("the retry recovered and deployed in %s", time.Since(start).Round(time.Millisecond))
	if h := f.history(t, "records", ns); h != "1:superseded 2:failed 3:deployed" {
		t.Errorf("after the retry: history %q, want 1:superseded 2:failed 3:deployed", h)
	}
	if !strings.Contains(r.stderr, "jobs_1") && !strings.Contains(r.stderr, "jobs/1") {
		t.Errorf("the retry does not name the killed try:\n%s", r.stderr)
	}
}
