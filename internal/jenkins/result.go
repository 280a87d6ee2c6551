package jenkins

import (
	"cmp"
	"context"
	"slices"
	"strings"

	"github.com/stepper-cd/stepper/internal/exit"
)

// userIDCause is the cause Jenkins records when a user starts a build, from
// the web page or the API.
const userIDCause = "hudson.model.Cause$UserIdCause"

// StartedBy returns the id of the user who started the build at buildURL,
// from the UserIdCause among its causes. A replay (ReplayCause) or rebuild
// (RebuildCause) carries the UserIdCause of whoever replayed it, so that
// user is returned. Only the build's own causes count: the user behind an
// upstream build did not start this one. A build no user started (a timer,
// an SCM change, an upstream build) is a failure naming its causes, and so
// is one that names two users.
func (c *Client) StartedBy(ctx context.Context, buildURL string) (string, error) {
	b, err := c.GetBuild(ctx, buildURL)
	if err != nil {
		return "", err
	}
	var users []string
	for _, cs := range b.Causes {
		// Without _class (a Jenkins that leaves it out of a tree) the
		// userId alone tells a UserIdCause.
		if (cs.Class == userIDCause || cs.Class == "") && cs.UserID != "" && !slices.Contains(users, cs.UserID) {
			users = append(users, cs.UserID)
		}
	}
	switch len(users) {
	case 1:
		return users[0], nil
	case 0:
		return "", exit.Failedf("jenkins: build %s was not started by a user (%s); only a build a user starts, "+
			"or replays or rebuilds, tells who promotes: start the job by hand", b.URL, describeCauses(b.Causes))
	}
	return "", exit.Failedf("jenkins: build %s names more than one user as its starter (%s); start the job again by hand, "+
		"so that one user started it", b.URL, strings.Join(users, ", "))
}

// describeCauses lists causes for a message, by what Jenkins shows of them.
func describeCauses(causes []Cause) string {
	if len(causes) == 0 {
		return "Jenkins gives no cause"
	}
	var parts []string
	for _, cs := range causes {
		parts = append(parts, cmp.Or(cs.ShortDescription, cs.Class, "a cause without a name"))
	}
	return strings.Join(parts, "; ")
}

// ResultError maps the result of job's build b onto an error: nil for
// SUCCESS, a failure naming the job, the build and the result otherwise.
func ResultError(job string, b *Build) error {
	switch {
	case b == nil:
		return exit.Failedf("jenkins job %s: no build to judge", job)
	case b.Result == "SUCCESS":
		return nil
	case b.Result == "ABORTED":
		return exit.Failedf("jenkins job %s: build #%d was aborted; its console says who stopped it: %sconsole", job, b.Number, b.URL)
	case b.Result == "":
		return exit.Failedf("jenkins job %s: build #%d has no result yet; it still runs: %s", job, b.Number, b.URL)
	}
	return exit.Failedf("jenkins job %s: build #%d ended %s; read why in its console: %sconsole", job, b.Number, b.Result, b.URL)
}
