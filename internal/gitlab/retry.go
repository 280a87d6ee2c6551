package gitlab

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/stepper-cd/stepper/internal/logging"
)

// retryPolicy says which answers are tried again and how long to wait.
//
// client-go retries through hashicorp/go-retryablehttp, whose wait watches
// the context. Its defaults suit a long-running service, not a pipeline job:
// six attempts, rate-limit waits that ignore Retry-After, and retries of
// refused connections. This policy replaces them: three attempts in all, on
// 429 and 5xx only, waiting as long as Retry-After asks when that is short
// and not at all when it is long, so that a job fails soon and says why.
//
// Every request stepper sends may be repeated: reads and updates are
// idempotent, and a create that reached GitLab before its answer was lost
// comes back as 409, which EnsureMergeRequest turns into an update.
type retryPolicy struct {
	tries   int           // attempts, the first included
	initial time.Duration // wait before the first retry; doubles after
	maxWait time.Duration // cap on one wait; a longer Retry-After is not waited for
}

var defaultRetry = retryPolicy{tries: 3, initial: 250 * time.Millisecond, maxWait: 10 * time.Second}

// check is the go-retryablehttp CheckRetry. Transport errors are not retried:
// an instance that cannot be reached is reported at once.
func (p retryPolicy) check(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if err != nil || resp == nil || !retryableStatus(resp.StatusCode) {
		return false, nil
	}
	if d, ok := retryAfter(resp); ok && d > p.maxWait {
		return false, nil
	}
	return true, nil
}

// backoff is the go-retryablehttp Backoff; it is called only before a retry.
// The bounds it is handed are the library's and are not used.
func (p retryPolicy) backoff(_, _ time.Duration, attempt int, resp *http.Response) time.Duration {
	wait, asked := retryAfter(resp)
	if !asked {
		wait = p.initial << min(attempt, 16)
		wait = wait/2 + rand.N(wait/2+1) // jitter, so failed jobs do not come back together
	}
	wait = min(wait, p.maxWait)
	if resp != nil && resp.Request != nil {
		logging.From(resp.Request.Context()).Warn().
			Str("method", resp.Request.Method).Str("path", resp.Request.URL.Path).
			Int("status", resp.StatusCode).Dur("wait", wait).
			Msg("gitlab: request failed, retrying")
	}
	return wait
}

func retryableStatus(code int) bool {
	return code == http.StatusTooManyRequests || code == http.StatusInternalServerError ||
		code == http.StatusBadGateway || code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout
}

// retryAfter reads how long GitLab asks to wait: Retry-After in seconds, or
// else RateLimit-Reset, the Unix time the limit lifts, which GitLab's rate
// limiter sends beside it.
func retryAfter(resp *http.Response) (time.Duration, bool) {
	if resp == nil {
		return 0, false
	}
	if secs, err := strconv.Atoi(strings.TrimSpace(resp.Header.Get("Retry-After"))); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second, true
	}
	if reset, err := strconv.ParseInt(strings.TrimSpace(resp.Header.Get("RateLimit-Reset")), 10, 64); err == nil && reset > 0 {
		return max(time.Until(time.Unix(reset, 0)), 0), true
	}
	return 0, false
}
