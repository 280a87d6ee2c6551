package deploy

import (
	"context"
	"strings"
	"testing"

	"github.com/stepper-cd/stepper/internal/desiredstate"
	"github.com/stepper-cd/stepper/internal/helm"
)

// panicky is a Releases whose upgrade of one release panics.
type panicky struct{ release string }

func (p panicky) Load(context.Context, helm.ChartRef) (*helm.LoadedChart, error) { return nil, nil }
func (p panicky) Plan(context.Context, helm.Cluster, helm.UpgradeOptions) (*helm.ReleaseResult, error) {
	return nil, nil
}
func (p panicky) Upgrade(_ context.Context, _ helm.Cluster, o helm.UpgradeOptions) (*helm.ReleaseResult, error) {
	if o.Release == p.release {
		panic("boom")
	}
	return &helm.ReleaseResult{Release: o.Release, Status: "deployed"}, nil
}

// A panic in one app's goroutine fails that app by name; the others of its
// priority still finish and the process survives.
func TestApplyGroupRecoversPanic(t *testing.T) {
	a := &applier{helm: panicky{release: "records"}}
	apps := []desiredstate.App{{Name: "records"}, {Name: "search"}}
	prepared := map[string]helm.UpgradeOptions{"records": {Release: "records"}, "search": {Release: "search"}}
	res, err := a.group(t.Context(), apps, prepared, false)
	if err == nil || !strings.Contains(err.Error(), "records: internal error (panic: boom)") {
		t.Fatalf("error %v, want records named with the panic", err)
	}
	if len(res) != 1 || res[0].Release != "search" {
		t.Errorf("results %+v, want search's only", res)
	}
}
