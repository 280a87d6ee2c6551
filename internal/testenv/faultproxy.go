package testenv

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"
)

// Fault is one way FaultProxy fails a request.
type Fault int

// The faults FaultProxy injects, the ones registries and the load balancers
// in front of them show under load.
const (
	// FaultStatus500 answers 500 Internal Server Error.
	FaultStatus500 Fault = iota + 1
	// FaultStatus429 answers 429 Too Many Requests with Retry-After: 0.
	FaultStatus429
	// FaultReset resets the TCP connection without an answer.
	FaultReset
	// FaultLostAnswer lets the request through, so the server acts on it
	// (a push lands), then resets the connection instead of answering:
	// the client cannot tell whether it took effect.
	FaultLostAnswer
)

func (f Fault) String() string {
	switch f {
	case FaultStatus500:
		return "500"
	case FaultStatus429:
		return "429"
	case FaultReset:
		return "reset"
	case FaultLostAnswer:
		return "lost answer"
	}
	return fmt.Sprintf("fault(%d)", int(f))
}

// FaultOptions say how often and how FaultProxy fails.
type FaultOptions struct {
	// Rate is the share of requests that fail; 0 means 0.1.
	Rate float64
	// Seed makes the sequence of decisions repeatable: the n-th request to
	// arrive gets the same fate in every run with the same seed. (Which
	// request arrives n-th still depends on the client's concurrency.)
	Seed uint64
	// Faults are the kinds to choose from, evenly; empty means those that
	// never reach the server (500, 429 and reset).
	Faults []Fault
	// Only, when set, limits faults to the requests it accepts; the others
	// pass untouched and draw nothing.
	Only func(*http.Request) bool
}

// FaultProxy is a reverse proxy on 127.0.0.1 in front of a server (a test
// registry) that fails a share of the requests before they reach it.
type FaultProxy struct {
	// Host is "127.0.0.1:port"; use it in place of the target's host.
	Host string

	srv    *http.Server
	faults []Fault
	rate   float64
	only   func(*http.Request) bool

	mu       sync.Mutex
	rng      *rand.Rand
	requests int
	injected map[Fault]int
}

// StartFaultProxy starts a proxy for target ("127.0.0.1:port", plain HTTP).
// The Host header passes through unchanged, so the Location URLs a registry
// builds from it point back at the proxy.
func StartFaultProxy(target string, o FaultOptions) (*FaultProxy, error) {
	if o.Rate == 0 {
		o.Rate = 0.1
	}
	if len(o.Faults) == 0 {
		o.Faults = []Fault{FaultStatus500, FaultStatus429, FaultReset}
	}
	backend, err := url.Parse("http://" + target)
	if err != nil {
		return nil, fmt.Errorf("start fault proxy: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("start fault proxy: %w", err)
	}
	p := &FaultProxy{
		Host:     ln.Addr().String(),
		faults:   o.Faults,
		rate:     o.Rate,
		only:     o.Only,
		rng:      rand.New(rand.NewPCG(o.Seed, 0x5eed)),
		injected: map[Fault]int{},
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(backend)
			r.Out.Host = r.In.Host
		},
		Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 16},
	}
	p.srv = &http.Server{Handler: p.handler(proxy), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

func (p *FaultProxy) handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch p.decide(r) {
		case FaultStatus500:
			http.Error(w, `{"errors":[{"code":"UNKNOWN","message":"injected fault"}]}`, http.StatusInternalServerError)
		case FaultStatus429:
			w.Header().Set("Retry-After", "0")
			http.Error(w, `{"errors":[{"code":"TOOMANYREQUESTS","message":"injected fault"}]}`, http.StatusTooManyRequests)
		case FaultReset:
			reset(w)
		case FaultLostAnswer:
			next.ServeHTTP(&discard{header: http.Header{}}, r)
			reset(w)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// decide draws the fate of request r: 0 for none, or a fault.
func (p *FaultProxy) decide(r *http.Request) Fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requests++
	if p.only != nil && !p.only(r) {
		return 0
	}
	// Two draws every time, so the sequence does not depend on the outcome.
	hit, kind := p.rng.Float64(), p.rng.IntN(len(p.faults))
	if hit >= p.rate {
		return 0
	}
	f := p.faults[kind]
	p.injected[f]++
	return f
}

// reset closes the client's connection with a TCP RST: linger 0 makes the
// kernel drop the connection instead of closing it in order.
func reset(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler) // the server closes the connection
	}
	if tcp, ok := conn.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
	}
	_ = conn.Close()
}

// discard is a ResponseWriter that throws the answer away.
type discard struct{ header http.Header }

func (d *discard) Header() http.Header         { return d.header }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(int)             {}

// FaultStats count what a FaultProxy has done.
type FaultStats struct {
	Requests int
	Injected map[Fault]int
}

// Stats returns the counts so far.
func (p *FaultProxy) Stats() FaultStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	injected := make(map[Fault]int, len(p.injected))
	for f, n := range p.injected {
		injected[f] = n
	}
	return FaultStats{Requests: p.requests, Injected: injected}
}

// Stop closes the proxy and every connection through it. It is safe to call
// more than once and on nil.
func (p *FaultProxy) Stop() {
	if p == nil {
		return
	}
	_ = p.srv.Close()
}
