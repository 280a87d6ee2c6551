package gitlab

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"

	gl "gitlab.com/gitlab-org/api/client-go/v2"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/logging"
)

// MergeRequest is the merge request a change should have.
type MergeRequest struct {
	// Project is the project's path, "group/env-repo", or its numeric id.
	Project      string
	SourceBranch string
	TargetBranch string
	Title        string
	// Description is Markdown; it is sent as it is. KeepDescription leaves
	// an existing merge request's description as it is (a repeated deploy
	// that changed nothing has no new diff to show); a new one gets
	// Description.
	Description     string
	KeepDescription bool
	// Changes, when given, are listed below Description, one entry per
	// change, and merged into those the open merge request lists already:
	// an entry with the same key is replaced, the others stay, so that a
	// merge request shared by several pending changes names them all.
	// KeepDescription then keeps only the text outside the entries.
	//
	// The merge is a read and a write with no lock in between: two runs
	// updating the same merge request at the same moment can lose one's
	// entry, which the next run of that change puts back. Pipelines that
	// must not lose one run the jobs one at a time (a resource_group).
	Changes []Change
	// Labels are added to the merge request; labels people added stay.
	Labels []string
	// Reviewers are GitLab usernames asked to review. They join an open
	// merge request's reviewers; reviewers people added stay. A name
	// GitLab does not know fails the call before anything is written.
	Reviewers          []string
	RemoveSourceBranch bool
}

// MR is a merge request as GitLab reports it.
type MR struct {
	IID    int
	WebURL string
	// State is opened, merged, closed or locked.
	State string
	// Created is false when an open merge request for the same source and
	// target branches existed and was updated.
	Created bool
	// MergeStatus is GitLab's detailed_merge_status: mergeable,
	// not_approved, ci_still_running, conflict, …
	MergeStatus string
	// Approvals is set by MergeRequestState for an open merge request, and
	// nil when GitLab did not say.
	Approvals *Approvals
}

// Approvals is where a merge request stands with its approval rules.
type Approvals struct {
	Approved bool
	Required int
	Left     int
	By       []string // user names
}

// EnsureMergeRequest makes sure one open merge request from mr.SourceBranch
// to mr.TargetBranch exists with mr's title, description and labels: it
// updates the open one if there is one, and creates it otherwise. Running it
// twice gives the same merge request.
func (c *Client) EnsureMergeRequest(ctx context.Context, mr MergeRequest) (*MR, error) {
	op := fmt.Sprintf("merge request %s→%s in %s", mr.SourceBranch, mr.TargetBranch, mr.Project)
	switch {
	case mr.Project == "" || mr.SourceBranch == "" || mr.TargetBranch == "":
		return nil, exit.Usagef("gitlab: %s: project, source branch and target branch are all needed", op)
	case mr.SourceBranch == mr.TargetBranch:
		return nil, exit.Usagef("gitlab: %s: source and target branch are the same", op)
	case mr.Title == "":
		return nil, exit.Usagef("gitlab: %s: the title is empty", op)
	}
	if err := mr.validChanges(op); err != nil {
		return nil, err
	}
	reviewers, err := c.userIDs(ctx, op+": reviewers", mr.Reviewers)
	if err != nil {
		return nil, err
	}
	open, err := c.findOpen(ctx, mr)
	if err != nil {
		return nil, c.fail(op, mr.Project, err)
	}
	if open == nil {
		created, err := c.create(ctx, mr, reviewers)
		if err == nil {
			logging.From(ctx).Debug().Int("iid", created.IID).Str("url", created.WebURL).Msg("gitlab: merge request created")
			return created, nil
		}
		// 409: another job, or an earlier attempt of this request whose
		// answer was lost, opened it in the meantime.
		if !gl.HasStatusCode(err, http.StatusConflict) {
			return nil, c.fail(op, mr.Project, err)
		}
		if open, err = c.findOpen(ctx, mr); err != nil {
			return nil, c.fail(op, mr.Project, err)
		}
		if open == nil {
			return nil, exit.Infraf("gitlab %s: %s: GitLab reported an open merge request (HTTP 409) but lists none", c.host, op)
		}
	}
	updated, err := c.update(ctx, mr, open, reviewers)
	if err != nil {
		return nil, c.fail(op, mr.Project, err)
	}
	logging.From(ctx).Debug().Int("iid", updated.IID).Str("url", updated.WebURL).Msg("gitlab: merge request updated")
	return updated, nil
}

