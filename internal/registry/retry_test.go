package registry_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/registry"
	"github.com/stepper-cd/stepper/internal/testenv"
)

// TestPushThroughFaults pushes through a proxy that fails about one request
// in ten with 500, 429 or a reset connection; every push must succeed and
// store exactly the image.
func TestPushThroughFaults(t *testing.T) {
	for _, reg := range registries(t) {
		t.Run(regName(reg), func(t *testing.T) {
			proxy, err := testenv.StartFaultProxy(reg.Host, testenv.FaultOptions{Rate: 0.1, Seed: 42})
			if err != nil {
				t.Fatal(err)
			}
			defer proxy.Stop()
			c := registry.New(registry.Options{Backoff: fastBackoff})
			for i := range 20 {
				img := randomImage(t, 48<<10, 3)
				pushed, err := c.Push(t.Context(), proxy.Host+"/faults/app", img)
				if err != nil {
					t.Fatalf("push %d: %v (proxy: %+v)", i, err, proxy.Stats())
				}
				if pushed.Ref.DigestStr() != digestOf(t, img).String() {
					t.Fatalf("push %d stored %s, want %s", i, pushed.Ref.DigestStr(), digestOf(t, img))
				}
				if pushed.BytesUploaded < blobBytes(t, img) {
					t.Errorf("push %d: %d bytes sent, less than the image's %d", i, pushed.BytesUploaded, blobBytes(t, img))
				}
				for _, l := range append(pushed.Layers, pushed.Config) {
					if l.Outcome != registry.Uploaded {
						t.Errorf("push %d: new blob %s %s, want uploaded", i, l.Digest, l.Outcome)
					}
				}
				// Fetched from the registry itself, not through the proxy.
				verifyImage(t, reg.Host, pushed.Ref.Context().Registry.Repo("faults", "app").Digest(pushed.Ref.DigestStr()))
			}
			stats := proxy.Stats()
			t.Logf("proxy: %d requests, injected %v", stats.Requests, stats.Injected)
			for _, f := range []testenv.Fault{testenv.FaultStatus500, testenv.FaultStatus429, testenv.FaultReset} {
				if stats.Injected[f] == 0 {
					t.Errorf("no %s fault was injected in %d requests; the test proves nothing about it", f, stats.Requests)
				}
			}
		})
	}
}

func TestPersistentFailureGivesUp(t *testing.T) {
	reg := platform.Get(t).Registry
	proxy, err := testenv.StartFaultProxy(reg.Host, testenv.FaultOptions{Rate: 1, Faults: []testenv.Fault{testenv.FaultStatus500}})
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Stop()
	c := registry.New(registry.Options{Backoff: registry.Backoff{Tries: 3, Initial: time.Millisecond, Max: 5 * time.Millisecond}})
	_, err = c.Push(t.Context(), proxy.Host+"/faults/down", randomImage(t, 1024, 1))
	if exit.ClassOf(err) != exit.Infra || !strings.Contains(err.Error(), "500") {
		t.Fatalf("push to a registry answering 500: %v (class %s), want an infrastructure error naming the status", err, exit.ClassOf(err))
	}
	if got := proxy.Stats().Requests; got != 3 {
		t.Errorf("%d requests, want 3: the ping tried three times, nothing retried twice over", got)
	}
}

func TestCancelStopsRetrying(t *testing.T) {
	reg := platform.Get(t).Registry
	proxy, err := testenv.StartFaultProxy(reg.Host, testenv.FaultOptions{Rate: 1, Faults: []testenv.Fault{testenv.FaultStatus500}})
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Stop()
	// Waits of a minute: only the cancellation can end the push in time.
	c := registry.New(registry.Options{Backoff: registry.Backoff{Tries: 10, Initial: time.Minute, Max: time.Minute}})
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = c.Push(ctx, proxy.Host+"/faults/cancel", randomImage(t, 1024, 1))
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("push returned %s after its context ended", took)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want the context's deadline", err)
	}
}

func TestUnreachableRegistry(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := l.Addr().String()
	l.Close() // nothing listens there any more
	c := registry.New(registry.Options{})
	start := time.Now()
	for _, call := range []struct {
		name string
		run  func() error
	}{
		{"push", func() error { _, err := c.Push(t.Context(), host+"/app", randomImage(t, 1024, 1)); return err }},
		{"image", func() error { _, _, err := c.Image(t.Context(), host+"/app:v1"); return err }},
		{"check tags", func() error { return c.CheckTags(t.Context(), host+"/app", "", []string{"v1"}, false) }},
	} {
		err := call.run()
		if exit.ClassOf(err) != exit.Infra {
			t.Errorf("%s: %v (class %s), want an infrastructure error", call.name, err, exit.ClassOf(err))
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, host) || !strings.Contains(msg, "unreachable") {
			t.Errorf("%s: %q should name %s and say it is unreachable", call.name, msg, host)
		}
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("three calls to a closed port took %s; a refused connection must not be retried", took)
	}
}

// TestBrokenUploadsStartOver fails about a third of the requests that carry or commit
// blob bytes. Those cannot be sent again as they are; the blob's upload
// starts over, and the bytes sent show it.
func TestBrokenUploadsStartOver(t *testing.T) {
	reg := platform.Get(t).Registry
	uploads := func(r *http.Request) bool {
		return (r.Method == http.MethodPatch || r.Method == http.MethodPut) && strings.Contains(r.URL.Path, "/blobs/uploads/")
	}
	proxy, err := testenv.StartFaultProxy(reg.Host, testenv.FaultOptions{Rate: 0.3, Seed: 3, Only: uploads})
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Stop()
	// One job: the requests, and so the faults, come in the same order every run.
	c := registry.New(registry.Options{Jobs: 1, Backoff: registry.Backoff{Tries: 10, Initial: time.Millisecond, Max: 10 * time.Millisecond}})
	img := randomImage(t, 256<<10, 4)
	pushed, err := c.Push(t.Context(), proxy.Host+"/faults/uploads", img)
	if err != nil {
		t.Fatalf("push: %v (proxy: %+v)", err, proxy.Stats())
	}
	if proxy.Stats().Injected[testenv.FaultReset]+proxy.Stats().Injected[testenv.FaultStatus500] == 0 {
		t.Fatal("no upload was broken")
	}
	if pushed.BytesUploaded <= blobBytes(t, img) {
		t.Errorf("sent %d bytes for %d bytes of blobs; a broken upload was not sent again", pushed.BytesUploaded, blobBytes(t, img))
	}
	verifyImage(t, reg.Host, pushed.Ref.Context().Registry.Repo("faults", "uploads").Digest(pushed.Ref.DigestStr()))
}
