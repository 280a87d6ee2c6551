package helm

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stepper-cd/stepper/internal/exit"
)

// An index bigger than the limit is refused before it is parsed, with an
// error that says what is wrong.
func TestReadIndexRefusesOversizedIndex(t *testing.T) {
	body := "apiVersion: v1\nentries:\n" + strings.Repeat("  # padding\n", 200)
	_, _, err := readIndex("https://charts.example", "https://charts.example/index.yaml", strings.NewReader(body), 1024)
	if err == nil || exit.ClassOf(err) != exit.Infra || !strings.Contains(err.Error(), "larger than 1024 bytes") {
		t.Fatalf("readIndex(oversized) = %v, want a size error", err)
	}
	idx, size, err := readIndex("https://charts.example", "https://charts.example/index.yaml", strings.NewReader(body), int64(len(body)))
	if err != nil || idx == nil || size != len(body) {
		t.Fatalf("readIndex(at the limit) = %v, %d, %v", idx, size, err)
	}
}

// A chart repository that accepts the connection and never answers fails
// the fetch once the client's per-request timeout passes.
func TestSilentRepositoryTimesOut(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	c := New(Options{CacheDir: t.TempDir(), Timeout: 100 * time.Millisecond})
	t.Cleanup(func() { _ = c.Close() })
	_, err = c.Versions(t.Context(), "http://"+ln.Addr().String(), "web")
	if err == nil || exit.ClassOf(err) != exit.Infra || !strings.Contains(err.Error(), "Timeout") {
		t.Fatalf("Versions against a silent repository = %v (class %v), want an infrastructure timeout", err, exit.ClassOf(err))
	}
}
