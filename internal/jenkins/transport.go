package jenkins

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/logging"
	"github.com/stepper-cd/stepper/internal/retry"
)

// Bounds on what stepper reads from Jenkins in one answer.
const (
	maxJSON      = 4 << 20  // an api/json answer, trimmed by tree=
	maxErrorBody = 64 << 10 // an error page, read to tell a refused crumb
)

// call says what a request is for, so that its errors can say what to do.
type call struct {
	op       string     // "jenkins: trigger job platform/promote"
	perm     string     // the permission it needs, named on a 403
	notFound string     // what a 404 means here and what to do
	gone     exit.Class // class of a 404; zero means a usage error
}

// Reads are tried again on answers that say Jenkins is busy or restarting,
// and on connections that fail or break: tries attempts in all, waiting
// initial, then twice as long each time. A request that timed out is not
// tried again: a Jenkins that hangs for attemptTimeout rarely recovers in
// the seconds a retry waits, and the job should say so soon.
const (
	tries   = 4
	initial = 250 * time.Millisecond
)

// send makes one request with the credentials; form, when not nil, is the
// POST body, and cr the crumb to send with it.
func (c *Client) send(ctx context.Context, method, rawURL string, form url.Values, cr *crumb) (*http.Response, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, rawURL, body)
	if err != nil {
		return nil, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if c.user != "" {
		req.SetBasicAuth(c.user, c.token)
	}
	cr.addTo(req)
	req.Header.Set("User-Agent", "stepper")
	return c.http.Do(req)
}

// get reads rawURL, trying again while Jenkins fails or cannot be reached,
// and returns the last answer whatever its status. The caller closes it.
func (c *Client) get(ctx context.Context, cl call, rawURL string) (*http.Response, error) {
	for attempt := 1; ; attempt++ {
		resp, err := c.send(ctx, http.MethodGet, rawURL, nil, nil)
		again := attempt < tries && ctx.Err() == nil && (err != nil && !isTimeout(err) || err == nil && retryableStatus(resp.StatusCode))
		if !again {
			if err != nil {
				return nil, transportError(cl.op, err, "")
			}
			return resp, nil
		}
		wait := initial << (attempt - 1)
		wait = wait/2 + rand.N(wait/2+1) // jitter, so that jobs failed together do not come back together
		ev := logging.From(ctx).Warn().Str("url", rawURL).Dur("wait", wait)
		if err != nil {
			ev = ev.Err(err)
		} else {
			ev = ev.Int("status", resp.StatusCode)
			drain(resp)
		}
		ev.Msg("jenkins: request failed, retrying")
		if err := retry.Sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("%s: %w", cl.op, err)
		}
	}
}

func retryableStatus(code int) bool {
	return code == http.StatusTooManyRequests || code == http.StatusInternalServerError ||
		code == http.StatusBadGateway || code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout
}

// getJSON reads rawURL and decodes its JSON into v.
func (c *Client) getJSON(ctx context.Context, cl call, rawURL string, v any) error {
	resp, err := c.get(ctx, cl, rawURL)
	if err != nil {
		return err
	}
	defer drain(resp)
	if resp.StatusCode != http.StatusOK {
		return statusError(cl, resp)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxJSON)).Decode(v); err != nil {
		return exit.Infraf("%s: Jenkins' answer is not the JSON its API sends (%v); check that jenkins.url is "+
			"Jenkins itself, not a proxy or login page in front of it", cl.op, err)
	}
	return nil
}

// post sends form to rawURL with a crumb, once: a POST that reached Jenkins
// may have started something, so it is never repeated blindly. Only an
// answer that refuses the crumb, which proves nothing was done, is tried
// again, with a fresh crumb. The caller closes the answer.
func (c *Client) post(ctx context.Context, cl call, rawURL string, form url.Values) (*http.Response, error) {
	for fresh := false; ; fresh = true {
		cr, err := c.crumbFor(ctx, cl, fresh)
		if err != nil {
			return nil, err
		}
		resp, err := c.send(ctx, http.MethodPost, rawURL, form, cr)
		if err != nil {
			return nil, transportError(cl.op, err, "; Jenkins may have done it anyway, so look there before you run this again")
		}
		if fresh || !crumbRefused(resp) {
			return resp, nil
		}
		drain(resp)
		logging.From(ctx).Debug().Str("url", rawURL).Msg("jenkins: crumb refused, asking for a fresh one")
	}
}

// crumbRefused tells whether resp is Jenkins refusing a POST for want of a
// valid crumb. It keeps the body readable.
func crumbRefused(resp *http.Response) bool {
	return resp.StatusCode == http.StatusForbidden && bodyHas(resp, "No valid crumb")
}

// drain reads what is left of a small answer, so that the connection can
// be used again, and closes it.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
	resp.Body.Close()
}

// crumb is Jenkins' CSRF token and the session cookies it is tied to:
// Jenkins (since 2.176.2) accepts a crumb only from the session that got it.
type crumb struct {
	field, value string
	cookies      []*http.Cookie
}

// addTo puts the crumb and its session on req. A nil or empty crumb, from
// a Jenkins without CSRF protection, adds nothing.
func (cr *crumb) addTo(req *http.Request) {
	if cr == nil || cr.field == "" {
		return
	}
	req.Header.Set(cr.field, cr.value)
	for _, ck := range cr.cookies {
		req.AddCookie(ck)
	}
}

// crumbFor returns the crumb to send with a POST, the one asked for earlier
// unless fresh. A Jenkins without CSRF protection has no crumb issuer (404);
// its crumb is empty.
func (c *Client) crumbFor(ctx context.Context, cl call, fresh bool) (*crumb, error) {
	c.crumbMu.Lock()
	defer c.crumbMu.Unlock()
	if c.crumb != nil && !fresh {
		return c.crumb, nil
	}
	crumbCall := call{op: cl.op + ": crumb", perm: "Overall/Read"}
	resp, err := c.get(ctx, crumbCall, c.base+"/crumbIssuer/api/json")
	if err != nil {
		return nil, err
	}
	defer drain(resp)
	if resp.StatusCode == http.StatusNotFound {
		c.crumb = &crumb{}
		return c.crumb, nil
	}
	if resp.StatusCode != http.StatusOK {
		return nil, statusError(crumbCall, resp)
	}
	var v struct {
		Crumb string `json:"crumb"`
		Field string `json:"crumbRequestField"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxJSON)).Decode(&v); err != nil || v.Crumb == "" || v.Field == "" {
		return nil, exit.Infraf("%s: Jenkins' crumb issuer did not answer with a crumb; check that jenkins.url is "+
			"Jenkins itself, not a proxy or login page in front of it", crumbCall.op)
	}
	c.crumb = &crumb{field: v.Field, value: v.Crumb, cookies: resp.Cookies()}
	return c.crumb, nil
}
