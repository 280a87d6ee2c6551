package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stepper-cd/stepper/internal/report"
	"github.com/stepper-cd/stepper/internal/testenv"
	"github.com/stepper-cd/stepper/steps/status"
)

// With --kubeconfig the board reads what the cluster runs: patient-api,
// applied by the apply job and ready, is in sync with a desired state
// that names what was applied; against one that names another chart
// version it has drifted; billing-api, desired but never applied, is not
// installed.
func TestStatusDrift(t *testing.T) {
	f := newApplyFixture(t)
	ns := f.ns("status")
	applied := f.writeDSF(t, dsfApp{name: "patient-api", ns: ns, version: "1.5.0"})
	f.apply(t, applied)
	f.ready(t, "patient-api", ns)
	inSync := f.writeDSF(t, dsfApp{name: "patient-api", ns: ns, version: "1.5.0"}, dsfApp{name: "billing-api", ns: ns, version: "1.5.0"})
	inSyncText := string(mustRead(t, inSync))
	drifted := strings.Replace(inSyncText, "version: 1.5.0", "version: 1.4.0", 1)

	git, err := testenv.StartGitServer(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(git.Stop)
	repo, err := git.NewRepo("platform/devtest", map[string]string{"dsf.yaml": inSyncText, "drift/dsf.yaml": drifted})
	if err != nil {
		t.Fatal(err)
	}
	config := writeConfig(t, string(mustRead(t, f.config))+"    desiredState: {repo: \""+repo.HTTPURL+"\", branch: master, path: dsf.yaml, format: helmsman}\n")

	board := func(extra ...string) *status.Board {
		t.Helper()
		r := runCLI(t, f.environ, append([]string{"status", "-c", config, "--log-format", "json", "-o", "json", "--kubeconfig", f.kubeconfig}, extra...)...)
		var res struct {
			report.Result
			Details status.Board `json:"details"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &res); r.code != 0 || err != nil {
			t.Fatalf("status --kubeconfig %v: exit %d, %v\n%s\n%s", extra, r.code, err, r.stdout, r.stderr)
		}
		return &res.Details
	}

	b := board()
	if !b.Drift {
		t.Error("the board does not say it read the cluster")
	}
	d := b.Cell(applyEnv, "patient-api").Drift
	if d == nil || !d.InSync() || d.Revision != 1 || d.Status != "deployed" || !strings.Contains(d.Image, f.imageDigest) || d.ChartVersion != "1.5.0" {
		t.Errorf("patient-api as applied: drift %+v, want revision 1 deployed, ready, running %s", d, f.imageDigest)
	}
	if d := b.Cell(applyEnv, "billing-api").Drift; d == nil || !d.Missing || d.InSync() {
		t.Errorf("billing-api, never applied: drift %+v, want missing", d)
	}

	b = board("--config-set", "environments."+applyEnv+".desiredState.path=drift/dsf.yaml")
	if d := b.Cell(applyEnv, "patient-api").Drift; d == nil || d.InSync() || strings.Join(d.Differs, ",") != "chart" || !d.Ready {
		t.Errorf("patient-api against chart 1.4.0: drift %+v, want ready but differing in chart", d)
	}

	r := runCLI(t, f.environ, "status", "-c", config, "--log-format", "json", "--kubeconfig", f.kubeconfig)
	if r.code != 0 || !strings.Contains(r.stdout, "CLUSTER") || !strings.Contains(r.stdout, "rev 1 deployed, ready") || !strings.Contains(r.stdout, "not installed") {
		t.Errorf("status --kubeconfig as text: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}
