package promote_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/land"
	"github.com/stepper-cd/stepper/internal/release"
	"github.com/stepper-cd/stepper/steps/promote"
)

// History lists the promotions into an environment, newest first, from
// the commits' trailers: a deploy is not a promotion, and a promotion of
// several apps is one line per app.
func TestHistory(t *testing.T) {
	f := newFixture(t)
	h := f.ownHistory()
	api := release.Ref{Repository: repoAPI, Tag: "stag-abc", Digest: digestA}
	batch := release.Ref{Repository: "registry.example/vendor/batch", Tag: "stag-b2", Digest: digestD}
	h.commit(started.Add(-10*time.Hour), "prod/dsf.yaml", "promote api from staging to prod",
		release.Trailers{Action: release.ActionPromote, App: "api", Env: "prod", From: "staging", Image: api, ChartVersion: "1.2.0",
			Actor: "maria", Hotfix: true, Evidence: "att-1 smoke-1", Pipeline: pipeline, Started: started.Add(-10 * time.Hour)})
	h.commit(started.Add(-5*time.Hour), "prod/dsf.yaml", "promote 2 apps from staging to prod",
		release.Trailers{Action: release.ActionPromote, App: "api", Env: "prod", From: "staging", Image: api, Actor: "bob"},
		release.Trailers{Action: release.ActionPromote, App: "batch", Env: "prod", From: "staging", Image: batch, Actor: "bob"})

	all, err := f.step().History(t.Context(), land.SpecOf(f.job.Config, f.job.To), "", 50)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range all {
		got = append(got, p.App+"@"+p.Actor)
	}
	if strings.Join(got, " ") != "api@bob batch@bob api@maria" {
		t.Fatalf("promotions %v, want the two promotions newest first and not the deploy", got)
	}
	p := all[2]
	if p.From != "staging" || p.Image != api.String() || p.ChartVersion != "1.2.0" || !p.Hotfix || strings.Join(p.Evidence, ",") != "att-1,smoke-1" ||
		p.Run != pipeline || !p.Time.Equal(started.Add(-10*time.Hour)) || len(p.Commit) != 40 {
		t.Errorf("promotion %+v", p)
	}

	apiOnly, err := f.step().History(t.Context(), land.SpecOf(f.job.Config, f.job.To), "api", 50)
	if err != nil || len(apiOnly) != 2 {
		t.Fatalf("api's promotions %+v, %v", apiOnly, err)
	}

	var b bytes.Buffer
	if err := promote.WriteHistory(&b, "prod", all); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "TIME") || !strings.Contains(lines[3], "hotfix") || !strings.Contains(lines[1], " - ") {
		t.Errorf("table:\n%s", b.String())
	}
}

func TestHistoryEmpty(t *testing.T) {
	f := newFixture(t)
	list, err := f.step().History(t.Context(), land.SpecOf(f.job.Config, f.job.From), "", 50)
	if err != nil || len(list) != 0 {
		t.Fatalf("staging has only deploys: %+v, %v", list, err)
	}
	var b bytes.Buffer
	if err := promote.WriteHistory(&b, "staging", list); err != nil || b.String() != "no promotions into staging in the history read\n" {
		t.Errorf("%q, %v", b.String(), err)
	}
}

func TestHistoryWithoutRepo(t *testing.T) {
	f := newFixture(t)
	f.job.To.DesiredState.Repo = ""
	if _, err := f.step().History(t.Context(), land.SpecOf(f.job.Config, f.job.To), "", 50); exit.ClassOf(err) != exit.Usage {
		t.Fatalf("err = %v", err)
	}
}
