// Package secret keeps the secrets a run has seen (passwords, tokens, private
// keys) and masks them wherever text leaves the process: logs, result files,
// dotenv outputs and error messages.
//
// A secret is registered once, when it is read, and from then on every
// rendering of it, plain, base64, URL-escaped, JSON-escaped (with and without
// HTML escaping), Go-quoted or HTML-escaped, is replaced by Masked.
//
// A secret of any length is masked. One shorter than minLen (a 3-character
// password) is masked only where it stands as a whole token: not next to a
// letter, digit or underscore. "abc" is masked in `password=abc` and
// `"abc"`, not inside "abcdef"; masking every occurrence of a short string
// would hide ordinary words and numbers everywhere and tell a reader where
// the secret is anyway.
package secret

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Masked replaces a secret in any output.
const Masked = "[MASKED]"

// minLen is the shortest form masked wherever it occurs. Shorter forms are
// masked only as whole tokens (see the package comment).
const minLen = 4

// Set is the secrets one run knows. The zero value is not usable; use NewSet.
// A Set is safe for concurrent use.
type Set struct {
	mu       sync.RWMutex
	values   map[string]struct{} // forms masked wherever they occur
	tokens   map[string]struct{} // short forms masked as whole tokens only
	replacer *strings.Replacer
}

// NewSet returns an empty set.
func NewSet() *Set { return &Set{values: map[string]struct{}{}, tokens: map[string]struct{}{}} }

// Add registers value and its common encodings. Every non-empty value is
// registered; it reports false only for an empty one.
func (s *Set) Add(value string) bool {
	value = strings.TrimSpace(value)
	if value == "" {
		return false
	}
	forms := []string{
		value,
		base64.StdEncoding.EncodeToString([]byte(value)),
		base64.RawStdEncoding.EncodeToString([]byte(value)),
		base64.URLEncoding.EncodeToString([]byte(value)),
		url.QueryEscape(value),
		url.PathEscape(value),
		// Loggers escape a secret before the mask sees it: zerolog and
		// encoding/json with and without HTML escaping, the console
		// writer with strconv.Quote, HTML reports with entities.
		jsonEscaped(value, true),
		jsonEscaped(value, false),
		goQuoted(value),
		html.EscapeString(value),
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
		if len(f) < minLen {
			s.tokens[f] = struct{}{}
		} else {
			s.values[f] = struct{}{}
		}
	}
	s.replacer = nil
	return true
}

// jsonEscaped is value as it appears inside a JSON string, where quotes,
// backslashes and newlines (every PEM key has them) are escaped, and, with
// escapeHTML, <, > and & too, as encoding/json does by default.
func jsonEscaped(value string, escapeHTML bool) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(escapeHTML)
	_ = enc.Encode(value) // a string always encodes
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	return string(b[1 : len(b)-1])
}

// goQuoted is value as strconv.Quote writes it, without the quotes: the
// console log writer quotes field values this way.
func goQuoted(value string) string {
	q := strconv.Quote(value)
	return q[1 : len(q)-1]
}

// Mask returns text with every registered secret replaced by Masked.
func (s *Set) Mask(text string) string {
	if s == nil || text == "" {
		return text
	}
	text = s.currentReplacer().Replace(text)
	s.mu.RLock()
	defer s.mu.RUnlock()
	for t := range s.tokens {
		text = maskToken(text, t)
	}
	return text
}

// maskToken replaces every occurrence of tok in text that stands as a whole
// token: not preceded or followed by a letter, digit or underscore.
func maskToken(text, tok string) string {
	var b strings.Builder
	rest := text
	for {
		i := strings.Index(rest, tok)
		if i < 0 {
			break
		}
		end := i + len(tok)
		if !endsWithWord(rest[:i]) && !startsWithWord(rest[end:]) {
			b.WriteString(rest[:i])
			b.WriteString(Masked)
		} else {
			b.WriteString(rest[:end])
		}
		rest = rest[end:]
	}
	if b.Len() == 0 {
		return text
	}
	b.WriteString(rest)
	return b.String()
}

func endsWithWord(s string) bool {
	r, _ := utf8.DecodeLastRuneInString(s)
	return isWord(r)
}

func startsWithWord(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return isWord(r)
}

func isWord(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r)
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
