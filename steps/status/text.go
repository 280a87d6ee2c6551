package status

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/stepper-cd/stepper/internal/config"
	"github.com/stepper-cd/stepper/internal/gate"
)

// evidenceGates are the board's evidence columns, in order.
var evidenceGates = []config.Gate{config.GateSigned, config.GateValidated, config.GateSmokeTested}

// WriteText prints the board as a table, a row per app and environment
// (apps in name order, environments in the chain's), then what stops each
// promotion, the holds and rollbacks, and what could not be checked.
func WriteText(w io.Writer, b *Board) error {
	if len(b.Apps) == 0 {
		_, err := fmt.Fprintf(w, "no apps in the desired state of %s\n", strings.Join(b.envNames(), ", "))
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	head := "APP\tENV\tIMAGE\tCHART\tSIGNED\tVALIDATED\tSMOKE-TESTED\tLANDED\tNEXT"
	if b.Drift {
		head += "\tCLUSTER"
	}
	fmt.Fprintln(tw, head)
	var notes []string
	for _, app := range b.Apps {
		for _, env := range b.Environments {
			c := b.Cell(env.Name, app)
			if c == nil {
				continue
			}
			row := []string{app, env.Name, imageText(c.Release), orDash(c.Release.ChartVersion)}
			for _, g := range evidenceGates {
				row = append(row, verdictWord(c, g))
			}
			row = append(row, landedText(c), nextText(c))
			if b.Drift {
				row = append(row, driftText(c.Drift))
			}
			fmt.Fprintln(tw, strings.Join(row, "\t"))
			notes = append(notes, cellNotes(c)...)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(notes) > 0 {
		if _, err := fmt.Fprintf(w, "\n%s\n", strings.Join(notes, "\n")); err != nil {
			return err
		}
	}
	return nil
}

func (b *Board) envNames() []string {
	out := make([]string, len(b.Environments))
	for i, e := range b.Environments {
		out[i] = e.Name
	}
	return out
}

// imageText is the tag and the digest's first 12 hex digits.
func imageText(r Release) string {
	var parts []string
	if r.Tag != "" {
		parts = append(parts, r.Tag)
	}
	if d := shortDigest(r.Digest); d != "" {
		if r.Resolved {
			d += " (from tag)"
		}
		parts = append(parts, "@"+d)
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}

func shortDigest(d string) string {
	d = strings.TrimPrefix(d, "sha256:")
	return d[:min(12, len(d))]
}

// verdictWord is yes, no, off or - (not checked) for evidence gate g.
func verdictWord(c *Cell, g config.Gate) string {
	r, ok := c.EvidenceOf(g)
	switch {
	case !ok:
		return "-"
	case r.Off:
		return "off"
	case r.Passed:
		return "yes"
	}
	return "no"
}

// landedText is who landed the release and when.
func landedText(c *Cell) string {
	l := c.Landed
	if l == nil {
		return "-"
	}
	s := l.Action + " " + stamp(l.At)
	if l.From != "" {
		s += " from " + l.From
	}
	if l.Actor != "" {
		s += " by " + l.Actor
	}
	if l.Hotfix {
		s += " (hotfix)"
	}
	if c.Hold != nil {
		s += ", held"
	}
	if l.Since != "" {
		s += ", changed since"
	}
	return s
}

// nextText is the verdict on a promotion into the next environment.
func nextText(c *Cell) string {
	p := c.Promotion
	if p == nil {
		return "-"
	}
	switch p.Verdict {
	case MayPromote:
		return p.To + ": may promote"
	case Stopped:
		return p.To + ": stopped by " + strings.Join(p.StoppedBy, ", ")
	case InNext:
		return p.To + ": runs it"
	case NotInNext:
		return p.To + ": has no " + c.App
	}
	return p.To + ": unknown"
}

// driftText is what the cluster runs against the desired release.
func driftText(d *Drift) string {
	switch {
	case d == nil:
		return "-"
	case d.Missing:
		return "not installed"
	}
	s := fmt.Sprintf("rev %d %s", d.Revision, d.Status)
	if d.Ready {
		s += ", ready"
	} else {
		s += ", not ready"
	}
	if len(d.Differs) > 0 {
		s += ", differs: " + strings.Join(d.Differs, ",")
	}
	return s
}

// cellNotes are the lines below the table about c: what stops its
// promotion, its hold, its rollbacks, drift and what could not be checked.
func cellNotes(c *Cell) []string {
	at := c.App + " in " + c.Env
	var out []string
	if c.Problem != "" {
		out = append(out, at+": not checked: "+c.Problem)
	}
	for _, r := range c.Evidence {
		// A promotion's smoke-tested gate asks the same, and says it there.
		if !r.Passed && !r.Off && (r.Gate != config.GateSmokeTested || c.Promotion == nil) {
			out = append(out, at+": not "+string(r.Gate)+": "+r.Found)
		}
	}
	if p := c.Promotion; p != nil && p.Verdict == Stopped {
		for _, r := range p.Gates {
			if !r.Passed && !r.Off {
				out = append(out, fmt.Sprintf("%s → %s: gate %s wanted %s; found %s", at, p.To, r.Gate, r.Wanted, r.Found))
			}
		}
	}
	if h := c.Hold; h != nil {
		out = append(out, at+": held by rollback "+shortSHA(h.Commit)+" at "+stamp(h.At)+byWhom(h.Actor)+reason(h.Reason)+
			"; a promotion or deploy --release-hold lifts it")
	}
	for _, r := range c.Rollbacks {
		if c.Hold != nil && r.Commit == c.Hold.Commit {
			continue
		}
		out = append(out, at+": rolled back in "+shortSHA(r.Commit)+" at "+stamp(r.At)+byWhom(r.Actor)+reason(r.Reason))
	}
	if d := c.Drift; d != nil && !d.InSync() {
		why := d.NotReady
		if len(d.Differs) > 0 {
			why = strings.TrimPrefix(why+"; runs "+orDash(d.Image)+" chart "+orDash(d.ChartVersion), "; ")
		}
		out = append(out, at+": cluster: "+why)
	}
	return out
}

// gateTitle is a gate verdict in words, for a tooltip or a note.
func gateTitle(r gate.Result) string {
	switch {
	case r.Off:
		return string(r.Gate) + ": switched off"
	case r.Passed:
		return string(r.Gate) + ": " + r.Found
	}
	return string(r.Gate) + ": wanted " + r.Wanted + "; found " + r.Found
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04")
}

func shortSHA(s string) string { return s[:min(12, len(s))] }

func byWhom(actor string) string {
	if actor == "" {
		return ""
	}
	return " by " + actor
}

func reason(r string) string {
	if r == "" {
		return ""
	}
	return fmt.Sprintf(" (%q)", r)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
