// Package retry holds what every adapter that talks to a remote system
// needs when it retries: a wait that ends with the context, and telling a
// system that cannot be reached from one that answered with an error.
package retry

import (
	"context"
	"errors"
	"net"
	"syscall"
	"time"
)

// Sleep waits d, or until ctx ends, and then returns ctx's error (nil when
// the whole wait passed). A d of zero or less returns at once.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Unreachable tells whether err means no connection could be made: the
// host has no address, nothing listens on the port, or the network has no
// route.
func Unreachable(err error) bool {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) {
		return true
	}
	var opErr *net.OpError
	return errors.As(err, &opErr) && opErr.Op == "dial"
}
