package gitlab

import (
	"context"
	"errors"
	"fmt"
	"time"

	gl "gitlab.com/gitlab-org/api/client-go/v2"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/logging"
)

// WaitMergeRequest polls merge request iid of project every interval until
// its state is merged or closed, and returns it then. A locked merge
// request is being merged and is waited for too.
//
// When ctx ends first, the error wraps ctx's error and says the merge
// request is still open, with its URL. A deadline marks it failed (the merge
// request did not land in time); a cancellation is left unmarked, an
// interruption. GitLab failing or out of reach is logged and polled
// through, since a wait may outlast a restart of the instance; a token or
// merge request GitLab refuses ends the wait at once.
func (c *Client) WaitMergeRequest(ctx context.Context, project string, iid int, interval time.Duration) (*MR, error) {
	op := fmt.Sprintf("merge request !%d in %s", iid, project)
	switch {
	case project == "" || iid <= 0:
		return nil, exit.Usagef("gitlab: %s: a project and a positive merge request number are needed", op)
	case interval <= 0:
		return nil, exit.Usagef("gitlab: %s: the poll interval must be positive, not %s", op, interval)
	}
	var last *MR
	var lastErr error
	for {
		m, _, err := c.api.MergeRequests.GetMergeRequest(project, int64(iid), nil, gl.WithContext(ctx))
		switch {
		case ctx.Err() != nil:
			return nil, c.stillOpen(ctx, op, last, lastErr)
		case err != nil:
			lastErr = c.fail(op, project, err)
			if exit.ClassOf(lastErr) != exit.Infra {
				return nil, lastErr
			}
			logging.From(ctx).Warn().Err(lastErr).Int("iid", iid).Msg("gitlab: merge request state unknown; polling on")
		default:
			last, lastErr = fromAPI(&m.BasicMergeRequest), nil
			if last.State == "merged" || last.State == "closed" {
				return last, nil
			}
			logging.From(ctx).Debug().Int("iid", iid).Str("url", last.WebURL).Str("state", last.State).
				Msg("gitlab: waiting for the merge request")
		}
		select {
		case <-ctx.Done():
			return nil, c.stillOpen(ctx, op, last, lastErr)
		case <-time.After(interval):
		}
	}
}

// stillOpen is the error for a wait that ctx ended, with what the polls
// saw last.
func (c *Client) stillOpen(ctx context.Context, op string, last *MR, lastErr error) error {
	msg := fmt.Sprintf("gitlab %s: %s: stopped waiting before GitLab reported its state", c.host, op)
	if last != nil {
		msg = fmt.Sprintf("gitlab %s: %s is still %s: %s; merge or close it, or wait longer", c.host, op, last.State, last.WebURL)
	}
	if lastErr != nil {
		msg += fmt.Sprintf(" (the last poll failed: %v)", lastErr)
	}
	err := fmt.Errorf("%s: %w", msg, ctx.Err())
	if errors.Is(err, context.DeadlineExceeded) {
		return exit.Mark(exit.Failed, err)
	}
	return err
}
