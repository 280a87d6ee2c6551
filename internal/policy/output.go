package policy

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The writers below render a Report four ways: a table for people at a
// terminal, JSON for tools, JUnit XML for GitLab's and Jenkins' test
// reports, and GitLab Code Quality JSON for the merge request widget. All
// four put apps and findings in the same stable order: apps by name, then
// findings by severity, rule, object and message.

// CodeQualityDefaultPath is the location.path of a Code Quality entry whose
// finding has no File: GitLab needs a path, and stepper.yaml is the one file
// every project using stepper has at its root. Callers that know better (the
// desired-state file of an app, say) set Finding.File before writing.
const CodeQualityDefaultPath = "stepper.yaml"

// noApp names the group of findings that belong to no app.
const noApp = "(no app)"

// WriteTable writes r for a terminal: per app, one line per finding with
// the columns SEVERITY RULE OBJECT MESSAGE, then its fix, location and
// waiver, and a summary line at the end. ANSI colors only with color.
func WriteTable(w io.Writer, r *Report, color bool) error {
	p := painter(color)
	groups := groupByApp(r)
	head := [4]string{"SEVERITY", "RULE", "OBJECT", "MESSAGE"}
	var width [3]int
	for i := range width {
		width[i] = len(head[i])
	}
	for _, g := range groups {
		for _, f := range g.findings {
			for i, cell := range [3]string{tableSeverity(f), f.Rule, terminalText(f.Object)} {
				width[i] = max(width[i], utf8.RuneCountInString(cell))
			}
		}
	}
	indent := strings.Repeat(" ", 2+width[0]+2)
	var b strings.Builder
	for i, g := range groups {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(p.bold(g.app) + "\n")
		if len(g.findings) == 0 {
			fmt.Fprintf(&b, "  %s\n", p.green(fmt.Sprintf("no findings (%s checked)", countOf(len(g.checked), "rule"))))
			continue
		}
		fmt.Fprintf(&b, "  %s\n", p.dim(strings.TrimRight(padRow(head[:3], width)+head[3], " ")))
		for _, f := range g.findings {
			sev := tableSeverity(f)
			row := padRow([]string{sev, f.Rule, terminalText(f.Object)}, width)
			// Color the padded cell so the columns stay aligned.
			row = p.severity(f, row[:width[0]+2]) + row[width[0]+2:]
			fmt.Fprintf(&b, "  %s%s\n", row, terminalText(f.Message))
			if f.Fix != "" {
				fmt.Fprintf(&b, "%sfix: %s\n", indent, terminalText(f.Fix))
			}
			if loc := findingLocation(f); loc != "" {
				fmt.Fprintf(&b, "%sat %s\n", indent, terminalText(loc))
			}
			if wv := f.Waiver; wv != nil && wv.Expired {
				fmt.Fprintf(&b, "%s%s\n", indent, p.red(fmt.Sprintf("waiver expired on %s (%s): fix it or renew the waiver", waiverDay(wv), terminalText(wv.Reason))))
			} else if wv != nil {
				fmt.Fprintf(&b, "%s%s\n", indent, p.dim(fmt.Sprintf("%s waived until %s: %s", f.Severity, waiverDay(wv), terminalText(wv.Reason))))
			}
		}
	}
	if len(groups) > 0 {
		b.WriteString("\n")
	}
	t := tallyFindings(r.Findings)
	line := fmt.Sprintf("%s, %s", countOf(t.Errors, "error"), countOf(t.Warnings, "warning"))
	if t.Infos > 0 {
		line += ", " + countOf(t.Infos, "info")
	}
	line += fmt.Sprintf(", %d waived in %s", t.Waived, countOf(len(groups), "app"))
	if r.Failed() {
		line = p.red(line)
	} else {
		line = p.green(line)
	}
	b.WriteString(line + "\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes r as indented JSON with a summary: whether validate
// fails, and the counts the table's last line shows.
func WriteJSON(w io.Writer, r *Report) error {
	t := tallyFindings(r.Findings)
	out := struct {
		Failed   bool                `json:"failed"`
		Summary  tally               `json:"summary"`
		Findings []Finding           `json:"findings"`
		Checked  map[string][]string `json:"checked,omitempty"`
	}{r.Failed(), t, []Finding{}, r.Checked}
	for _, g := range groupByApp(r) {
		out.Findings = append(out.Findings, g.findings...)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		return fmt.Errorf("policy report as JSON: %w", err)
	}
	return nil
}

// The JUnit XML subset GitLab and Jenkins both read.
type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Name    string       `xml:"name,attr"`
	Tests   int          `xml:"tests,attr"`
	Fails   int          `xml:"failures,attr"`
	Skipped int          `xml:"skipped,attr"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name    string      `xml:"name,attr"`
	Tests   int         `xml:"tests,attr"`
	Fails   int         `xml:"failures,attr"`
	Skipped int         `xml:"skipped,attr"`
	Time    string      `xml:"time,attr"`
	Cases   []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	ClassName string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	Skipped   *junitMessage `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr,omitempty"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes r as JUnit XML: a test suite per app and a test case
// per rule checked for it (Report.Checked, plus any rule with a finding),
// ordered as rules lists them and unknown rules by id after. A rule with an
// error finding fails; one whose findings are all waived is skipped;
// warnings and infos pass and show as system-out.
func WriteJUnit(w io.Writer, r *Report, rules []Rule) error {
	order := make(map[string]int, len(rules))
	category := make(map[string]Category, len(rules))
	for i, rule := range rules {
		order[rule.ID], category[rule.ID] = i, rule.Category
	}
	byOrder := func(a, b string) int {
		ia, aKnown := order[a]
		ib, bKnown := order[b]
		switch {
		case aKnown && bKnown:
			return cmp.Compare(ia, ib)
		case aKnown != bKnown:
			if aKnown {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	}
	all := junitSuites{Name: "stepper validate"}
	for _, g := range groupByApp(r) {
		byRule := map[string][]Finding{}
		ids := slices.Clone(g.checked)
		for _, f := range g.findings {
			if _, seen := byRule[f.Rule]; !seen && !slices.Contains(ids, f.Rule) {
				ids = append(ids, f.Rule)
			}
			byRule[f.Rule] = append(byRule[f.Rule], f)
		}
		slices.SortStableFunc(ids, byOrder)
		ids = slices.Compact(ids)
		suite := junitSuite{Name: g.app, Time: "0"}
		for _, id := range ids {
			class := "stepper.policy"
			if c := cmp.Or(category[id], categoryOf(byRule[id])); c != "" {
				class += "." + string(c)
			}
			tc := junitCase{Name: id, ClassName: class, Time: "0"}
			var failing, waived, other []string
			var failMsg string
			for _, f := range byRule[id] {
				text := findingText(f)
				switch {
				case f.Severity == Error && !heldByWaiver(f):
					if failing == nil {
						failMsg = firstLineOf(f.Message)
					}
					failing = append(failing, text)
				case heldByWaiver(f):
					waived = append(waived, text)
				default:
					other = append(other, text)
				}
			}
			switch {
			case len(failing) > 0:
				suite.Fails++
				if len(failing) > 1 {
					failMsg += fmt.Sprintf(" (and %d more)", len(failing)-1)
				}
				tc.Failure = &junitMessage{Message: failMsg, Type: string(Error), Text: strings.Join(failing, "\n\n")}
				other = append(other, waived...)
			case len(waived) > 0:
				suite.Skipped++
				tc.Skipped = &junitMessage{Message: "waived", Text: strings.Join(waived, "\n\n")}
			}
			tc.SystemOut = strings.Join(other, "\n\n")
			suite.Tests++
			suite.Cases = append(suite.Cases, tc)
		}
		all.Tests += suite.Tests
		all.Fails += suite.Fails
		all.Skipped += suite.Skipped
		all.Suites = append(all.Suites, suite)
	}
	b, err := xml.MarshalIndent(all, "", "  ")
	if err != nil {
		return fmt.Errorf("policy report as JUnit: %w", err)
	}
	_, err = io.WriteString(w, xml.Header+string(b)+"\n")
	return err
}

// codeQualityIssue is one entry of GitLab's Code Quality report, the
// subset of the Code Climate issue GitLab reads.
type codeQualityIssue struct {
	Description string `json:"description"`
	CheckName   string `json:"check_name"`
	Fingerprint string `json:"fingerprint"`
	Severity    string `json:"severity"`
	Location    struct {
		Path  string `json:"path"`
		Lines struct {
			Begin int `json:"begin"`
		} `json:"lines"`
	} `json:"location"`
}

// WriteCodeQuality writes r as GitLab Code Quality JSON. Severities map
// error to critical, warning to minor and info to info; a finding under a
// waiver that holds is info whatever its severity, with the waiver in its
// description. A finding without a File points at CodeQualityDefaultPath,
// line 1. The fingerprint hashes rule, env, app, object and message, so it
// stays the same from run to run while the finding does.
func WriteCodeQuality(w io.Writer, r *Report) error {
	issues := []codeQualityIssue{}
	for _, g := range groupByApp(r) {
		for _, f := range g.findings {
			var is codeQualityIssue
			is.CheckName = f.Rule
			is.Description = f.Message
			if f.App != "" {
				is.Description = f.App + ": " + is.Description
			}
			if f.Object != "" {
				is.Description += " (" + f.Object + ")"
			}
			is.Severity = codeQualitySeverity(f)
			if f.Waiver != nil {
				is.Description += " [" + waiverNote(f.Waiver) + "]"
			}
			sum := sha256.Sum256([]byte(strings.Join([]string{f.Rule, f.Env, f.App, f.Object, f.Message}, "\x00")))
			is.Fingerprint = hex.EncodeToString(sum[:])
			is.Location.Path = cmp.Or(f.File, CodeQualityDefaultPath)
			is.Location.Lines.Begin = max(f.Line, 1)
			issues = append(issues, is)
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(issues); err != nil {
		return fmt.Errorf("policy report as code quality: %w", err)
	}
	return nil
}

func codeQualitySeverity(f Finding) string {
	if heldByWaiver(f) {
		return "info"
	}
	switch f.Severity {
	case Error:
		return "critical"
	case Warning:
		return "minor"
	}
	return "info"
}

// appFindings is one app's findings, in output order, and its rules
// checked.
type appFindings struct {
	app      string
	findings []Finding
	checked  []string
}

// groupByApp groups r's findings by app, apps by name with findings of no
// app last, and sorts each group's findings by severity, rule, object and
// message, waived findings last. Apps checked without findings get an
// empty group.
func groupByApp(r *Report) []appFindings {
	byApp := map[string]*appFindings{}
	get := func(app string) *appFindings {
		if app == "" {
			app = noApp
		}
		if byApp[app] == nil {
			byApp[app] = &appFindings{app: app}
		}
		return byApp[app]
	}
	for app, ids := range r.Checked {
		get(app).checked = ids
	}
	for _, f := range r.Findings {
		g := get(f.App)
		g.findings = append(g.findings, f)
	}
	var groups []appFindings
	for _, g := range byApp {
		slices.SortStableFunc(g.findings, func(a, b Finding) int {
			return cmp.Or(
				cmp.Compare(outputRank(a), outputRank(b)),
				strings.Compare(a.Rule, b.Rule),
				strings.Compare(a.Object, b.Object),
				strings.Compare(a.Message, b.Message))
		})
		groups = append(groups, *g)
	}
	slices.SortFunc(groups, func(a, b appFindings) int {
		if (a.app == noApp) != (b.app == noApp) {
			if a.app == noApp {
				return 1
			}
			return -1
		}
		return strings.Compare(a.app, b.app)
	})
	return groups
}

// outputRank orders findings: errors, warnings, infos, then findings under
// a waiver that holds.
func outputRank(f Finding) int {
	if heldByWaiver(f) {
		return 4
	}
	switch f.Severity {
	case Error:
		return 0
	case Warning:
		return 1
	case Info:
		return 2
	}
	return 3
}

// tally counts findings as validate sees them: a finding under a waiver
// that holds is waived whatever its severity; one under an expired waiver
// counts by its severity.
type tally struct {
	Errors   int `json:"errors"`
	Warnings int `json:"warnings"`
	Infos    int `json:"infos"`
	Waived   int `json:"waived"`
}

func tallyFindings(findings []Finding) tally {
	var t tally
	for _, f := range findings {
		switch {
		case heldByWaiver(f):
			t.Waived++
		case f.Severity == Error:
			t.Errors++
		case f.Severity == Warning:
			t.Warnings++
		default:
			t.Infos++
		}
	}
	return t
}

// tableSeverity is the SEVERITY cell: "waived" under a waiver that holds.
func tableSeverity(f Finding) string {
	if heldByWaiver(f) {
		return "waived"
	}
	return string(f.Severity)
}

// findingText is a finding as JUnit's failure, skipped and system-out
// texts show it.
func findingText(f Finding) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s", f.Severity, f.Message)
	if f.Object != "" {
		fmt.Fprintf(&b, "\nobject: %s", f.Object)
	}
	if loc := findingLocation(f); loc != "" {
		fmt.Fprintf(&b, "\nat: %s", loc)
	}
	if f.Fix != "" {
		fmt.Fprintf(&b, "\nfix: %s", f.Fix)
	}
	if f.Waiver != nil {
		b.WriteString("\n" + waiverNote(f.Waiver))
	}
	if f.Link != "" {
		fmt.Fprintf(&b, "\nsee: %s", f.Link)
	}
	return b.String()
}

func categoryOf(findings []Finding) Category {
	for _, f := range findings {
		if f.Category != "" {
			return f.Category
		}
	}
	return ""
}

func findingLocation(f Finding) string {
	switch {
	case f.File == "":
		return ""
	case f.Line > 0:
		return f.File + ":" + strconv.Itoa(f.Line)
	}
	return f.File
}

// heldByWaiver reports whether a waiver covers f and has not expired.
func heldByWaiver(f Finding) bool { return f.Waiver != nil && !f.Waiver.Expired }

func waiverNote(w *Waiver) string {
	if w.Expired {
		return fmt.Sprintf("waiver expired on %s: %s", waiverDay(w), w.Reason)
	}
	return fmt.Sprintf("waived until %s: %s", waiverDay(w), w.Reason)
}

func waiverDay(w *Waiver) string { return w.Expires.Format("2006-01-02") }

func countOf(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

func firstLineOf(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// padRow pads each cell to its column's width plus two spaces.
func padRow(cells []string, width [3]int) string {
	var b strings.Builder
	for i, c := range cells {
		b.WriteString(c)
		b.WriteString(strings.Repeat(" ", width[i]-utf8.RuneCountInString(c)+2))
	}
	return b.String()
}

// terminalText keeps a value on one line and makes control characters
// visible, so a message cannot break the table or send escape sequences to
// the terminal.
func terminalText(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\t':
			b.WriteByte(' ')
		case r == '\n':
			b.WriteString(`\n`)
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// painter colors table text with ANSI escapes, or leaves it as it is.
type painter bool

func (p painter) paint(code, s string) string {
	if !p {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

func (p painter) bold(s string) string  { return p.paint("1", s) }
func (p painter) dim(s string) string   { return p.paint("2", s) }
func (p painter) red(s string) string   { return p.paint("31", s) }
func (p painter) green(s string) string { return p.paint("32", s) }

func (p painter) severity(f Finding, s string) string {
	switch {
	case heldByWaiver(f):
		return p.dim(s)
	case f.Severity == Error:
		return p.paint("1;31", s)
	case f.Severity == Warning:
		return p.paint("33", s)
	}
	return p.paint("36", s)
}
