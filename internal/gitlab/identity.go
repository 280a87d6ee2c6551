package gitlab

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	gl "gitlab.com/gitlab-org/api/client-go/v2"

	"github.com/stepper-cd/stepper/internal/exit"
)

// JobUser returns the username of the user a CI job runs as, asking GitLab
// with the job's own token: GET /api/v4/job with header JOB-TOKEN. The
// answer's user.username is the identity. GITLAB_USER_LOGIN is never read:
// a pipeline may set it to any name, the job token it cannot forge.
//
// The request carries the job token alone: GitLab answers /job for a
// PRIVATE-TOKEN's user, who has no job, with 404. A token GitLab refuses
// (401) is not the token of a running job, and fails the check.
func (c *Client) JobUser(ctx context.Context, jobToken string) (string, error) {
	const op = "who runs this job"
	if jobToken == "" {
		return "", exit.Usagef("gitlab %s: %s: no job token; run inside a GitLab CI job, where CI_JOB_TOKEN is set", c.host, op)
	}
	api, err := c.jobClient(jobToken)
	if err != nil {
		return "", exit.Usagef("gitlab %s: %s: %w", c.host, op, err)
	}
	job, _, err := api.Jobs.GetJobTokensJob(&gl.GetJobTokensJobOptions{}, gl.WithContext(ctx))
	switch {
	case gl.HasStatusCode(err, http.StatusUnauthorized):
		return "", exit.Failedf("gitlab %s: %s: GitLab refused the job token (HTTP 401): it is not the CI_JOB_TOKEN "+
			"of a running job on this instance; run the step inside the job whose user is to be checked", c.host, op)
	case errors.Is(err, gl.ErrNotFound):
		return "", exit.Infraf("gitlab %s: %s: GitLab has no job for the token (HTTP 404): %w", c.host, op, err)
	case err != nil:
		return "", c.failIdentity(op, err)
	case job.User == nil || job.User.Username == "":
		return "", exit.Infraf("gitlab %s: %s: GitLab named no user for job %d", c.host, op, job.ID)
	}
	return job.User.Username, nil
}

// jobClient is a client for the same instance, through the same HTTP client
// and retry policy as c, that authenticates with jobToken instead of c's
// token.
func (c *Client) jobClient(jobToken string) (*gl.Client, error) {
	return gl.NewJobClient(jobToken, clientOptions(c.api.BaseURL().String(), c.api.HTTPClient())...)
}

// CurrentUser returns the username of the owner of the client's own token:
// GET /api/v4/user.
func (c *Client) CurrentUser(ctx context.Context) (string, error) {
	u, _, err := c.api.Users.CurrentUser(gl.WithContext(ctx))
	if err != nil {
		return "", c.failIdentity("who owns gitlab.token", err)
	}
	return u.Username, nil
}

// InGroup reports whether username is a member of group, given by its full
// path ("ehealth/sre" or "sre"), members inherited from its ancestor groups
// and members of groups invited to it included, as GitLab counts them for
// access: GET /groups/:id/members/all?query=username, all pages.
//
// Any role counts, from Guest to Owner: membership is the promise, the role
// is about what one may do in GitLab. A member whose account is not active
// (blocked, deactivated, banned) does not count. Usernames compare without
// regard to case, as GitLab's do.
//
// A group GitLab does not show is an error that fails the check: it may not
// exist or the token's user may not see it, and either way nobody can be
// told to be in it.
func (c *Client) InGroup(ctx context.Context, group, username string) (bool, error) {
	group = strings.Trim(group, "/")
	op := fmt.Sprintf("is %s in group %s", username, group)
	if group == "" || username == "" {
		return false, exit.Usagef("gitlab %s: %s: a group path and a username are both needed", c.host, op)
	}
	// query matches names and e-mails too, partly: the answer is filtered
	// again for the exact username.
	opt := &gl.ListGroupMembersOptions{ListOptions: gl.ListOptions{PerPage: 100}, Query: gl.Ptr(username)}
	for {
		members, resp, err := c.api.Groups.ListAllGroupMembers(group, opt, gl.WithContext(ctx))
		switch {
		case errors.Is(err, gl.ErrNotFound):
			return false, exit.Failedf("gitlab %s: group %q not found: check promoters, and that the user of gitlab.token "+
				"can see the group (GitLab answers 404 for groups a token cannot see)", c.host, group)
		case err != nil:
			return false, c.failIdentity(op, err)
		}
		for _, m := range members {
			if m != nil && strings.EqualFold(m.Username, username) {
				return m.State == "active", nil
			}
		}
		if resp == nil || resp.NextPage == 0 {
			return false, nil
		}
		opt.Page = resp.NextPage
	}
}

// userIDs resolves usernames to GitLab user ids, in order: GET
// /users?username=, one request each. A name GitLab does not know is a
// usage error naming it.
func (c *Client) userIDs(ctx context.Context, op string, usernames []string) ([]int64, error) {
	var ids []int64
	for _, name := range usernames {
		if name == "" {
			return nil, exit.Usagef("gitlab %s: %s: an empty username", c.host, op)
		}
		users, _, err := c.api.Users.ListUsers(&gl.ListUsersOptions{Username: gl.Ptr(name)}, gl.WithContext(ctx))
		if err != nil {
			return nil, c.failIdentity(op, err)
		}
		i := slices.IndexFunc(users, func(u *gl.User) bool { return u != nil && strings.EqualFold(u.Username, name) })
		if i < 0 {
			return nil, exit.Usagef("gitlab %s: %s: no user %q on this GitLab; check the username", c.host, op, name)
		}
		ids = append(ids, users[i].ID)
	}
	return ids, nil
}

// failIdentity classifies err from a look-up of users, groups or jobs:
// classify's words for 403 speak of projects.
func (c *Client) failIdentity(op string, err error) error {
	if gl.HasStatusCode(err, http.StatusForbidden) {
		return exit.Usagef("gitlab %s: %s: GitLab forbade the request (HTTP 403); an access token needs scope api "+
			"or read_api: %w", c.host, op, err)
	}
	return c.fail(op, "", err)
}
