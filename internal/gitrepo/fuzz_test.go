package gitrepo

import (
	"strings"
	"testing"
)

// FuzzParseLog feeds the git log and trailer parser arbitrary output: a
// commit message is written by whoever pushed, so its trailers are input.
// The parser never panics and never makes up a field or an empty key.
func FuzzParseLog(f *testing.F) {
	rec := func(sha, subject, ct, trailers string) string {
		return sha + fieldSep + subject + fieldSep + ct + fieldSep + trailers + recordSep
	}
	f.Add(rec("0123456789abcdef0123456789abcdef01234567", "deploy api 1.2.3 to staging", "1767225600",
		"Stepper-Release: api 1.2.3\nStepper-Digest: sha256:abc\n"))
	f.Add(rec("a", "s", "x", ":\n: v\nk:\n  folded: value\n") + "\n" + rec("b", "", "-1", ""))
	f.Add("no separators at all")
	f.Add(fieldSep + fieldSep + fieldSep + recordSep + recordSep)
	f.Add(rec("a", "s", "99999999999999999999", "K: 1\nK: 2"))
	f.Add("")
	f.Fuzz(func(t *testing.T, out string) {
		for _, c := range parseLog(out) {
			if strings.Contains(c.SHA, fieldSep) || strings.Contains(c.SHA, recordSep) {
				t.Fatalf("SHA %q holds a separator", c.SHA)
			}
			if c.Trailers == nil {
				t.Fatal("nil trailers")
			}
			for k, v := range c.Trailers {
				if k == "" || k != strings.TrimSpace(k) || v != strings.TrimSpace(v) {
					t.Fatalf("trailer %q: %q not trimmed or empty", k, v)
				}
			}
		}
	})
}

func TestParseLogTrailers(t *testing.T) {
	out := "abc" + fieldSep + "deploy" + fieldSep + "1767225600" + fieldSep + "Stepper-Env: staging\nStepper-Env: production\n" + recordSep + "\n"
	got := parseLog(out)
	if len(got) != 1 || got[0].SHA != "abc" || got[0].Trailers["Stepper-Env"] != "production" || got[0].Time.Unix() != 1767225600 {
		t.Fatalf("parseLog = %+v", got)
	}
}
