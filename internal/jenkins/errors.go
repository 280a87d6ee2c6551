package jenkins

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/retry"
)

// statusError turns an answer that is not what cl expects into an error with
// its class and what to do about it. It never quotes the request's
// credentials: they are not in the URL, and headers are not shown.
func statusError(cl call, resp *http.Response) error {
	code := resp.StatusCode
	switch {
	case code == http.StatusUnauthorized:
		return exit.Usagef("%s: Jenkins refused the credentials (HTTP 401); check that jenkins.user names a Jenkins "+
			"user and that jenkins.token holds a valid API token of that user (the user's Security page in Jenkins "+
			"makes one)", cl.op)
	case code == http.StatusForbidden && crumbRefused(resp):
		return exit.Infraf("%s: Jenkins refused the CSRF crumb even when fresh (HTTP 403 No valid crumb); Jenkins ties "+
			"a crumb to its session cookie, so check that no proxy in front of Jenkins drops cookies and that "+
			"jenkins.url does not spread requests over several Jenkins without sticky sessions", cl.op)
	case code == http.StatusForbidden:
		return exit.Usagef("%s: Jenkins denied access (HTTP 403%s); check jenkins.user and jenkins.token, and give "+
			"that user the permission %s", cl.op, youAre(resp), cl.perm)
	case code == http.StatusNotFound:
		return exit.Mark(cmp.Or(cl.gone, exit.Usage), fmt.Errorf("%s: %s (HTTP 404)", cl.op, cl.notFound))
	case code >= 300 && code < 400:
		return exit.Usagef("%s: Jenkins redirected the request to %q (HTTP %d); set jenkins.url to the address "+
			"Jenkins itself serves: a proxy that sends API calls to a login page does not take API tokens",
			cl.op, resp.Header.Get("Location"), code)
	case code == http.StatusTooManyRequests || code >= 500:
		return exit.Infraf("%s: Jenkins failed (HTTP %d %s); rerun once Jenkins is healthy", cl.op, code, http.StatusText(code))
	}
	return exit.Usagef("%s: Jenkins refused the request (HTTP %d %s)", cl.op, code, http.StatusText(code))
}

// youAre reads whom Jenkins took the caller for: Jenkins names the user in
// X-You-Are-Authenticated-As, and "anonymous" means the credentials never
// arrived.
func youAre(resp *http.Response) string {
	if who := resp.Header.Get("X-You-Are-Authenticated-As"); who != "" {
		return ", authenticated as " + who
	}
	return ""
}

// transportError classifies err from a request that got no answer; note is
// added to the remedy.
func transportError(op string, err error, note string) error {
	switch {
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("%s: %w", op, err)
	case isTimeout(err):
		return exit.Infraf("%s: Jenkins did not answer in time; check that Jenkins at jenkins.url is healthy and that "+
			"this runner can reach it%s: %w", op, note, err)
	case retry.Unreachable(err):
		return exit.Infraf("%s: Jenkins is unreachable; check jenkins.url and that this runner can reach it "+
			"(proxy, firewall)%s: %w", op, note, err)
	}
	return exit.Infraf("%s: %w%s", op, err, note)
}

// isTimeout tells whether err is a request that ran out of time.
func isTimeout(err error) bool {
	var nerr net.Error
	return errors.As(err, &nerr) && nerr.Timeout() || errors.Is(err, context.DeadlineExceeded)
}

// bodyHas tells whether the (bounded) body of resp contains s; it keeps the
// body readable.
func bodyHas(resp *http.Response, s string) bool {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return bytes.Contains(body, []byte(s))
}
