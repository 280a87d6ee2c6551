// Package registry is stepper's one adapter to OCI registries: it fetches
// base images, pushes images by digest, moves tags only when told to, and
// hands the same authentication, transport and retries to the signing code.
//
// Everything here goes through go-containerregistry. What this package adds
// is what a pipeline needs around it: a retry policy that survives flaky
// registries and stops as soon as the job is cancelled, an account of what
// each push really sent, and errors that say which exit class they are and
// what to check.
package registry

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/logging"
	"github.com/stepper-cd/stepper/internal/retry"
)

// Options configure a Client. The zero value talks anonymously, with
// default jobs and retries, and reports no progress.
type Options struct {
	// Keychain finds credentials per registry; nil means anonymous. See
	// Keychain for the one stepper builds from its configuration.
	Keychain authn.Keychain
	// InsecureHosts are the registries (host or host:port, as in an image
	// reference) spoken to over plain HTTP or with unverified TLS: the
	// configuration's registry.host when registry.insecure is set. Every
	// other registry gets verified HTTPS; a plain-HTTP request to one is
	// refused. Registries on localhost and 127.0.0.1 are spoken to over
	// plain HTTP without being named. The first request to each insecure
	// host logs a warning through the request context's logger.
	InsecureHosts []string
	// ResponseHeaderTimeout bounds the wait for a registry's answer once a
	// request is sent; default 2 minutes. Dialing and the TLS handshake are
	// bounded by 30 and 10 seconds.
	ResponseHeaderTimeout time.Duration
	// Jobs is the number of blobs uploaded at the same time; default 4.
	Jobs int
	// Transport is the base transport; nil means a clone of
	// http.DefaultTransport (skipping TLS verification with Insecure).
	// Retries and authentication wrap it.
	Transport http.RoundTripper
	// Progress receives an event per layer as a push goes on; nil is silent.
	Progress Progress
	// Backoff is the retry policy; zero fields take their defaults.
	Backoff Backoff
	// Platform picks the image from a multi-platform base image; nil means
	// linux/amd64.
	Platform *v1.Platform
}

// Client talks to OCI registries. It is safe for concurrent use.
type Client struct {
	opts      Options
	transport http.RoundTripper

	// puller is shared by every read, so a repository is pinged and
	// authenticated once per run rather than once per call: validate reads
	// an image and then its signatures from each of many repositories.
	pullerOnce sync.Once
	puller     *remote.Puller
	pullerErr  error
}

// New returns a client with o's settings.
func New(o Options) *Client {
	if o.Jobs <= 0 {
		o.Jobs = 4
	}
	o.Backoff = o.Backoff.withDefaults()
	if o.ResponseHeaderTimeout <= 0 {
		o.ResponseHeaderTimeout = 2 * time.Minute
	}
	secure, insecure := o.Transport, o.Transport
	if o.Transport == nil {
		secure, insecure = newTransport(o.ResponseHeaderTimeout, false), newTransport(o.ResponseHeaderTimeout, true)
	}
	base := http.RoundTripper(&hostPolicy{secure: secure, insecure: insecure, hosts: o.InsecureHosts})
	base = loopbackPlainHTTP{next: base}
	return &Client{
		opts:      o,
		transport: &observer{next: &retryTransport{next: base, backoff: o.Backoff}},
	}
}

