// Package helm is stepper's adapter to Helm charts: it finds chart versions
// in chart repositories and OCI registries, downloads and loads charts, and
// renders them the way `helm template` does, in process and without a
// cluster.
//
// Everything goes through the Helm v4 SDK (helm.sh/helm/v4); no Helm type
// leaves this package, so steps depend only on Chart, Object and the options
// here. One file per concern: the client and its caches (client.go), chart
// references and loading (chart.go), chart repositories (repo.go), OCI
// registries (oci.go), version selection (versions.go), rendering
// (render.go) and error classification (errors.go). Release operations
// against a cluster: sessions, waiting and status (release.go), install or
// upgrade (upgrade.go), rollback (rollback.go), recovery of stale pending
// revisions (recover.go), plans (plan.go), and keeping values out of
// messages (redact.go).
package helm

import (
	"crypto/tls"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	helmregistry "helm.sh/helm/v4/pkg/registry"
)

// Options configure a Client. The zero value caches in a temporary
// directory, talks anonymously and waits at most DefaultTimeout per request.
type Options struct {
	// CacheDir keeps downloaded charts and repository indexes between runs;
	// "" means a temporary directory that Close removes. Several processes
	// may share one directory: every file is written whole, then renamed.
	CacheDir string
	// PlainHTTP speaks plain HTTP to every OCI registry. Registries on
	// localhost and 127.0.0.1 get plain HTTP without it, as in
	// internal/registry.
	PlainHTTP bool
	// Insecure skips TLS verification for chart repositories and registries.
	Insecure bool
	// Timeout bounds each HTTP request; 0 means DefaultTimeout.
	Timeout time.Duration
	// Keychain finds credentials per host, for OCI registries and for HTTP
	// chart repositories (sent as basic auth); nil means anonymous.
	// registry.Keychain is the one stepper builds from its configuration.
	Keychain authn.Keychain
	// Transport is the base HTTP transport; nil means a clone of
	// http.DefaultTransport.
	Transport http.RoundTripper
}

// DefaultTimeout bounds one HTTP request when Options.Timeout is 0.
const DefaultTimeout = 2 * time.Minute

// Client loads and renders charts. It keeps what it downloads on disk and
// what it parses in memory, so asking twice costs nothing. It is safe for
// concurrent use.
type Client struct {
	opts Options
	http *http.Client

	cacheOnce sync.Once
	cacheDir  string
	cacheErr  error
	tempCache bool

	// mu guards the in-memory caches. Two callers missing the same entry
	// both fetch it; that is rare, harmless (files are renamed into place)
	// and simpler than making one wait for the other.
	mu       sync.Mutex
	indexes  map[string]*repoIndex         // by repository URL
	charts   map[string]*LoadedChart       // by chartKey
	registry map[bool]*helmregistry.Client // by plain HTTP or not
}

// New returns a client with o's settings. Nothing is dialled or created
// until a method needs it.
func New(o Options) *Client {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	base := o.Transport
	if base == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		if o.Insecure {
			t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // helm.insecure asks for it
		}
		base = t
	}
	return &Client{
		opts:     o,
		http:     &http.Client{Transport: base, Timeout: o.Timeout},
		indexes:  map[string]*repoIndex{},
		charts:   map[string]*LoadedChart{},
		registry: map[bool]*helmregistry.Client{},
	}
}

// Close removes the temporary cache directory if the client made one.
// Charts already loaded stay usable.
func (c *Client) Close() error {
	if c.tempCache && c.cacheDir != "" {
		return os.RemoveAll(c.cacheDir)
	}
	return nil
}

// cache returns the cache directory, creating it on first use.
func (c *Client) cache() (string, error) {
	c.cacheOnce.Do(func() {
		if c.opts.CacheDir == "" {
			c.cacheDir, c.cacheErr = os.MkdirTemp("", "stepper-helm-")
			c.tempCache = c.cacheErr == nil
			return
		}
		c.cacheDir, c.cacheErr = c.opts.CacheDir, os.MkdirAll(c.opts.CacheDir, 0o755)
	})
	return c.cacheDir, c.cacheErr
}
