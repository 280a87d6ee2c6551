package validate

import (
	"testing"

	"github.com/stepper-cd/stepper/internal/helm"
	"github.com/stepper-cd/stepper/internal/policy"
)

func TestParseChart(t *testing.T) {
	for in, want := range map[string]helm.ChartRef{
		"./chart":                           {Path: "./chart"},
		"chart.tgz":                         {Path: "chart.tgz"},
		"oci://harbor.example/charts/api":   {Repo: "oci://harbor.example/charts", Name: "api", Version: "1.2.0"},
		"https://charts.example/stable/api": {Repo: "https://charts.example/stable", Name: "api", Version: "1.2.0"},
	} {
		v := ""
		if want.Path == "" {
			v = "1.2.0"
		}
		if got := ParseChart(in, v); got != want {
			t.Errorf("ParseChart(%q) = %+v, want %+v", in, got, want)
		}
	}
}

func TestSummary(t *testing.T) {
	r := &policy.Report{Findings: []policy.Finding{
		{Severity: policy.Error}, {Severity: policy.Error}, {Severity: policy.Warning},
		{Severity: policy.Error, Waiver: &policy.Waiver{}},
		{Severity: policy.Error, Waiver: &policy.Waiver{Expired: true}},
	}, Checked: map[string][]string{"a": nil, "b": nil}}
	if got := Summary(r); got != "3 errors, 1 warning, 1 waived in 2 apps" {
		t.Errorf("Summary = %q", got)
	}
}
