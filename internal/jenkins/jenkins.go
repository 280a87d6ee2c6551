// Package jenkins starts and follows Jenkins jobs through Jenkins' remote
// access API (https://www.jenkins.io/doc/book/using/remote-access-api/):
// trigger a parameterised job, wait for its queue item to start, stream its
// console, read its result and causes, and set its description. It speaks
// plain net/http.
//
// Every error is classified for the exit code: credentials Jenkins refuses or
// a job it does not show are usage errors with the remedy in the message, a
// Jenkins that fails or cannot be reached is an infrastructure error, and a
// build that fails is a failure. The token travels only in the Authorization
// header and never appears in an error or a log line.
package jenkins

import (
	"cmp"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/stepper-cd/stepper/internal/exit"
)

// Options say which Jenkins to talk to and as whom.
type Options struct {
	// URL is Jenkins' base address, "https://jenkins.example/"; it may
	// carry a path prefix, "https://ci.example/jenkins/".
	URL string
	// User and Token are a Jenkins user and one of its API tokens, sent as
	// HTTP basic auth. Both empty means anonymous access.
	User, Token string
	// HTTPClient replaces the default client, whose requests time out.
	HTTPClient *http.Client
	// PollInterval is the pause between two looks at a queue item or a
	// console; 0 means 2s.
	PollInterval time.Duration
}

// Client is a connection to one Jenkins. It is safe for concurrent use.
type Client struct {
	base        string // Jenkins' base URL without the trailing slash
	user, token string
	http        *http.Client
	poll        time.Duration

	crumbMu sync.Mutex
	crumb   *crumb // nil until the first POST asks for one
}

// Bounds of the default HTTP client: Jenkins must start answering within
// attemptTimeout, and one request, a console chunk included, must end
// within requestTimeout.
const (
	attemptTimeout = 30 * time.Second
	requestTimeout = 2 * time.Minute
	defaultPoll    = 2 * time.Second
)

// New returns a client for o.URL. It does not contact Jenkins.
func New(o Options) (*Client, error) {
	u, err := url.Parse(o.URL)
	switch {
	case o.URL == "":
		return nil, exit.Usagef("jenkins: no URL; set jenkins.url to Jenkins' address, such as https://jenkins.example/")
	case err != nil:
		// url.Parse quotes its input, which may hold a password; the
		// message names only what is wrong.
		return nil, exit.Usagef("jenkins: jenkins.url is not a URL; use Jenkins' address, such as https://jenkins.example/")
	case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
		return nil, exit.Usagef("jenkins: jenkins.url %q must be an http or https address, such as https://jenkins.example/", u.Redacted())
	case u.User != nil:
		return nil, exit.Usagef("jenkins: jenkins.url %q carries credentials; remove them and set jenkins.user and jenkins.token instead", u.Redacted())
	case u.RawQuery != "" || u.Fragment != "":
		return nil, exit.Usagef("jenkins: jenkins.url %q must have no query or fragment", u.Redacted())
	case o.User == "" && o.Token != "":
		return nil, exit.Usagef("jenkins: jenkins.token is set but jenkins.user is not; set jenkins.user to the user the API token belongs to")
	case o.User != "" && o.Token == "":
		return nil, exit.Usagef("jenkins: jenkins.user %q has no token; set jenkins.token to an API token of that user", o.User)
	}
	hc := o.HTTPClient
	if hc == nil {
		hc = defaultHTTPClient()
	}
	own := *hc // the caller's client keeps its own redirect policy
	own.CheckRedirect = followGETsOnly(hc.CheckRedirect)
	return &Client{
		base:  strings.TrimSuffix(u.String(), "/"),
		user:  o.User,
		token: o.Token,
		http:  &own,
		poll:  cmp.Or(o.PollInterval, defaultPoll),
	}, nil
}

func defaultHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = 10 * time.Second
	t.ResponseHeaderTimeout = attemptTimeout
	return &http.Client{Timeout: requestTimeout, Transport: t}
}

// followGETsOnly follows redirects of reads, the way next would, and hands a
// POST's redirect back as the answer: Jenkins answers submitDescription with
// one, and a redirect of buildWithParameters means something in front of
// Jenkins (a login page) took the request.
func followGETsOnly(next func(*http.Request, []*http.Request) error) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		switch {
		case via[0].Method != http.MethodGet:
			return http.ErrUseLastResponse
		case next != nil:
			return next(req, via)
		case len(via) >= 10:
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
}

// JobPath turns a job's full name, "folder/job", into its URL path,
// "/job/folder/job/job", each segment escaped.
func JobPath(job string) string {
	var b strings.Builder
	for seg := range strings.SplitSeq(job, "/") {
		if seg != "" {
			b.WriteString("/job/")
			b.WriteString(url.PathEscape(seg))
		}
	}
	return b.String()
}

// jobURL is the address of action on job: base + /job/a/job/b/ + action.
func (c *Client) jobURL(job, action string) string {
	return c.base + JobPath(job) + "/" + action
}

// resolve turns a queue item or build URL into an absolute one that ends in
// a slash, so that "api/json" can be appended. Jenkins sends absolute URLs
// on its public host; those are taken as given. A relative one is taken
// relative to jenkins.url.
func (c *Client) resolve(what, raw string) (string, error) {
	u, err := url.Parse(raw)
	if err == nil {
		var base *url.URL
		base, err = url.Parse(c.base + "/")
		u = base.ResolveReference(u)
	}
	switch {
	case raw == "" || err != nil:
		return "", exit.Usagef("jenkins: %s %q is not a URL; pass the URL Jenkins gave for it", what, raw)
	case u.Scheme != "http" && u.Scheme != "https", u.User != nil, u.RawQuery != "", u.Fragment != "":
		return "", exit.Usagef("jenkins: %s %q must be a plain http or https URL, such as %s/job/promote/12/", what, u.Redacted(), c.base)
	}
	s := u.String()
	if !strings.HasSuffix(s, "/") {
		s += "/"
	}
	return s, nil
}
