package httpcheck

import (
	"strings"
	"testing"
	"unicode"
)

func TestJSONField(t *testing.T) {
	const doc = `{"status":"ok","n":1.50,"big":12345678901234567890,"up":true,"gone":null,
		"data":[{"ok":false},{"ok":true,"tags":["a","b"]}],"meta":{"b":2,"a":1}}`
	tests := []struct {
		path, want, err string
	}{
		{"status", "ok", ""},
		{"n", "1.50", ""},
		{"big", "12345678901234567890", ""},
		{"up", "true", ""},
		{"gone", "null", ""},
		{"data.0.ok", "false", ""},
		{"data.1.tags", `["a","b"]`, ""},
		{"data.1.tags.1", "b", ""},
		{"meta", `{"a":1,"b":2}`, ""},
		{"missing", "", `JSON field missing is missing: the document has no "missing"`},
		{"data.2.ok", "", `JSON field data.2.ok is missing: data is an array of 2, "2" is not an index in it`},
		{"data.x", "", `"x" is not an index in it`},
		{"status.code", "", "JSON field status.code is missing: status is ok, not an object or array"},
	}
	for _, tt := range tests {
		got, err := jsonField([]byte(doc), tt.path)
		switch {
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("jsonField(%s) error = %v, want %q", tt.path, err, tt.err)
		case tt.err == "" && (err != nil || got != tt.want):
			t.Errorf("jsonField(%s) = %q, %v, want %q", tt.path, got, err, tt.want)
		}
	}
	if _, err := jsonField([]byte("<html>"), "status"); err == nil || !strings.Contains(err.Error(), "body is not JSON") {
		t.Errorf("HTML body: %v, want a not-JSON error", err)
	}
}

func TestExcerpt(t *testing.T) {
	long := strings.Repeat("é", 150) // 300 bytes, two per character
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"plain", "ready\n", "ready"},
		{"controls and escapes", "a\x1b[31mred\x00\r\nb\u202ec\t\td", "a [31mred b c d"},
		{"invalid UTF-8", "ok\xff\xfe!", "ok??!"},
		{"cut on a character boundary", long, strings.Repeat("é", 98) + "..."},
	}
	for _, tt := range tests {
		got := excerpt([]byte(tt.in))
		if got != tt.want {
			t.Errorf("%s: excerpt = %q, want %q", tt.name, got, tt.want)
		}
		if len(got) > maxExcerpt || strings.ContainsFunc(got, unicode.IsControl) {
			t.Errorf("%s: excerpt %q is longer than %d bytes or has control characters", tt.name, got, maxExcerpt)
		}
	}
}

func TestPropagated(t *testing.T) {
	sent := map[string]bool{"4bf92f3577b34da6a3ce929d0e0e4736": true}
	tests := []struct {
		got  captured
		want string
	}{
		{captured{traceID: "4bf92f3577b34da6a3ce929d0e0e4736", spanID: "00f067aa0ba902b7", sample: "1"}, ""},
		{captured{traceID: "4BF92F3577B34DA6A3CE929D0E0E4736", spanID: "a", sample: "true"}, ""},
		{captured{}, "lacked X-B3-TraceId, X-B3-SpanId, X-B3-Sampled"},
		{captured{traceID: "4bf92f3577b34da6a3ce929d0e0e4736", spanID: "a"}, "lacked X-B3-Sampled"},
		{captured{traceID: "0000000000000001", spanID: "a", sample: "0"},
			`had X-B3-TraceId "0000000000000001", not one stepper sent; X-B3-Sampled "0", want 1`},
	}
	for _, tt := range tests {
		if got := propagated(tt.got, sent); got != tt.want {
			t.Errorf("propagated(%+v) = %q, want %q", tt.got, got, tt.want)
		}
	}
}
