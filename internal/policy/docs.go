package policy

import (
	"fmt"
	"regexp"
	"strings"
)

// Chart.yaml annotations that document the component, for charts whose
// README is generated or shared.
const (
	annotationPurpose      = "ehealth.sundhed.dk/purpose"
	annotationRequirements = "ehealth.sundhed.dk/service-requirements"
	annotationResources    = "ehealth.sundhed.dk/resource-usage"
)

// docTopic is one thing the platform wants documented: a non-empty chart
// annotation, or a README heading with one of its words (English or Danish).
type docTopic struct {
	name       string
	annotation string
	heading    *regexp.Regexp
}

var docTopics = []docTopic{
	{"purpose", annotationPurpose,
		regexp.MustCompile(`(?i)purpose|overview|about|description|introduction|formål|beskrivelse`)},
	{"service requirements", annotationRequirements,
		regexp.MustCompile(`(?i)requirement|dependenc|prerequisite|krav|afhængighed`)},
	{"resource usage", annotationResources,
		regexp.MustCompile(`(?i)resource|sizing|capacity|ressource|kapacitet`)},
}

// checkDocs looks for each topic in the chart's annotations, then in the
// headings of its README. Headings, not words anywhere: a values table
// mentioning "resources" does not document resource usage.
func checkDocs(_ Config, in Input) []Finding {
	c := in.Chart
	headings := markdownHeadings(c.README)
	var missing []string
	for _, t := range docTopics {
		if strings.TrimSpace(c.Annotations[t.annotation]) != "" {
			continue
		}
		if !anyMatch(t.heading, headings) {
			missing = append(missing, t.name)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	where := "the README has no section on"
	if strings.TrimSpace(c.README) == "" {
		where = "the chart has no README and no annotation for"
	}
	return []Finding{{Rule: ruleDocsComponent, Object: "chart " + c.Name,
		Message: fmt.Sprintf("%s %s", where, strings.Join(missing, ", "))}}
}

// markdownHeadings returns the text of the ATX (# Title) and setext
// (Title over ===) headings of a Markdown document, outside code fences.
func markdownHeadings(doc string) []string {
	var out []string
	lines := strings.Split(strings.ReplaceAll(doc, "\r\n", "\n"), "\n")
	fenced := false
	for i, line := range lines {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~") {
			fenced = !fenced
			continue
		}
		switch {
		case fenced:
		case strings.HasPrefix(trimmed, "#"):
			out = append(out, strings.Trim(trimmed, "# "))
		case i+1 < len(lines) && trimmed != "" && isSetextUnderline(lines[i+1]):
			out = append(out, trimmed)
		}
	}
	return out
}

func isSetextUnderline(line string) bool {
	t := strings.TrimSpace(line)
	return t != "" && (strings.Trim(t, "=") == "" || strings.Trim(t, "-") == "" && len(t) >= 3)
}

func anyMatch(re *regexp.Regexp, texts []string) bool {
	for _, s := range texts {
		if re.MatchString(s) {
			return true
		}
	}
	return false
}