// findOpen returns the open merge request from mr's source to its target
// branch, or nil. GitLab keeps at most one open per pair; should there be
// more, the newest is used.
func (c *Client) findOpen(ctx context.Context, mr MergeRequest) (*gl.BasicMergeRequest, error) {
	found, _, err := c.api.MergeRequests.ListProjectMergeRequests(mr.Project, &gl.ListProjectMergeRequestsOptions{
		State:        gl.Ptr("opened"),
		SourceBranch: gl.Ptr(mr.SourceBranch),
		TargetBranch: gl.Ptr(mr.TargetBranch),
		OrderBy:      gl.Ptr("created_at"),
		Sort:         gl.Ptr("desc"),
	}, gl.WithContext(ctx))
	if err != nil {
		return nil, err
	}
	for _, m := range found {
		// Filter again: a server that ignored a parameter must not make
		// us update someone else's merge request.
		if m != nil && m.State == "opened" && m.SourceBranch == mr.SourceBranch && m.TargetBranch == mr.TargetBranch {
			return m, nil
		}
	}
	return nil, nil
}

// create opens mr with the reviewers of the given user ids.
func (c *Client) create(ctx context.Context, mr MergeRequest, reviewers []int64) (*MR, error) {
	opt := &gl.CreateMergeRequestOptions{
		Title:              gl.Ptr(mr.Title),
		SourceBranch:       gl.Ptr(mr.SourceBranch),
		TargetBranch:       gl.Ptr(mr.TargetBranch),
		RemoveSourceBranch: gl.Ptr(mr.RemoveSourceBranch),
	}
	description, _ := mr.descriptionOver("", false)
	opt.Description = gl.Ptr(description)
	if len(mr.Labels) > 0 {
		opt.Labels = (*gl.LabelOptions)(&mr.Labels)
	}
	if len(reviewers) > 0 {
		opt.ReviewerIDs = &reviewers
	}
	m, _, err := c.api.MergeRequests.CreateMergeRequest(mr.Project, opt, gl.WithContext(ctx))
	if err != nil {
		return nil, err
	}
	out := fromAPI(&m.BasicMergeRequest)
	out.Created = true
	return out, nil
}

// update sets mr on open; its description is merged with open's when mr
// lists changes, and the reviewers of the given user ids join open's.
func (c *Client) update(ctx context.Context, mr MergeRequest, open *gl.BasicMergeRequest, reviewers []int64) (*MR, error) {
	opt := &gl.UpdateMergeRequestOptions{
		Title:              gl.Ptr(mr.Title),
		RemoveSourceBranch: gl.Ptr(mr.RemoveSourceBranch),
	}
	if description, changed := mr.descriptionOver(open.Description, true); changed {
		opt.Description = gl.Ptr(description)
	}
	if len(mr.Labels) > 0 {
		opt.AddLabels = (*gl.LabelOptions)(&mr.Labels)
	}
	if len(reviewers) > 0 {
		// reviewer_ids replaces the list: send those there are as well.
		all := []int64{}
		for _, u := range open.Reviewers {
			if u != nil {
				all = append(all, u.ID)
			}
		}
		for _, id := range reviewers {
			if !slices.Contains(all, id) {
				all = append(all, id)
			}
		}
		opt.ReviewerIDs = &all
	}
	m, _, err := c.api.MergeRequests.UpdateMergeRequest(mr.Project, open.IID, opt, gl.WithContext(ctx))
	if err != nil {
		return nil, err
	}
	return fromAPI(&m.BasicMergeRequest), nil
}

// MergeRequestState reports where merge request iid of project stands, with
// its approvals while it is open.
func (c *Client) MergeRequestState(ctx context.Context, project string, iid int) (*MR, error) {
	op := fmt.Sprintf("merge request !%d in %s", iid, project)
	if project == "" || iid <= 0 {
		return nil, exit.Usagef("gitlab: %s: a project and a positive merge request number are needed", op)
	}
	m, _, err := c.api.MergeRequests.GetMergeRequest(project, int64(iid), nil, gl.WithContext(ctx))
	if err != nil {
		return nil, c.fail(op, project, err)
	}
	out := fromAPI(&m.BasicMergeRequest)
	if out.State != "opened" {
		return out, nil
	}
	// Approvals are a second request and a nicety: when it fails the
	// state is still worth reporting.
	a, _, err := c.api.MergeRequests.GetMergeRequestApprovals(project, int64(iid), gl.WithContext(ctx))
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return nil, c.fail(op, project, err)
	case err != nil:
		logging.From(ctx).Warn().Err(err).Int("iid", iid).Msg("gitlab: approvals unknown")
	default:
		out.Approvals = &Approvals{Approved: a.Approved, Required: int(a.ApprovalsRequired), Left: int(a.ApprovalsLeft)}
		for _, u := range a.ApprovedBy {
			if u != nil && u.User != nil {
				out.Approvals.By = append(out.Approvals.By, u.User.Username)
			}
		}
	}
	return out, nil
}

func fromAPI(m *gl.BasicMergeRequest) *MR {
	return &MR{IID: int(m.IID), WebURL: m.WebURL, State: m.State, MergeStatus: m.DetailedMergeStatus}
}
