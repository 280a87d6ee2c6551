package httpcheck

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// The B3 headers (https://github.com/openzipkin/b3-propagation) the check sends
// and expects the app to hand on.
const (
	headerTraceID = "X-B3-TraceId"
	headerSpanID  = "X-B3-SpanId"
	headerSampled = "X-B3-Sampled"
)

// captureKeep bounds the requests a Capture remembers.
const captureKeep = 256

// Capture is an HTTP endpoint that stands in for an app's downstream during a
// B3 check: it answers every request with 200 and remembers the B3 headers
// each one carried.
type Capture struct {
	srv  *http.Server
	url  string
	mu   sync.Mutex
	seen []captured    // the last captureKeep requests
	n    int           // requests ever received
	news chan struct{} // closed, and replaced, when a request arrives
}

type captured struct {
	seq                     int
	traceID, spanID, sample string
}

// StartCapture listens on addr ("127.0.0.1:0" for any free port) and serves
// until Close.
func StartCapture(addr string) (*Capture, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("B3 capture endpoint: %w", err)
	}
	c := &Capture{url: "http://" + l.Addr().String(), news: make(chan struct{})}
	c.srv = &http.Server{Handler: http.HandlerFunc(c.record), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = c.srv.Serve(l) }() // returns ErrServerClosed after Close
	return c, nil
}

// URL is where the capture endpoint listens, like http://127.0.0.1:41234.
func (c *Capture) URL() string { return c.url }

// Close stops the endpoint and drops its open connections.
func (c *Capture) Close() error {
	if err := c.srv.Close(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (c *Capture) record(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	c.n++
	c.seen = append(c.seen, captured{
		seq:     c.n,
		traceID: r.Header.Get(headerTraceID),
		spanID:  r.Header.Get(headerSpanID),
		sample:  r.Header.Get(headerSampled),
	})
	if len(c.seen) > captureKeep {
		c.seen = c.seen[len(c.seen)-captureKeep:]
	}
	close(c.news)
	c.news = make(chan struct{})
	c.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"captured":true}` + "\n"))
}

// since returns the requests after number after, and a channel closed when
// another arrives.
func (c *Capture) since(after int) ([]captured, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []captured
	for _, s := range c.seen {
		if s.seq > after {
			out = append(out, s)
		}
	}
	return out, c.news
}

func (c *Capture) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// B3 proves the app hands B3 tracing headers on to its downstream. It sends
// c (an endpoint that calls the downstream) with a fresh X-B3-TraceId,
// X-B3-SpanId and X-B3-Sampled: 1 on every attempt, and passes when capture,
// the app's downstream for the test, receives a request with one of those
// trace ids, a span id and the sampling decision. The app's own answer is not
// judged, only reported when the check fails. After each request B3 gives the
// downstream call up to Interval to arrive, and a late one still counts at a
// later attempt.
func B3(ctx context.Context, c Check, capture *Capture, o Options) Result {
	c, o = c.withDefaults(), o.withDefaults()
	first := capture.count()
	sent := map[string]bool{}
	return attemptUntil(ctx, c, o, func(ctx context.Context) (bool, string) {
		trace, span := randomHex(16), randomHex(8)
		sent[trace] = true
		withB3 := c
		withB3.Headers = map[string]string{}
		for k, v := range c.Headers {
			withB3.Headers[k] = v
		}
		withB3.Headers[headerTraceID] = trace
		withB3.Headers[headerSpanID] = span
		withB3.Headers[headerSampled] = "1"
		answer := "the app answered "
		if resp, _, err := send(ctx, withB3, o); err != nil {
			answer = err.Error()
		} else {
			answer += resp.Status
		}
		wait, cancel := context.WithTimeout(ctx, o.Interval)
		defer cancel()
		var last *captured
		for {
			got, news := capture.since(first)
			for i := range got {
				if propagated(got[i], sent) == "" {
					return true, ""
				}
				last = &got[i]
			}
			select {
			case <-news:
			case <-wait.Done():
				if last == nil {
					return false, fmt.Sprintf("the capture endpoint %s received no request: point the app's downstream URL at it (%s)", capture.URL(), answer)
				}
				return false, fmt.Sprintf("the app's downstream call %s (%s)", propagated(*last, sent), answer)
			}
		}
	})
}

// propagated says which B3 header a downstream request lacks or got wrong,
// or "" when it carries one of the trace ids sent.
func propagated(got captured, sent map[string]bool) string {
	var missing, wrong []string
	switch {
	case got.traceID == "":
		missing = append(missing, headerTraceID)
	case !sent[strings.ToLower(got.traceID)]:
		wrong = append(wrong, fmt.Sprintf("%s %q, not one stepper sent", headerTraceID, excerpt([]byte(got.traceID))))
	}
	if got.spanID == "" {
		missing = append(missing, headerSpanID)
	}
	switch got.sample {
	case "1", "true":
	case "":
		missing = append(missing, headerSampled)
	default:
		wrong = append(wrong, fmt.Sprintf("%s %q, want 1", headerSampled, excerpt([]byte(got.sample))))
	}
	var why []string
	if len(missing) > 0 {
		why = append(why, "lacked "+strings.Join(missing, ", "))
	}
	if len(wrong) > 0 {
		why = append(why, "had "+strings.Join(wrong, "; "))
	}
	return strings.Join(why, " and ")
}

// randomHex is n random bytes in lower-case hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails: crypto/rand panics instead
	return hex.EncodeToString(b)
}
