package httpcheck

import (
	"strings"
	"testing"
	"time"
)

// An app that accepts the connection and never answers fails the check with
// the request timeout named, once the check's deadline has passed.
func TestSilentAppFailsWithinTheRequestTimeout(t *testing.T) {
	o := Options{UserAgent: "stepper/test", RequestTimeout: 100 * time.Millisecond, Deadline: 200 * time.Millisecond, Interval: 10 * time.Millisecond}
	r := Run(runCtx(t), Check{URL: silentServer(t) + "/healthz"}, o)
	if r.Passed || r.Attempts == 0 || !strings.Contains(r.Message, "no answer within 100ms (the request timeout)") {
		t.Fatalf("%+v, want a failure naming the request timeout", r)
	}
}

func TestDefaultTransportIsBounded(t *testing.T) {
	tr := boundedTransport()
	if tr.ResponseHeaderTimeout <= 0 || tr.TLSHandshakeTimeout <= 0 || tr.DialContext == nil {
		t.Fatalf("transport without bounds: header %v, TLS %v", tr.ResponseHeaderTimeout, tr.TLSHandshakeTimeout)
	}
}
