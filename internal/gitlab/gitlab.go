// Package gitlab opens and follows the merge requests through which changes
// land in environments guarded by review (an MR from master to the prod
// branch of a desired-state repository), and tells who promotes: the user
// of a CI job's token, the owner of a token, and group membership. It
// speaks GitLab's REST API v4
// through gitlab.com/gitlab-org/api/client-go/v2; no type of that library leaves
// the package.
//
// Every error is classified for the exit code: a token GitLab refuses or a
// project it does not show is a usage error with the remedy in the message,
// an instance that fails or cannot be reached is an infrastructure error. The
// token never appears in an error or a log line.
package gitlab

import (
	"cmp"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	gl "gitlab.com/gitlab-org/api/client-go/v2"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/secret"
)

// Options say which GitLab to talk to and as whom.
type Options struct {
	// URL is the instance, "https://gitlab.example"; a trailing /api/v4 is
	// allowed.
	URL string
	// Token is a personal, group or project access token with scope api.
	Token secret.Value
	// HTTPClient replaces the default client, whose requests time out after
	// Timeout each.
	HTTPClient *http.Client
	// Timeout bounds one HTTP attempt of the default client, the wait for
	// GitLab's answer included; 0 means attemptTimeout.
	Timeout time.Duration
}

// Client is a connection to one GitLab instance.
type Client struct {
	api  *gl.Client
	host string
}

// attemptTimeout bounds one HTTP request. With the retry policy it bounds a
// call: at most three attempts and two waits of at most maxWait.
const attemptTimeout = 30 * time.Second

// New returns a client for o.URL. It does not contact GitLab.
func New(o Options) (*Client, error) {
	u, err := url.Parse(o.URL)
	switch {
	case o.URL == "":
		return nil, exit.Usagef("gitlab: no URL; set gitlab.url to the instance, such as https://gitlab.example")
	case err != nil:
		// url.Parse quotes the input in its error, which may hold a
		// password; the message names only what is wrong.
		return nil, exit.Usagef("gitlab: gitlab.url is not a URL; use the instance address, such as https://gitlab.example")
	case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
		return nil, exit.Usagef("gitlab: gitlab.url %q must be an http or https address, such as https://gitlab.example", u.Redacted())
	case u.User != nil:
		return nil, exit.Usagef("gitlab: gitlab.url %q carries credentials; remove them and set gitlab.token instead", u.Redacted())
	case u.RawQuery != "" || u.Fragment != "":
		return nil, exit.Usagef("gitlab: gitlab.url %q must have no query or fragment", u.Redacted())
	case o.Token.IsZero():
		return nil, exit.Usagef("gitlab: no token; set gitlab.token to an access token with scope api")
	}
	httpClient := o.HTTPClient
	if httpClient == nil {
		timeout := cmp.Or(o.Timeout, attemptTimeout)
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
		t.TLSHandshakeTimeout = 10 * time.Second
		t.ResponseHeaderTimeout = timeout
		httpClient = &http.Client{Timeout: timeout, Transport: t}
	}
	api, err := gl.NewClient(o.Token.Reveal(), clientOptions(o.URL, httpClient)...)
	if err != nil {
		return nil, exit.Usagef("gitlab: %s: %w", u.Redacted(), err)
	}
	return &Client{api: api, host: u.Host}, nil
}

// clientOptions are every client's: the instance, the HTTP client and the
// retry policy.
func clientOptions(baseURL string, httpClient *http.Client) []gl.ClientOptionFunc {
	return []gl.ClientOptionFunc{
		gl.WithBaseURL(baseURL),
		gl.WithHTTPClient(httpClient),
		gl.WithUserAgent("stepper"),
		// The URL was checked by New; the library's own check would only
		// print to the process-wide slog logger.
		gl.WithURLWarningLogger(slog.New(slog.DiscardHandler)),
		gl.WithCustomRetryMax(defaultRetry.tries - 1),
		gl.WithCustomRetry(defaultRetry.check),
		gl.WithCustomBackoff(defaultRetry.backoff),
	}
}

// fail wraps err from op on project with its class and remedy.
func (c *Client) fail(op, project string, err error) error {
	return classify(fmt.Sprintf("gitlab %s: %s", c.host, op), project, err)
}
