package testenv

import (
	"net"
	"sync"
	"testing"
)

// StartSilentServer listens on 127.0.0.1, accepts every connection and
// never answers: a stalled registry, forge, chart repository or git remote.
// It returns the address (host:port); the test's cleanup closes it.
func StartSilentServer(t testing.TB) string {
	t.Helper()
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
	return ln.Addr().String()
}
