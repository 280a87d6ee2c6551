package registry_test

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/logging"
	"github.com/stepper-cd/stepper/internal/registry"
	"github.com/stepper-cd/stepper/internal/testenv"
)

// recorder stands in for the network: it notes every request's scheme and
// host and answers none.
type recorder struct {
	mu   sync.Mutex
	seen []string
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.seen = append(r.seen, req.URL.Scheme+"://"+req.URL.Host)
	r.mu.Unlock()
	return nil, errors.New("offline")
}

func (r *recorder) contacted(url string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.seen {
		if s == url {
			return true
		}
	}
	return false
}

// registry.insecure names one host; a reference on any other host keeps
// HTTPS and is never sent over plain HTTP, and only the named host is
// warned about, once.
func TestInsecureAppliesToTheNamedHostOnly(t *testing.T) {
	const hostA, hostB = "registry-a.example:5000", "registry-b.example:5000"
	rec := &recorder{}
	var logs bytes.Buffer
	ctx := logging.WithContext(t.Context(), zerolog.New(&logs))
	c := registry.New(registry.Options{Transport: rec, InsecureHosts: []string{hostA}, Backoff: registry.Backoff{Tries: 1}})

	for range 2 {
		if _, err := c.Resolve(ctx, hostB+"/vendor/app:1.0"); err == nil {
			t.Fatal("Resolve on an offline registry succeeded")
		}
		if _, err := c.Resolve(ctx, hostA+"/vendor/app:1.0"); err == nil {
			t.Fatal("Resolve on an offline registry succeeded")
		}
	}
	if rec.contacted("http://" + hostB) {
		t.Errorf("%s was contacted over plain HTTP; requests: %v", hostB, rec.seen)
	}
	if !rec.contacted("https://" + hostB) {
		t.Errorf("%s was not contacted over HTTPS; requests: %v", hostB, rec.seen)
	}
	if !rec.contacted("http://" + hostA) {
		t.Errorf("insecure %s was not tried over plain HTTP; requests: %v", hostA, rec.seen)
	}
	if n := strings.Count(logs.String(), hostA); n != 1 {
		t.Errorf("want one warning naming %s, got %d:\n%s", hostA, n, logs.String())
	}
	if strings.Contains(logs.String(), hostB) {
		t.Errorf("secure %s was warned about:\n%s", hostB, logs.String())
	}
}

// A registry that accepts a connection and never answers fails the call
// with an infrastructure error once the response-header bound passes.
func TestSilentRegistryTimesOut(t *testing.T) {
	host := testenv.StartSilentServer(t)
	c := registry.New(registry.Options{ResponseHeaderTimeout: 100 * time.Millisecond, Backoff: registry.Backoff{Tries: 1}})
	done := make(chan error, 1)
	go func() {
		_, err := c.Resolve(t.Context(), host+"/vendor/app:1.0")
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || exit.ClassOf(err) != exit.Infra || !strings.Contains(err.Error(), "timeout awaiting response headers") {
			t.Fatalf("Resolve against a silent registry = %v (class %v), want an infrastructure timeout", err, exit.ClassOf(err))
		}
	case <-time.After(time.Minute): // a generous bound: only a hang trips it
		t.Fatal("Resolve against a silent registry did not return")
	}
}
