package gitlab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"

	gl "gitlab.com/gitlab-org/api/client-go/v2"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/retry"
)

// classify wraps err from op on project with its exit class and what to do
// about it. client-go's errors carry the method, the URL, the status and
// GitLab's message, never the token, which travels in a header; so err
// itself may be shown.
func classify(op, project string, err error) error {
	// client-go v2 answers 404 with its ErrNotFound, an ErrorResponse
	// without the HTTP response; StatusCode is set on every one.
	var resp *gl.ErrorResponse
	status := 0
	if errors.As(err, &resp) {
		status = resp.StatusCode
	}
	var nerr net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("%s: %w", op, err)
	case errors.As(err, &nerr) && nerr.Timeout(), errors.Is(err, context.DeadlineExceeded):
		return exit.Infraf("%s: GitLab did not answer in time; check that the instance at gitlab.url is healthy "+
			"and that this runner can reach it: %w", op, err)
	case retry.Unreachable(err):
		return exit.Infraf("%s: GitLab is unreachable; check gitlab.url and that this runner can reach it "+
			"(proxy, firewall): %w", op, err)
	case status == http.StatusUnauthorized:
		return exit.Usagef("%s: GitLab refused the token (HTTP 401); check that gitlab.token holds an access token "+
			"that is neither expired nor revoked, with scope api: %w", op, err)
	case status == http.StatusForbidden:
		return exit.Usagef("%s: the token may not do this in project %s (HTTP 403); give it scope api and at least "+
			"the Developer role in the project, and check that protected-branch rules allow merge requests into the "+
			"target branch: %w", op, project, err)
	case errors.Is(err, gl.ErrNotFound):
		return exit.Usagef("%s: project %s or the merge request was not found (HTTP 404); check the desired-state "+
			"repository URL, and that the token's user is a member of the project (GitLab answers 404, not 403, "+
			"for projects a token cannot see): %w", op, project, err)
	case status == http.StatusTooManyRequests:
		after := ""
		if d, ok := retryAfter(resp.Response); ok {
			after = fmt.Sprintf(", retry after %s", d)
		}
		return exit.Infraf("%s: GitLab rate-limited this token (HTTP 429%s); rerun the job later or raise the "+
			"limit for the token's user: %w", op, after, err)
	case status >= 500:
		return exit.Infraf("%s: GitLab failed (HTTP %d, retried up to %d attempts); rerun the job once the instance "+
			"is healthy: %w", op, status, defaultRetry.tries, err)
	case status >= 400:
		// GitLab refused the request itself (a branch that does not
		// exist, a label it cannot take): the inputs need fixing.
		return exit.Usagef("%s: GitLab refused the request (HTTP %d): %w", op, status, err)
	}
	return exit.Infraf("%s: %w", op, err)
}
