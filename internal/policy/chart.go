package policy

import (
	"fmt"
	"slices"
	"strings"
)

// checkChart checks where the chart comes from, that it is the newest and
// that it renders.
//
// A local chart (a directory or .tgz in the app's repository) is not
// compared with the official repositories: it is what a team checks before
// it publishes, and the platform deploys what the desired state names. It
// gets a warning, chart-local, instead; the desired state's chart is what
// must be official.
func checkChart(cfg Config, in Input) []Finding {
	c := in.Chart
	object := chartName(c)
	var out []Finding
	add := func(rule string, severity Severity, format string, args ...any) {
		out = append(out, Finding{Rule: rule, Object: object, Severity: severity, Message: fmt.Sprintf(format, args...)})
	}

	switch {
	case c.Local:
		add(ruleChartLocal, "", "the chart is the local copy %s, not one from an official repository", c.Repo)
	case len(cfg.OfficialRepos) == 0 && cfg.PlatformRules:
		add(ruleChartOfficialRepo, "", "the platform names no official chart repository: set charts.repositories in the platform file")
	case len(cfg.OfficialRepos) == 0:
		add(ruleChartOfficialRepo, Info, "not checked: no official chart repositories are configured")
	case !slices.ContainsFunc(cfg.OfficialRepos, func(r string) bool { return sameRepo(r, c.Repo) }):
		add(ruleChartOfficialRepo, "", "the chart comes from %s, which is not an official repository (%s)",
			orElse(c.Repo, "an unknown repository"), strings.Join(cfg.OfficialRepos, ", "))
	}

	switch {
	case c.Latest == "":
		add(ruleChartLatest, Info, "not checked: the newest version in %s is not known", orElse(c.Repo, "the repository"))
	case strings.TrimPrefix(c.Version, "v") != strings.TrimPrefix(c.Latest, "v"):
		add(ruleChartLatest, "", "the chart is version %s; the newest is %s", orElse(c.Version, "(none)"), c.Latest)
	}

	if c.RenderError != "" {
		add(ruleChartRenders, "", "the chart does not render: %s", c.RenderError)
	}
	return out
}

// chartName names the chart in a finding: "chart api 1.4.2"; "the chart"
// when the caller has no chart facts.
func chartName(c *Chart) string {
	if c == nil {
		return "the chart"
	}
	return strings.TrimSpace("chart " + c.Name + " " + c.Version)
}

// sameRepo reports whether chart repository address repo is official, or
// below it (an oci:// chart reference names the chart after the project),
// ignoring case and trailing slashes.
func sameRepo(official, repo string) bool {
	norm := func(s string) string { return strings.ToLower(strings.TrimRight(s, "/")) }
	official, repo = norm(official), norm(repo)
	return official != "" && (repo == official || strings.HasPrefix(repo, official+"/"))
}
