// Package httpcheck asks a deployed app over HTTP whether it is healthy: one
// request judged on its status, body and a JSON field, retried until it passes
// or a deadline ends, and a B3 check that proves the app hands tracing headers
// on to its downstream. Each check ends in a Result, never an error: a check
// that did not pass is the finding, and the step decides what it means.
package httpcheck

import (
	"context"
	"errors"
	"fmt"
	"github.com/stepper-cd/stepper/internal/retry"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/stepper-cd/stepper/internal/logging"
)

// Check is one HTTP request and what its answer must be.
type Check struct {
	Name    string
	URL     string
	Method  string // default GET
	Headers map[string]string
	// ExpectStatus is the status the answer must have; default 200.
	ExpectStatus int
	// BodyContains is text the body must contain.
	BodyContains string
	// JSONField is a dotted path into a JSON body: "status", "data.0.ok".
	// A number indexes an array.
	JSONField string
	// JSONEquals is the field's value as text: a string as it is, a number,
	// true, false, null, or compact JSON for an object or array. Empty means
	// the field only has to exist.
	JSONEquals string
}

// Options say how patiently to check. Zero values take the defaults.
type Options struct {
	// UserAgent goes with every request, so the app's logs show who asked;
	// default "stepper". It replaces a User-Agent in Check.Headers.
	UserAgent string
	// RequestTimeout bounds one request; default 5s.
	RequestTimeout time.Duration
	// Deadline is how long a check keeps trying; default 60s. An attempt is
	// started no later than the deadline, so a check ends within
	// Deadline+RequestTimeout.
	Deadline time.Duration
	// Interval is the first wait between attempts; default 1s. Each further
	// wait doubles, up to 5s or Interval, whichever is longer.
	Interval time.Duration
	// Client sends the requests; default a client with
	// http.DefaultTransport's settings, shared by all checks.
	Client *http.Client
}

// Result is how a check ended.
type Result struct {
	Name   string
	Passed bool
	// Message says why the check did not pass: the last answer's status and
	// a clean excerpt of its body, or the last error. Empty when it passed.
	Message  string
	Attempts int
	Duration time.Duration
}

const (
	maxInterval = 5 * time.Second
	maxBody     = 1 << 20 // what BodyContains and JSONField look at
)

// defaultClient is this package's own, so that nothing another package does
// to http.DefaultClient changes how checks are sent. Each request is bounded
// by Options.RequestTimeout through its context; the transport's own bounds
// hold even for a caller whose Client has none.
var defaultClient = &http.Client{Transport: boundedTransport()}

func boundedTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = 10 * time.Second
	t.ResponseHeaderTimeout = 30 * time.Second
	return t
}

func (o Options) withDefaults() Options {
	if o.UserAgent == "" {
		o.UserAgent = "stepper"
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 5 * time.Second
	}
	if o.Deadline <= 0 {
		o.Deadline = 60 * time.Second
	}
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.Client == nil {
		o.Client = defaultClient
	}
	return o
}

func (c Check) withDefaults() Check {
	if c.Method == "" {
		c.Method = http.MethodGet
	}
	if c.ExpectStatus == 0 {
		c.ExpectStatus = http.StatusOK
	}
	return c
}

// Run sends c until its answer is right, the deadline passes or ctx ends.
// Refused connections, timeouts and wrong answers are all retried: the app
// may still be starting.
func Run(ctx context.Context, c Check, o Options) Result {
	c, o = c.withDefaults(), o.withDefaults()
	return attemptUntil(ctx, c, o, func(ctx context.Context) (bool, string) {
		resp, body, err := send(ctx, c, o)
		if err != nil {
			return false, err.Error()
		}
		if why := judge(c, resp, body); why != "" {
			return false, fmt.Sprintf("%s %s: %s", c.Method, redacted(c.URL), why)
		}
		return true, ""
	})
}

// attempt tries a check once and says why it did not pass.
type attempt func(ctx context.Context) (passed bool, why string)

// attemptUntil runs try until it passes, the deadline passes or ctx ends, waiting
// between attempts.
func attemptUntil(ctx context.Context, c Check, o Options, try attempt) Result {
	start := time.Now()
	r := Result{Name: c.Name}
	done := func(passed bool, msg string) Result {
		r.Passed, r.Message, r.Duration = passed, msg, time.Since(start)
		return r
	}
	if _, err := newRequest(ctx, c, o); err != nil {
		return done(false, err.Error())
	}
	log := logging.From(ctx)
	deadline := start.Add(o.Deadline)
	wait := o.Interval
	for {
		r.Attempts++
		passed, why := try(ctx)
		if passed {
			return done(true, "")
		}
		log.Debug().Str("check", c.Name).Int("attempt", r.Attempts).Str("reason", why).Msg("check not passing yet")
		left := time.Until(deadline)
		if ctx.Err() == nil && left <= 0 {
			return done(false, fmt.Sprintf("%s (after %d attempts in %s)", why, r.Attempts, time.Since(start).Round(time.Millisecond)))
		}
		if ctx.Err() != nil || retry.Sleep(ctx, min(wait, left)) != nil {
			return done(false, fmt.Sprintf("interrupted after %d attempts: %v; last: %s", r.Attempts, context.Cause(ctx), why))
		}
		wait = min(wait*2, max(o.Interval, maxInterval))
	}
}

func newRequest(ctx context.Context, c Check, o Options) (*http.Request, error) {
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("check %q: URL %q: want an http:// or https:// URL", c.Name, redacted(c.URL))
	}
	req, err := http.NewRequestWithContext(ctx, c.Method, c.URL, nil)
	if err != nil {
		return nil, fmt.Errorf("check %q: %w", c.Name, err)
	}
	for k, v := range c.Headers {
		if strings.EqualFold(k, "Host") {
			req.Host = v // net/http sends the Host header from here only
			continue
		}
		req.Header.Set(k, v)
	}
	req.Header.Set("User-Agent", o.UserAgent)
	return req, nil
}

// send makes one request and reads up to maxBody bytes of the answer. Its
// errors name the method and the URL without a password.
func send(ctx context.Context, c Check, o Options) (*http.Response, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, o.RequestTimeout)
	defer cancel()
	req, err := newRequest(ctx, c, o)
	if err != nil {
		return nil, nil, err
	}
	resp, err := o.Client.Do(req)
	if err == nil {
		defer resp.Body.Close()
		var body []byte
		body, err = io.ReadAll(io.LimitReader(resp.Body, maxBody))
		if err == nil {
			return resp, body, nil
		}
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("no answer within %s (the request timeout)", o.RequestTimeout)
	}
	return nil, nil, fmt.Errorf("%s %s: %w", c.Method, redacted(c.URL), err)
}

// redacted is raw with any password in it masked.
func redacted(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return u.Redacted()
}
