package registry

import (
	"context"
	"errors"
	"github.com/stepper-cd/stepper/internal/retry"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Backoff is the retry policy for requests that fail in a way worth trying
// again: 408, 429, 500, 502, 503, 504, a reset connection or a connection
// closed before the answer. A refused connection or an unknown host is not
// retried: the registry is not there, and saying so at once helps more.
type Backoff struct {
	// Tries is the number of attempts, the first included; default 5.
	Tries int
	// Initial is the wait before the first retry; default 200ms. Each
	// further wait doubles, up to Max.
	Initial time.Duration
	// Max caps one wait, a Retry-After from the registry included;
	// default 5s.
	Max time.Duration
}

func (b Backoff) withDefaults() Backoff {
	if b.Tries <= 0 {
		b.Tries = 5
	}
	if b.Initial <= 0 {
		b.Initial = 200 * time.Millisecond
	}
	if b.Max <= 0 {
		b.Max = 5 * time.Second
	}
	return b
}

// delay is the wait before retry n (0 for the first retry): the doubled
// interval, capped, with its upper half jittered so that the jobs of a
// pipeline that failed together do not retry together.
func (b Backoff) delay(n int) time.Duration {
	d := b.Initial
	for range n {
		if d >= b.Max {
			break
		}
		d *= 2
	}
	d = min(d, b.Max)
	return d/2 + rand.N(d/2+1)
}

// retryTransport retries the requests that can be sent again as they are.
//
// go-containerregistry's own retrying transport sleeps without watching the
// context and resends a request whose body it cannot rewind; it is switched
// off (see remoteOptions) and this one takes its place.
//
// The requests of a blob upload session (the PATCH carrying the bytes and the
// PUT committing them) are never resent here: after a failure part of the
// body may already be in the session, and sending it again would append it
// twice. go-containerregistry restarts the whole upload of that blob instead
// (existence check, new session); uploadRetry decides when.
type retryTransport struct {
	next    http.RoundTripper
	backoff Backoff
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !replayable(req) {
		return t.next.RoundTrip(req)
	}
	ctx := req.Context()
	attempt := req
	for n := 0; ; n++ {
		resp, err := t.next.RoundTrip(attempt)
		if n+1 >= t.backoff.Tries || !(retryableStatus(resp) || retryableNetError(err)) {
			return resp, err
		}
		wait := t.backoff.delay(n)
		if resp != nil {
			if d, ok := retryAfter(resp); ok {
				wait = min(d, t.backoff.Max)
			}
			// Read a little of the body so the connection can be reused.
			_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
			resp.Body.Close()
		}
		if retry.Sleep(ctx, wait) != nil {
			return nil, ctx.Err()
		}
		if attempt, err = rewind(req); err != nil {
			return nil, err
		}
	}
}

// replayable tells whether req may be sent again: it has no body or one that
// can be produced anew, and it is not part of a blob upload session.
func replayable(req *http.Request) bool {
	if uploadSession(req.Method, req.URL) {
		return false
	}
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

// uploadSession tells whether a request continues a blob upload session:
// PATCH or PUT on /v2/<name>/blobs/uploads/<id>.
func uploadSession(method string, u *url.URL) bool {
	if u == nil {
		return false
	}
	m := strings.ToUpper(method)
	return (m == http.MethodPatch || m == http.MethodPut) && strings.Contains(u.Path, "/blobs/uploads/") &&
		!strings.HasSuffix(u.Path, "/blobs/uploads/")
}

func rewind(req *http.Request) (*http.Request, error) {
	again := req.Clone(req.Context())
	if req.Body != nil && req.Body != http.NoBody {
		body, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		again.Body = body
	}
	return again, nil
}

func retryableStatus(resp *http.Response) bool {
	if resp == nil {
		return false
	}
	switch resp.StatusCode {
	case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// retryableNetError tells whether err is a connection that broke after it
// was made. Refused connections, unknown hosts, TLS failures and timeouts
// are not retried.
func retryableNetError(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed)
}

// retryAfter reads a Retry-After header given in seconds.
func retryAfter(resp *http.Response) (time.Duration, bool) {
	v := resp.Header.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	secs, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || secs < 0 {
		return 0, false
	}
	return time.Duration(secs) * time.Second, true
}

// uploadRetry is the retry predicate go-containerregistry calls when an
// operation failed: at the transport level (where it is always false, see
// retryTransport) and around the upload of one blob or manifest. It retries
// only failures retryTransport could not: a broken upload session. It waits
// here, watching ctx, because go-containerregistry's own wait does not; the
// backoff handed to it has no delay. Waits grow with the number of restarts
// in the operation that built the predicate.
func uploadRetry(ctx context.Context, b Backoff) remote.Option {
	var restarts atomic.Int64
	return remote.WithRetryPredicate(func(err error) bool {
		if ctx.Err() != nil || !brokenUploadSession(err) {
			return false
		}
		return retry.Sleep(ctx, b.delay(int(restarts.Add(1)-1))) == nil
	})
}

// brokenUploadSession tells whether err is a retryable failure of a request
// in a blob upload session.
func brokenUploadSession(err error) bool {
	var terr *transport.Error
	if errors.As(err, &terr) && terr.Request != nil {
		return uploadSession(terr.Request.Method, terr.Request.URL) &&
			retryableStatus(&http.Response{StatusCode: terr.StatusCode})
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		u, perr := url.Parse(uerr.URL)
		return perr == nil && uploadSession(uerr.Op, u) && retryableNetError(uerr.Err)
	}
	return false
}
