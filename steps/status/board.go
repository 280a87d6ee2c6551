package status

import (
	"time"

	"github.com/stepper-cd/stepper/internal/config"
	"github.com/stepper-cd/stepper/internal/gate"
)

// Board is the environment × app board: the environments shown, in the
// chain's order, each with its apps in name order.
type Board struct {
	Chain        string        `json:"chain,omitempty"`
	Environments []Environment `json:"environments"`
	// Apps are every app shown, in name order: the board's rows.
	Apps []string `json:"apps"`
	// At is when the evidence was read; ages and soaks count to it.
	At time.Time `json:"at"`
	// Drift says the cluster was read (--kubeconfig).
	Drift bool `json:"drift,omitempty"`
	// plainHTTP are the registries links reach over plain HTTP.
	plainHTTP []string
}

// Environment is one environment's column.
type Environment struct {
	Name string `json:"name"`
	// Next is where its releases are promoted to; "" for the last.
	Next string `json:"next,omitempty"`
	// Route is how a change lands here: commit, merge-request, jenkins or
	// tag.
	Route string `json:"route"`
	// Repo, Branch and Path are where its desired state lives, and Head
	// the commit it was read at.
	Repo    string `json:"repo"`
	Branch  string `json:"branch,omitempty"`
	Path    string `json:"path,omitempty"`
	Head    string `json:"head"`
	HeadURL string `json:"headUrl,omitempty"`
	Apps    []Cell `json:"apps"`
}

// Cell is one app in one environment.
type Cell struct {
	App     string  `json:"app"`
	Env     string  `json:"env"`
	Release Release `json:"release"`
	// Problem is what kept the release from being checked (an image
	// without a digest whose tag does not resolve, no image at all).
	Problem string `json:"problem,omitempty"`
	// Evidence is the signed, validated and smoke-tested (in this
	// environment, after the release landed here) gates, verified now.
	Evidence []gate.Result `json:"evidence,omitempty"`
	// Landed is the newest release commit of the app here.
	Landed *Landed `json:"landed,omitempty"`
	// Promotion is the verdict on a promotion into the next environment;
	// nil in the last one.
	Promotion *Promotion `json:"promotion,omitempty"`
	// Hold is the rollback that holds the app here, if one does.
	Hold *Rollback `json:"hold,omitempty"`
	// Rollbacks are the app's rollbacks here in the history read, newest
	// first.
	Rollbacks []Rollback `json:"rollbacks,omitempty"`
	// Drift is what the cluster runs, with --kubeconfig.
	Drift *Drift `json:"drift,omitempty"`
}

// Release is the app's release as the desired state names it.
type Release struct {
	Repository string `json:"repository,omitempty"`
	Tag        string `json:"tag,omitempty"`
	Digest     string `json:"digest,omitempty"`
	// Resolved says the desired state names a tag only and Digest is what
	// the tag names in the registry now.
	Resolved     bool   `json:"resolvedFromTag,omitempty"`
	Chart        string `json:"chart,omitempty"`
	ChartVersion string `json:"chartVersion,omitempty"`
	Namespace    string `json:"namespace,omitempty"`
	Disabled     bool   `json:"disabled,omitempty"`
}

// Landed is the newest commit that landed a release of the app, as its
// Stepper-* trailers record it.
type Landed struct {
	// Action is deploy, promote or rollback.
	Action string `json:"action"`
	From   string `json:"from,omitempty"`
	Actor  string `json:"actor,omitempty"`
	// At is when the commit reached the branch (its merge, for a merge
	// request).
	At        time.Time `json:"at"`
	Commit    string    `json:"commit"`
	CommitURL string    `json:"commitUrl,omitempty"`
	Pipeline  string    `json:"pipeline,omitempty"`
	Image     string    `json:"image,omitempty"`
	Hotfix    bool      `json:"hotfix,omitempty"`
	Evidence  []string  `json:"evidence,omitempty"`
	// Since says the desired state has changed the app's image since,
	// without stepper (by hand).
	Since string `json:"changedSince,omitempty"`
}

// Verdicts of a promotion into the next environment.
const (
	// MayPromote: every gate of the next environment passes (who may
	// promote is checked when someone does).
	MayPromote = "may-promote"
	// Stopped: a gate fails; StoppedBy names it.
	Stopped = "stopped"
	// InNext: the next environment runs this release already.
	InNext = "in-next"
	// NotInNext: the next environment has no such app; it enters there
	// by a deploy of its own settings.
	NotInNext = "not-in-next"
	// Unknown: the release could not be checked (see Cell.Problem).
	Unknown = "unknown"
)

// Promotion is what a promotion of the release into the next environment
// would meet: the gates promote checks, asked the same way.
type Promotion struct {
	To        string        `json:"to"`
	Verdict   string        `json:"verdict"`
	StoppedBy []string      `json:"stoppedBy,omitempty"`
	Gates     []gate.Result `json:"gates,omitempty"`
	// Deployed is when the release landed here, which the smoke test
	// must be newer than and the soak counts from.
	Deployed time.Time `json:"deployed,omitzero"`
}

// Rollback is a rollback commit of the app.
type Rollback struct {
	Commit    string    `json:"commit"`
	CommitURL string    `json:"commitUrl,omitempty"`
	At        time.Time `json:"at"`
	Actor     string    `json:"actor,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	// Image is the release it restored; Reverts the commit it undid.
	Image   string `json:"image,omitempty"`
	Reverts string `json:"reverts,omitempty"`
	Held    bool   `json:"held,omitempty"`
}

// Drift is what the cluster runs for the app against the desired release.
type Drift struct {
	Namespace string `json:"namespace"`
	// Missing says the cluster has no Helm release of the app.
	Missing      bool      `json:"missing,omitempty"`
	Revision     int       `json:"revision,omitempty"`
	Status       string    `json:"status,omitempty"`
	Updated      time.Time `json:"updated,omitzero"`
	ChartVersion string    `json:"chartVersion,omitempty"`
	Image        string    `json:"image,omitempty"`
	Ready        bool      `json:"ready"`
	NotReady     string    `json:"notReady,omitempty"`
	// Differs names what differs from the desired state: image, chart,
	// status.
	Differs []string `json:"differs,omitempty"`
}

// InSync says the cluster runs the desired release, deployed and ready.
func (d *Drift) InSync() bool { return d != nil && !d.Missing && d.Ready && len(d.Differs) == 0 }

// Cell returns app's cell in env, or nil.
func (b *Board) Cell(env, app string) *Cell {
	for i := range b.Environments {
		if b.Environments[i].Name != env {
			continue
		}
		for j := range b.Environments[i].Apps {
			if c := &b.Environments[i].Apps[j]; c.App == app {
				return c
			}
		}
	}
	return nil
}

// EvidenceOf is the cell's verdict of evidence gate g, and whether it was
// checked.
func (c *Cell) EvidenceOf(g config.Gate) (gate.Result, bool) {
	for _, r := range c.Evidence {
		if r.Gate == g {
			return r, true
		}
	}
	return gate.Result{}, false
}
