package status

import (
	_ "embed"
	"html/template"
	"io"
	"strings"
	"time"
)

//go:embed board.html
var boardHTML string

// page is the board's HTML template; html/template escapes every value
// and keeps only safe URLs in links.
var page = template.Must(template.New("board").Parse(boardHTML))

// WriteHTML writes the board as one self-contained page: inline CSS, no
// script, no external asset, so that it works as a GitLab Pages or Jenkins
// HTML-publisher artifact. A row per app, a column per environment; every
// cell links to its evidence: the signature and attestations in the
// registry, the commit that landed the release and its pipeline, the
// rollback that holds it.
func WriteHTML(w io.Writer, b *Board) error {
	return page.Execute(w, b.view())
}

type pageView struct {
	Title, At, AtISO, Chain string
	Drift                   bool
	Envs                    []Environment
	Rows                    []rowView
}

type rowView struct {
	App   string
	Cells []cellView
}

type cellView struct {
	Present            bool
	Env, App, Class    string
	Image, ImageFull   string
	ImageURL, Chart    string
	Problem            string
	Gates              []linkView
	Landed, Next, Hold *linkView
	Drift              *linkView
	Rollbacks          []linkView
}

// linkView is one piece of a cell: its text, what it links to, a tooltip
// and a state for its colour.
type linkView struct {
	Name, Text, Title, URL, State string
	Pipeline                      string
}

func (b *Board) view() pageView {
	v := pageView{Title: "stepper status", At: b.At.UTC().Format("2006-01-02 15:04:05 UTC"), AtISO: b.At.UTC().Format(time.RFC3339),
		Chain: b.Chain, Drift: b.Drift}
	for _, e := range b.Environments {
		e.Head = shortSHA(e.Head)
		v.Envs = append(v.Envs, e)
	}
	for _, app := range b.Apps {
		row := rowView{App: app}
		for _, e := range b.Environments {
			c := b.Cell(e.Name, app)
			if c == nil {
				row.Cells = append(row.Cells, cellView{Env: e.Name, App: app})
				continue
			}
			row.Cells = append(row.Cells, b.cellView(c))
		}
		v.Rows = append(v.Rows, row)
	}
	return v
}

func (b *Board) cellView(c *Cell) cellView {
	r := c.Release
	v := cellView{Present: true, Env: c.Env, App: c.App, Image: imageText(r), Chart: r.ChartVersion, Problem: c.Problem}
	v.ImageFull = r.Repository
	if r.Tag != "" {
		v.ImageFull += ":" + r.Tag
	}
	if r.Digest != "" {
		v.ImageFull += "@" + r.Digest
		v.ImageURL = b.manifestURL(r.Repository + "@" + r.Digest)
	}
	for _, g := range evidenceGates {
		res, ok := c.EvidenceOf(g)
		if !ok {
			continue
		}
		l := linkView{Name: string(g), Text: string(g), Title: gateTitle(res), State: "fail"}
		switch {
		case res.Off:
			l.State = "off"
		case res.Passed:
			l.State, l.URL = "pass", b.manifestURL(res.Evidence)
		default:
			l.Text = "not " + string(g)
		}
		v.Gates = append(v.Gates, l)
	}
	if l := c.Landed; l != nil {
		title := "commit " + l.Commit
		if l.Image != "" {
			title += ": " + l.Image
		}
		if l.Since != "" {
			title += "; " + l.Since
		}
		v.Landed = &linkView{Text: landedText(c), URL: l.CommitURL, Title: title, Pipeline: l.Pipeline}
	}
	if p := c.Promotion; p != nil {
		n := &linkView{Text: "→ " + nextText(c), State: p.Verdict}
		var titles []string
		for _, g := range p.Gates {
			titles = append(titles, gateTitle(g))
			if g.Gate == "smoke-tested" && g.Passed {
				n.URL = b.manifestURL(g.Evidence)
			}
		}
		n.Title = strings.Join(titles, "\n")
		v.Next = n
	}
	if h := c.Hold; h != nil {
		v.Hold = &linkView{Text: "held by rollback " + shortSHA(h.Commit) + reason(h.Reason), URL: h.CommitURL,
			Title: "since " + stamp(h.At) + byWhom(h.Actor) + "; a promotion or deploy --release-hold lifts it"}
		v.Class = "held"
	}
	for _, rb := range c.Rollbacks {
		if c.Hold != nil && rb.Commit == c.Hold.Commit {
			continue
		}
		v.Rollbacks = append(v.Rollbacks, linkView{Text: "rolled back " + stamp(rb.At) + byWhom(rb.Actor), URL: rb.CommitURL,
			Title: strings.TrimSpace("to " + rb.Image + reason(rb.Reason))})
	}
	if d := c.Drift; d != nil {
		state := "drifted"
		if d.InSync() {
			state = "in-sync"
		}
		v.Drift = &linkView{Text: "cluster: " + driftText(d), State: state, Title: strings.TrimSpace(d.Image + " " + d.NotReady)}
	}
	if c.Problem != "" {
		v.Class = "problem"
	}
	return v
}
