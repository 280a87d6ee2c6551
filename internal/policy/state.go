package policy

import (
	"fmt"
	"regexp"
)

// exactVersion is a full semantic version, which Helm installs as written;
// anything else (^1, ~1.4, 1.x, *, >=1.2, 1.2) is a range Helm resolves to
// whatever is newest when it runs.
var exactVersion = regexp.MustCompile(`^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)

func checkState(_ Config, in Input) []Finding {
	s := in.State
	var out []Finding
	add := func(rule, format string, args ...any) {
		out = append(out, Finding{Rule: rule, Object: "desired state " + in.Env + "/" + in.App,
			File: s.File, Line: s.Line, Message: fmt.Sprintf(format, args...)})
	}
	if !s.Found {
		add(ruleStateAppPresent, "%s", orElse(s.Problem, fmt.Sprintf("app %s is not in the desired state of %s", in.App, in.Env)))
		return out // nothing else to look at
	}
	if s.Image == "" {
		add(ruleStateImageSet, "the entry names no image")
	}
	switch {
	case s.Chart == "":
		add(ruleStateChartSet, "the entry names no chart")
	case s.ChartVersion == "":
		add(ruleStateChartPinned, "chart %s has no version, so Helm installs whatever is newest when it runs", s.Chart)
	case !exactVersion.MatchString(s.ChartVersion):
		add(ruleStateChartPinned, "chart %s version %q is a range, not one exact version", s.Chart, s.ChartVersion)
	}
	return out
}
