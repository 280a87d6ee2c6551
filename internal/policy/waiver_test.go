package policy

import (
	"strings"
	"testing"
	"time"
)

func TestWaivers(t *testing.T) {
	p := mustParse(t, `
waivers:
  - {app: api, rule: manifest-no-statefulset, reason: INC-1234 cache, expires: 2027-01-31}
  - {app: web, rule: image-signed, reason: other app, expires: 2027-01-31}
`)
	check := func(app string, at time.Time) Finding {
		t.Helper()
		cfg, in := passing(t)
		in.App = app
		d := object(t, &in, "Deployment")
		d["kind"] = "StatefulSet"
		del(d, "spec", "strategy")
		fs := p.Check(cfg, in, at)
		if len(fs) != 1 || fs[0].Rule != ruleNoStatefulSet {
			t.Fatalf("findings %+v", fs)
		}
		return fs[0]
	}

	f := check("api", now)
	if f.Waiver == nil || f.Waiver.Expired || f.Waiver.Reason != "INC-1234 cache" || strings.Contains(f.Message, "expired") {
		t.Errorf("valid waiver: %+v %+v", f, f.Waiver)
	}
	if (&Report{Findings: []Finding{f}}).Failed() {
		t.Error("a waived error failed the report")
	}

	// The waiver holds through the day before its date.
	if f := check("api", time.Date(2027, 1, 30, 23, 59, 0, 0, time.UTC)); f.Waiver.Expired {
		t.Error("waiver expired a day early")
	}
	f = check("api", time.Date(2027, 1, 31, 0, 0, 0, 0, time.UTC))
	if f.Waiver == nil || !f.Waiver.Expired || !strings.Contains(f.Message, "; waiver expired on 2027-01-31 (INC-1234 cache)") {
		t.Errorf("expired waiver: %+v", f)
	}
	if !(&Report{Findings: []Finding{f}}).Failed() {
		t.Error("an error whose waiver expired did not fail the report")
	}

	if f := check("other", now); f.Waiver != nil {
		t.Errorf("waiver for another app applied: %+v", f.Waiver)
	}
}

func TestWaiverForCustomRule(t *testing.T) {
	p := mustParse(t, `
waivers:
  - {app: api, rule: always-false, reason: demo, expires: "2027-01-31T12:00:00+01:00"}
custom:
  - {id: always-false, message: m, expr: "false"}
`)
	cfg, in := passing(t)
	fs := p.Check(cfg, in, now)
	if len(fs) != 1 || fs[0].Waiver == nil || fs[0].Waiver.Expired {
		t.Errorf("findings %+v", fs)
	}
	if got := fs[0].Waiver.Expires; !got.Equal(time.Date(2027, 1, 31, 11, 0, 0, 0, time.UTC)) {
		t.Errorf("expires %v", got)
	}
}
