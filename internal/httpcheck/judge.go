package httpcheck

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxExcerpt bounds the body quoted in a message.
const maxExcerpt = 200

// judge says what is wrong with an answer to c, or "" when it is right.
func judge(c Check, resp *http.Response, body []byte) string {
	if resp.StatusCode != c.ExpectStatus {
		return fmt.Sprintf("status %d, want %d%s", resp.StatusCode, c.ExpectStatus, quoteBody(body))
	}
	if c.BodyContains != "" && !bytes.Contains(body, []byte(c.BodyContains)) {
		return fmt.Sprintf("body does not contain %q%s", c.BodyContains, quoteBody(body))
	}
	if c.JSONField == "" {
		return ""
	}
	got, err := jsonField(body, c.JSONField)
	if err != nil {
		return err.Error() + quoteBody(body)
	}
	if c.JSONEquals != "" && got != c.JSONEquals {
		return fmt.Sprintf("JSON field %s is %q, want %q", c.JSONField, excerpt([]byte(got)), c.JSONEquals)
	}
	return ""
}

// jsonField finds a dotted path in a JSON document and returns its value as
// text: a string as it is, a number as written, true, false, null, or compact
// JSON for an object or array.
func jsonField(body []byte, path string) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", fmt.Errorf("body is not JSON (%v), so it has no field %s", err, path)
	}
	var at []string
	for _, key := range strings.Split(path, ".") {
		where := "the document"
		if len(at) > 0 {
			where = strings.Join(at, ".")
		}
		at = append(at, key)
		switch x := v.(type) {
		case map[string]any:
			next, ok := x[key]
			if !ok {
				return "", fmt.Errorf("JSON field %s is missing: %s has no %q", path, where, key)
			}
			v = next
		case []any:
			i, err := strconv.Atoi(key)
			if err != nil || i < 0 || i >= len(x) {
				return "", fmt.Errorf("JSON field %s is missing: %s is an array of %d, %q is not an index in it", path, where, len(x), key)
			}
			v = x[i]
		default:
			return "", fmt.Errorf("JSON field %s is missing: %s is %s, not an object or array", path, where, text(v))
		}
	}
	return text(v), nil
}

// text is a decoded JSON value as JSONEquals compares it.
func text(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case nil:
		return "null"
	}
	b, _ := json.Marshal(v) // bool, object or array: cannot fail after Decode
	return string(b)
}

// quoteBody is "; body: "…"" for a message, or "" for an empty body.
func quoteBody(body []byte) string {
	e := excerpt(body)
	if e == "" {
		return ""
	}
	return fmt.Sprintf("; body: %q", e)
}

// excerpt is the start of b, at most maxExcerpt bytes, safe to print on a
// terminal or in a report: control and format characters become spaces,
// invalid UTF-8 becomes "?", and runs of space shrink to one. A cut body
// ends in "...", within the limit.
func excerpt(b []byte) string {
	cut := len(b) > maxExcerpt
	if cut {
		b = b[:maxExcerpt-len("...")]
		// Drop the first bytes of a character the cut split.
		j := len(b) - 1
		for j > 0 && len(b)-j < utf8.UTFMax && !utf8.RuneStart(b[j]) {
			j--
		}
		if j >= 0 && !utf8.FullRune(b[j:]) {
			b = b[:j]
		}
	}
	var s strings.Builder
	space := false
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		b = b[n:]
		switch {
		case r == utf8.RuneError && n <= 1:
			r = '?'
		case unicode.IsSpace(r) || unicode.IsControl(r) || unicode.In(r, unicode.Cf):
			if !space && s.Len() > 0 {
				s.WriteByte(' ')
			}
			space = true
			continue
		}
		space = false
		s.WriteRune(r)
	}
	out := strings.TrimRight(s.String(), " ")
	if cut {
		out += "..."
	}
	return out
}
