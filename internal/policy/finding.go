// Package policy holds the platform's container rules and checks images,
// charts, rendered manifests and desired state against them. A rule has an
// id, a severity, a message and a fix; a policy file can change severities
// and thresholds, add CEL rules and waive a rule for one app until a date.
// Checking produces findings; the writers in this package turn them into a
// terminal table, JSON, JUnit XML and GitLab Code Quality JSON.
package policy

import "time"

// Severity is how much a finding matters. Only errors fail validate.
type Severity string

// Severities, most severe first. Off disables a rule.
const (
	Error   Severity = "error"
	Warning Severity = "warning"
	Info    Severity = "info"
	Off     Severity = "off"
)

// Category groups rules by what they look at.
type Category string

// Categories.
const (
	CategoryImage        Category = "image"
	CategoryChart        Category = "chart"
	CategoryManifest     Category = "manifest"
	CategoryDesiredState Category = "desired-state"
	CategoryDocs         Category = "documentation"
	CategoryRuntime      Category = "runtime"
	CategoryCustom       Category = "custom"
)

// Rule is one platform rule.
type Rule struct {
	ID       string   // stable, kebab-case, like image-non-root
	Category Category // what it looks at
	Severity Severity // default; a policy file may change it
	Title    string   // one line: what the rule demands
	Fix      string   // what to do when it fails
	// Link points at the rule's text, a README anchor by default.
	Link string
}

// Finding is one rule broken (or waived) by one object.
type Finding struct {
	Rule     string   `json:"rule"`
	Category Category `json:"category"`
	Severity Severity `json:"severity"`
	Message  string   `json:"message"` // what is wrong, with the values involved
	Fix      string   `json:"fix"`
	Link     string   `json:"link,omitempty"`
	Env      string   `json:"env,omitempty"`
	App      string   `json:"app,omitempty"`
	// Object names what was checked: an image reference, Kind/name of a
	// rendered object, a chart, or a desired-state entry.
	Object string `json:"object,omitempty"`
	// File and Line locate the finding in the repository when known: the
	// desired-state file, the chart template, the policy file.
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
	// Waiver is set when a waiver covers the finding; a waived finding does
	// not fail validate unless the waiver has expired.
	Waiver *Waiver `json:"waiver,omitempty"`
}

// Waiver excuses one app from one rule, for a stated reason, until a date.
type Waiver struct {
	App     string    `json:"app" yaml:"app"`
	Rule    string    `json:"rule" yaml:"rule"`
	Reason  string    `json:"reason" yaml:"reason"`
	Expires time.Time `json:"expires" yaml:"expires"`
	Expired bool      `json:"expired,omitempty" yaml:"-"`
}

// Report is the outcome of checking one or more apps.
type Report struct {
	Findings []Finding `json:"findings"`
	// Checked lists, per app, the rule ids evaluated, so JUnit and the
	// table can show passes as well as failures.
	Checked map[string][]string `json:"checked,omitempty"`
}

// Failed reports whether any finding is an unwaived (or expired-waiver)
// error: what makes validate exit 1.
func (r *Report) Failed() bool {
	for _, f := range r.Findings {
		if f.Severity == Error && (f.Waiver == nil || f.Waiver.Expired) {
			return true
		}
	}
	return false
}