// RemoteOptions are the options for a go-containerregistry remote call that
// should behave like this client's own: the same credentials, transport,
// retries and parallelism, bound to ctx. The signing code passes them to
// the cosign packages.
func (c *Client) RemoteOptions(ctx context.Context) []remote.Option {
	opts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithTransport(c.transport),
		remote.WithJobs(c.opts.Jobs),
		remote.WithUserAgent("stepper"),
		// The transport retries; go-containerregistry's retrying layer is
		// kept but made inert: no status codes, and a predicate that only
		// accepts broken upload sessions, which never reach that layer.
		remote.WithRetryStatusCodes(),
		remote.WithRetryBackoff(remote.Backoff{Steps: c.opts.Backoff.Tries}),
		uploadRetry(ctx, c.opts.Backoff),
	}
	if c.opts.Keychain != nil {
		opts = append(opts, remote.WithAuthFromKeychain(c.opts.Keychain))
	}
	if c.opts.Platform != nil {
		opts = append(opts, remote.WithPlatform(*c.opts.Platform))
	}
	c.pullerOnce.Do(func() {
		// Built without a context of its own (each call passes its own),
		// and without the upload retry, which is bound to a call's context.
		popts := []remote.Option{remote.WithTransport(c.transport), remote.WithJobs(c.opts.Jobs), remote.WithUserAgent("stepper"),
			remote.WithRetryStatusCodes(), remote.WithRetryBackoff(remote.Backoff{Steps: c.opts.Backoff.Tries})}
		if c.opts.Keychain != nil {
			popts = append(popts, remote.WithAuthFromKeychain(c.opts.Keychain))
		}
		if c.opts.Platform != nil {
			popts = append(popts, remote.WithPlatform(*c.opts.Platform))
		}
		c.puller, c.pullerErr = remote.NewPuller(popts...)
	})
	if c.pullerErr == nil {
		opts = append(opts, remote.Reuse(c.puller))
	}
	return opts
}

// newTransport is http.DefaultTransport with every wait bounded: a
// registry that accepts a connection and never answers fails the request
// instead of holding the job until CI kills it.
func newTransport(responseHeader time.Duration, skipVerify bool) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = 10 * time.Second
	t.ResponseHeaderTimeout = responseHeader
	// Pushes run Jobs uploads and validate checks many images at once
	// against one registry; the default of 2 idle connections per host
	// would dial a new connection for most requests.
	t.MaxIdleConnsPerHost = 64
	if skipVerify {
		t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // registry.insecure names this host
	}
	return t
}

// nameOptions are the options for parsing a reference on registry host:
// plain HTTP is allowed only for the hosts registry.insecure names.
func (c *Client) nameOptions(host string) []name.Option {
	if slices.Contains(c.opts.InsecureHosts, host) {
		return []name.Option{name.Insecure}
	}
	return nil
}

// parseReference parses ref with the options of its own registry.
func (c *Client) parseReference(ref string) (name.Reference, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, err
	}
	if opts := c.nameOptions(r.Context().RegistryStr()); opts != nil {
		return name.ParseReference(ref, opts...)
	}
	return r, nil
}

// hostPolicy sends requests for the insecure hosts through the transport
// that skips TLS verification and warns once per such host; it refuses
// plain HTTP to any other host that is not this machine, so a reference
// on another registry can never be fetched, or sent credentials, in clear.
type hostPolicy struct {
	secure, insecure http.RoundTripper
	hosts            []string
	warned           sync.Map // host -> struct{}
}

func (h *hostPolicy) RoundTrip(req *http.Request) (*http.Response, error) {
	host := req.URL.Host
	if !slices.Contains(h.hosts, host) {
		if req.URL.Scheme == "http" && !isLoopback(req.URL.Hostname()) {
			if req.Body != nil {
				req.Body.Close()
			}
			return nil, exit.Usagef("refusing plain HTTP to %s: registry.insecure applies only to registry.host", host)
		}
		return h.secure.RoundTrip(req)
	}
	if _, done := h.warned.LoadOrStore(host, struct{}{}); !done {
		logging.From(req.Context()).Warn().Str("registry", host).
			Msg("registry.insecure: talking to this registry without verified TLS; images and credentials can be read or changed on the way")
	}
	return h.insecure.RoundTrip(req)
}

