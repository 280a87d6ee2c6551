// Package secret keeps the secrets a run has seen (passwords, tokens, private
// keys) and masks them wherever text leaves the process: logs, result files,
// dotenv outputs and error messages.
//
// A secret is registered once, when it is read, and from then on every
// rendering of it, plain, base64 or URL-escaped, is replaced by Masked.
package secret

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/url"
	"slices"
	"strings"
	"sync"
)

// Masked replaces a secret in any output.
const Masked = "[MASKED]"

// minLen is the shortest value masked. Shorter values would mask ordinary
// words and numbers everywhere and hide more than they protect; Add reports
// them so the caller can refuse such a secret.
const minLen = 4

// Set is the secrets one run knows. The zero value is not usable; use NewSet.
// A Set is safe for concurrent use.
type Set struct {
	mu       sync.RWMutex
	values   map[string]struct{}
	replacer *strings.Replacer
}

// NewSet returns an empty set.
func NewSet() *Set { return &Set{values: map[string]struct{}{}} }

// Add registers value and its common encodings. It reports false, and
// registers nothing, for a value too short to mask safely.
func (s *Set) Add(value string) bool {
	value = strings.TrimSpace(value)
	if len(value) < minLen {
		return value == ""
	}
	forms := []string{
		value,
		base64.StdEncoding.EncodeToString([]byte(value)),
		base64.RawStdEncoding.EncodeToString([]byte(value)),
		base64.URLEncoding.EncodeToString([]byte(value)),
		url.QueryEscape(value),
		url.PathEscape(value),
		jsonEscaped(value),
	}
	// A multi-line secret (a PEM key) may be printed one line at a time.
	if strings.Contains(value, "\n") {
		for line := range strings.SplitSeq(value, "\n") {
			if line = strings.TrimSpace(line); len(line) >= 16 && !strings.HasPrefix(line, "-----") {
				forms = append(forms, line)
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range forms {
		s.values[f] = struct{}{}
	}
	s.replacer = nil
	return true
}

// jsonEscaped is value as it appears inside a JSON string, where quotes,
// backslashes and newlines (every PEM key has them) are escaped.
func jsonEscaped(value string) string {
	b, _ := json.Marshal(value) // a string always marshals
	return string(b[1 : len(b)-1])
}

// Mask returns text with every registered secret replaced by Masked.
func (s *Set) Mask(text string) string {
	if s == nil || text == "" {
		return text
	}
	return s.currentReplacer().Replace(text)
}

func (s *Set) currentReplacer() *strings.Replacer {
	s.mu.RLock()
	r := s.replacer
	s.mu.RUnlock()
	if r != nil {
		return r
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.replacer == nil {
		// Longest first, so a secret that contains another is masked whole.
		vals := make([]string, 0, len(s.values))
		for v := range s.values {
			vals = append(vals, v)
		}
		slices.SortFunc(vals, func(a, b string) int { return len(b) - len(a) })
		pairs := make([]string, 0, 2*len(vals))
		for _, v := range vals {
			pairs = append(pairs, v, Masked)
		}
		s.replacer = strings.NewReplacer(pairs...)
	}
	return s.replacer
}

// Writer returns a writer that masks every Write before passing it on.
// Loggers write whole records per call, which is what makes per-call masking
// sound; a secret split across two Writes is not caught.
func (s *Set) Writer(w io.Writer) io.Writer { return &maskingWriter{set: s, w: w} }

type maskingWriter struct {
	set *Set
	w   io.Writer
}

func (m *maskingWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(m.w, m.set.Mask(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Value holds a secret so that it cannot be printed by accident: every
// formatting of it, as text, JSON or YAML, gives Masked. Reveal returns the
// real value to the one place that needs it.
type Value struct{ v string }

// NewValue wraps v and registers it with set (which may be nil).
func NewValue(v string, set *Set) Value {
	if set != nil {
		set.Add(v)
	}
	return Value{v: v}
}

// Reveal returns the secret itself. Call it only where the secret is handed to
// the system that needs it.
func (v Value) Reveal() string { return v.v }

// IsZero reports whether no secret is held.
func (v Value) IsZero() bool { return v.v == "" }

func (v Value) String() string               { return v.masked() }
func (v Value) GoString() string             { return v.masked() }
func (v Value) MarshalText() ([]byte, error) { return []byte(v.masked()), nil }
func (v Value) MarshalYAML() (any, error)    { return v.masked(), nil }
func (v Value) masked() string {
	if v.v == "" {
		return ""
	}
	return Masked
}
