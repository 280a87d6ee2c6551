package promote

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/stepper-cd/stepper/internal/land"
	"github.com/stepper-cd/stepper/internal/release"
)

// Promotion is one promotion into an environment, as the desired-state
// history records it.
type Promotion struct {
	Time         time.Time `json:"time"`
	App          string    `json:"app"`
	From         string    `json:"from"`
	Image        string    `json:"image"`
	ChartVersion string    `json:"chartVersion,omitempty"`
	Actor        string    `json:"actor,omitempty"`
	Hotfix       bool      `json:"hotfix,omitempty"`
	Evidence     []string  `json:"evidence,omitempty"`
	Commit       string    `json:"commit"`
	Run          string    `json:"run,omitempty"`
}

// History lists the promotions into spec's environment (of app, or every
// app) among the newest depth commits of its desired state, newest first.
func (s *Step) History(ctx context.Context, spec land.Spec, app string, depth int) ([]Promotion, error) {
	snap, err := s.States.Snapshot(ctx, spec, depth)
	if err != nil {
		return nil, err
	}
	out := []Promotion{}
	for _, e := range release.History(snap.Commits, spec.Env, app) {
		if e.Action != release.ActionPromote {
			continue
		}
		out = append(out, Promotion{
			Time: e.Commit.Time, App: e.App, From: e.From, Image: e.Image.String(), ChartVersion: e.ChartVersion,
			Actor: e.Actor, Hotfix: e.Hotfix, Evidence: strings.Fields(e.Evidence), Commit: e.Commit.SHA, Run: e.Pipeline,
		})
	}
	return out, nil
}

// WriteHistory prints promotions as a table.
func WriteHistory(w io.Writer, env string, list []Promotion) error {
	if len(list) == 0 {
		_, err := fmt.Fprintf(w, "no promotions into %s in the history read\n", env)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tAPP\tFROM\tIMAGE\tCHART\tBY\tHOTFIX\tCOMMIT")
	for _, p := range list {
		hotfix := ""
		if p.Hotfix {
			hotfix = "hotfix"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Time.UTC().Format(time.RFC3339), p.App, p.From, p.Image,
			orDash(p.ChartVersion), orDash(p.Actor), hotfix, p.Commit[:min(12, len(p.Commit))])
	}
	return tw.Flush()
}