// Image fetches the image ref names, a tag or a digest, and returns it with
// the digest reference it resolved to. For a multi-platform image that is
// the digest of the platform's own image (Options.Platform), the bytes a
// build on top of it uses. Its layers are fetched only when read, and a push
// to another repository of the same registry mounts them instead of
// uploading them again.
func (c *Client) Image(ctx context.Context, ref string) (v1.Image, name.Digest, error) {
	r, err := c.parseReference(ref)
	if err != nil {
		return nil, name.Digest{}, exit.Usagef("image reference %q: %w", ref, err)
	}
	desc, err := remote.Get(r, c.RemoteOptions(ctx)...)
	if err != nil {
		return nil, name.Digest{}, classify(fmt.Sprintf("fetch %s", r), r.Context(), err)
	}
	img, err := desc.Image()
	if err != nil {
		return nil, name.Digest{}, classify(fmt.Sprintf("fetch %s", r), r.Context(), err)
	}
	digest, err := img.Digest()
	if err != nil {
		return nil, name.Digest{}, exit.Infraf("fetch %s: %w", r, err)
	}
	return img, r.Context().Digest(digest.String()), nil
}

// Resolve returns the digest reference of the manifest ref, a tag or a
// digest, points at, as the registry stores it: for a multi-platform image
// that is the index, not one platform's image as with Image. It is what
// "has this tag moved?" compares against, and it reads only the manifest's
// headers: a HEAD request, or a GET of the manifest alone for a registry
// whose HEAD answer lacks the digest.
func (c *Client) Resolve(ctx context.Context, ref string) (name.Digest, error) {
	r, err := c.parseReference(ref)
	if err != nil {
		return name.Digest{}, exit.Usagef("image reference %q: %w", ref, err)
	}
	opts := c.RemoteOptions(ctx)
	desc, err := remote.Head(r, opts...)
	if err != nil && headUnanswered(err) {
		// remote.Get leaves an index as it is; the platform option only
		// matters once the descriptor is turned into an image.
		var got *remote.Descriptor
		if got, err = remote.Get(r, opts...); err == nil {
			desc = &got.Descriptor
		}
	}
	if err != nil {
		return name.Digest{}, classify(fmt.Sprintf("resolve %s", r), r.Context(), err)
	}
	return r.Context().Digest(desc.Digest.String()), nil
}

// headUnanswered tells whether a failed HEAD of a manifest is worth a GET:
// the registry answered without the headers a HEAD needs
// (Docker-Content-Digest, Content-Type, Content-Length) or refused the
// method. A registry that said no, failed after the retries or cannot be
// reached would say the same to a GET.
func headUnanswered(err error) bool {
	var terr *transport.Error
	if errors.As(err, &terr) {
		return terr.StatusCode == http.StatusMethodNotAllowed
	}
	return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) &&
		!retry.Unreachable(err) && !retryableNetError(err)
}

// repository parses repo ("host/path", no tag or digest).
func (c *Client) repository(repo string) (name.Repository, error) {
	r, err := name.NewRepository(repo)
	if err != nil {
		return name.Repository{}, exit.Usagef("image repository %q: %w", repo, err)
	}
	if opts := c.nameOptions(r.RegistryStr()); opts != nil {
		return name.NewRepository(repo, opts...)
	}
	return r, nil
}

// errLoopbackTLS answers an https request to a registry on this machine.
var errLoopbackTLS = errors.New("registries on this machine speak plain HTTP")

// loopbackPlainHTTP refuses https to 127.0.0.1 and localhost without
// dialing. go-containerregistry pings https and http side by side for such
// registries and takes whichever answers; the TLS handshake against a
// plain-HTTP registry costs both sides CPU on every repository's ping.
type loopbackPlainHTTP struct{ next http.RoundTripper }

func (l loopbackPlainHTTP) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "https" && isLoopback(req.URL.Hostname()) {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, errLoopbackTLS
	}
	return l.next.RoundTrip(req)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Exists checks that img is still in the registry: nil when it is, an
// error of class Failed when the registry says it is not (a digest that was
// garbage-collected or deleted), another error when the registry cannot
// say.
func (c *Client) Exists(ctx context.Context, img name.Digest) error {
	_, err := remote.Head(img, c.RemoteOptions(ctx)...)
	if err == nil {
		return nil
	}
	var terr *transport.Error
	if errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound {
		return exit.Failedf("%s is not in the registry (HTTP 404)", img)
	}
	return classify("look up "+img.String(), img.Context(), err)
}
