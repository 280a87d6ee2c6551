package helm

import (
	"slices"
	"strings"
	"testing"

	"github.com/stepper-cd/stepper/internal/exit"
)

func TestPickVersion(t *testing.T) {
	versions := []string{"2.0.0-beta.1", "1.10.0", "1.9.1", "1.9.0", "1.2.0", "0.1.0"}
	ref := ChartRef{Repo: "https://charts.example", Name: "web"}
	for _, tc := range []struct{ ask, want, err string }{
		{"", "1.10.0", ""},
		{"1.9.0", "1.9.0", ""},
		{"v1.9.0", "1.9.0", ""},
		{"~1.9", "1.9.1", ""},
		{"1.x", "1.10.0", ""},
		{">=1.2 <1.9", "1.2.0", ""},
		{"2.0.0-beta.1", "2.0.0-beta.1", ""},
		{"1.9.5", "", "nearest: 2.0.0-beta.1, 1.10.0, 1.9.1, 1.9.0, 1.2.0 (newest 1.10.0)"},
		{"0.0.1", "", "nearest: 1.10.0, 1.9.1, 1.9.0, 1.2.0, 0.1.0"},
		{"latest", "", "nearest: 2.0.0-beta.1, 1.10.0"},
	} {
		ref.Version = tc.ask
		got, err := pickVersion(ref, versions)
		if tc.err != "" {
			if exit.ClassOf(err) != exit.Usage || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("pickVersion(%q) = %q, %v; want usage error containing %q", tc.ask, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("pickVersion(%q) = %q, %v; want %q", tc.ask, got, err, tc.want)
		}
	}

	ref.Version = ""
	if got, _ := pickVersion(ref, []string{"1.0.0-rc.2", "1.0.0-rc.1"}); got != "1.0.0-rc.2" {
		t.Errorf("only prereleases: newest = %q, want 1.0.0-rc.2", got)
	}
	if _, err := pickVersion(ref, nil); exit.ClassOf(err) != exit.Usage {
		t.Errorf("no versions: %v", err)
	}
}

func TestSortVersions(t *testing.T) {
	v := []string{"1.2.0", "not-semver", "1.10.0", "1.10.0-rc.1", "v0.9.0", "also-bad"}
	sortVersions(v)
	if want := []string{"1.10.0", "1.10.0-rc.1", "1.2.0", "v0.9.0", "not-semver", "also-bad"}; !slices.Equal(v, want) {
		t.Errorf("sortVersions = %v, want %v", v, want)
	}
}

func TestChartRefNormalize(t *testing.T) {
	for _, tc := range []struct {
		in      ChartRef
		want    ChartRef
		invalid bool
	}{
		{ChartRef{Repo: "oci://r.example/charts/web"}, ChartRef{Repo: "oci://r.example/charts", Name: "web"}, false},
		{ChartRef{Repo: "oci://r.example/charts/", Name: "web"}, ChartRef{Repo: "oci://r.example/charts", Name: "web"}, false},
		{ChartRef{Repo: "https://charts.example/stable/", Name: "web"}, ChartRef{Repo: "https://charts.example/stable", Name: "web"}, false},
		{ChartRef{Repo: "oci://"}, ChartRef{}, true},
		{ChartRef{Repo: "https://charts.example"}, ChartRef{}, true},
		{ChartRef{Repo: "charts.example", Name: "web"}, ChartRef{}, true},
		{ChartRef{}, ChartRef{}, true},
	} {
		got, err := tc.in.normalize()
		if tc.invalid {
			if exit.ClassOf(err) != exit.Usage {
				t.Errorf("normalize(%+v) = %+v, %v; want a usage error", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("normalize(%+v) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}
