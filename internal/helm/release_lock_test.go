package helm_test

import (
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	rcommon "helm.sh/helm/v4/pkg/release/common"
	release "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage/driver"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/helm"
)

// revisionLabels are the labels a real upgrade by owner (at url, with
// timeout) writes on its revision: what a killed run leaves on its
// pending revision.
func (e *kubeEnv) revisionLabels(t *testing.T, owner, url string, timeout time.Duration) map[string]string {
	t.Helper()
	res, err := e.helm.Upgrade(t.Context(), e.cluster, helm.UpgradeOptions{Release: "probe", Namespace: e.ns, Chart: e.app,
		Owner: owner, OwnerURL: url, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	r, err := driver.NewSecrets(e.client.CoreV1().Secrets(e.ns)).Get(fmt.Sprintf("sh.helm.release.v1.probe.v%d", res.Revision))
	if err != nil {
		t.Fatal(err)
	}
	return r.(*release.Release).Labels
}

// Job A is killed mid-upgrade (SIGKILL: its revision stays
// pending-upgrade with A's labels and a deadline half an hour away). The
// retry of the same job, with a new job URL, recognises the lock as its
// own and recovers it on its first try, without waiting for the deadline.
func TestRetriedJobRecoversItsOwnLock(t *testing.T) {
	t.Parallel()
	e := newKubeEnv(t)
	const job = "gitlab:vendor/app job deploy-test"
	labels := e.revisionLabels(t, job, "https://gitlab.example/vendor/app/-/jobs/1", 10*time.Minute)
	if labels[helm.LabelDeadline] == "" || !strings.HasSuffix(labels[helm.LabelOwnerURL], "jobs_1") {
		t.Fatalf("labels %v record no deadline or job URL", labels)
	}
	o := e.opts("killed", nil)
	o.Owner, o.OwnerURL = job, "https://gitlab.example/vendor/app/-/jobs/1"
	if _, err := e.helm.Upgrade(t.Context(), e.cluster, o); err != nil {
		t.Fatal(err)
	}
	e.craftPending(t, "killed", rcommon.StatusPendingUpgrade, labels, time.Now())

	o.OwnerURL, o.Values = "https://gitlab.example/vendor/app/-/jobs/2", map[string]any{"tag": "v2"}
	res, err := e.helm.Upgrade(t.Context(), e.cluster, o)
	if err != nil {
		t.Fatalf("the retry did not recover its own lock: %v", err)
	}
	t.Logf("recovered: %s", res.Recovered)
	if !strings.Contains(res.Recovered, "this owner") || !strings.Contains(res.Recovered, "jobs_1") {
		t.Errorf("recovered %q, want it to name the killed try", res.Recovered)
	}
	if got := e.history(t, "killed"); got != "1:superseded 2:failed 3:deployed" {
		t.Errorf("history %s", got)
	}
}

// Another owner's upgrade with a 10-minute timeout started 2 minutes ago
// is live: a run with a 30 s timeout refuses to touch it, naming the
// holder, its run and when the lock turns stale. Once the holder's
// deadline has passed, the same run recovers it.
func TestShortRunLeavesALongLiveUpgradeAlone(t *testing.T) {
	t.Parallel()
	e := newKubeEnv(t)
	other := e.revisionLabels(t, "gitlab:vendor/app job deploy-slow", "https://gitlab.example/vendor/app/-/jobs/9", 10*time.Minute)
	o := e.opts("live", nil) // Timeout 30 s
	if _, err := e.helm.Upgrade(t.Context(), e.cluster, o); err != nil {
		t.Fatal(err)
	}
	e.craftPending(t, "live", rcommon.StatusPendingUpgrade, other, time.Now().Add(-2*time.Minute))

	_, err := e.helm.Upgrade(t.Context(), e.cluster, e.opts("live", map[string]any{"tag": "v2"}))
	wantClass(t, err, exit.Infra)
	t.Logf("refused: %v", err)
	if !strings.Contains(err.Error(), "deploy-slow") || !strings.Contains(err.Error(), "jobs_9") {
		t.Errorf("the refusal does not name the holder and its run: %v", err)
	}
	if got := e.history(t, "live"); got != "1:deployed 2:pending-upgrade" {
		t.Fatalf("the live upgrade was touched: %s", got)
	}

	// The same holder, past its deadline: stale, recovered.
	past := maps.Clone(other)
	past[helm.LabelDeadline] = fmt.Sprint(time.Now().Add(-time.Second).Unix())
	if _, err := e.helm.Upgrade(t.Context(), e.cluster, e.opts("stale", nil)); err != nil {
		t.Fatal(err)
	}
	e.craftPending(t, "stale", rcommon.StatusPendingUpgrade, past, time.Now().Add(-2*time.Minute))
	res, err := e.helm.Upgrade(t.Context(), e.cluster, e.opts("stale", map[string]any{"tag": "v2"}))
	if err != nil {
		t.Fatalf("a lock past its deadline was not recovered: %v", err)
	}
	if !strings.Contains(res.Recovered, "past its deadline") {
		t.Errorf("recovered %q", res.Recovered)
	}
}
