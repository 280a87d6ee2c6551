package rollback

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/stepper-cd/stepper/internal/release"
)

// Candidate is a release of the app in the environment's history: one a
// rollback can return to, or the one that runs now (the newest).
type Candidate struct {
	Time         time.Time `json:"time"`
	Action       string    `json:"action"`
	Image        string    `json:"image"`
	Digest       string    `json:"digest"`
	ChartVersion string    `json:"chartVersion,omitempty"`
	Actor        string    `json:"actor,omitempty"`
	From         string    `json:"from,omitempty"`
	Evidence     []string  `json:"evidence,omitempty"`
	Reason       string    `json:"reason,omitempty"`
	Hold         bool      `json:"hold,omitempty"`
	Commit       string    `json:"commit"`
	// Current marks the newest release, the one a rollback leaves.
	Current bool `json:"current,omitempty"`
}

// candidates lists hist (newest first) as rollback candidates.
func candidates(hist []release.Entry) []Candidate {
	out := []Candidate{}
	for i, e := range hist {
		out = append(out, Candidate{
			Time: e.Commit.Time, Action: string(e.Action), Image: e.Image.String(), Digest: e.Image.Digest,
			ChartVersion: e.ChartVersion, Actor: e.Actor, From: e.From, Evidence: strings.Fields(e.Evidence),
			Reason: e.Reason, Hold: e.Hold, Commit: e.Commit.SHA, Current: i == 0,
		})
	}
	return out
}

// WriteHistory prints the candidates as a table.
func WriteHistory(w io.Writer, env, app string, list []Candidate) error {
	if len(list) == 0 {
		_, err := fmt.Fprintf(w, "no release of %s in the history of %s that was read\n", app, env)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\tLANDED\tACTION\tDIGEST\tTAG\tCHART\tBY\tEVIDENCE\tCOMMIT")
	for _, c := range list {
		mark := ""
		if c.Current {
			mark = "now"
		}
		if c.Hold {
			mark += " held"
		}
		tag := ""
		if r, err := release.ParseAny(c.Image); err == nil {
			tag = r.Tag
		}
		ev := "-"
		if len(c.Evidence) > 0 {
			ev = fmt.Sprintf("%d attestation(s)", len(c.Evidence))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", strings.TrimSpace(mark), c.Time.UTC().Format(time.RFC3339), c.Action,
			shortDigest(c.Digest), dash(tag), dash(c.ChartVersion), dash(c.Actor), ev, short(c.Commit))
	}
	return tw.Flush()
}

// WriteDetails is what a GitOps dry run prints before the summary: where
// the change would land and its diff.
func (o *Outcome) WriteDetails(w io.Writer) error {
	if o.Diff == "" {
		return nil
	}
	_, err := fmt.Fprintf(w, "would land by %s on %s:\n%s\n", o.Landing.Via, o.Landing.Branch, o.Diff)
	return err
}

func shortDigest(d string) string {
	d = strings.TrimPrefix(d, "sha256:")
	return d[:min(12, len(d))]
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
