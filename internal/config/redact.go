package config

import (
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/stepper-cd/stepper/internal/secret"
)

// A URL may carry a password in its userinfo (https://user:pw@host/repo.git).
// Such a password is registered as a secret the moment it is parsed, and is
// redacted structurally wherever a value is quoted, because secret.Set will
// not mask values shorter than four characters.

// splitUserinfo finds a password in s, with or without a scheme (the scp form
// user:pw@host:path included). s == prefix+user+":"+pass+rest, and rest
// starts with "@".
func splitUserinfo(s string) (prefix, user, pass, rest string, ok bool) {
	start := 0
	if i := strings.Index(s, "://"); i >= 0 {
		start = i + 3
	}
	auth := s[start:]
	if j := strings.IndexAny(auth, "/?#"); j >= 0 {
		auth = auth[:j]
	}
	at := strings.LastIndex(auth, "@")
	if at < 0 {
		return "", "", "", "", false
	}
	user, pass, ok = strings.Cut(auth[:at], ":")
	if !ok {
		return "", "", "", "", false
	}
	return s[:start], user, pass, s[start+at:], true
}

// redactURL replaces the password in s, if any, with secret.Masked.
func redactURL(s string) string {
	if prefix, user, _, rest, ok := splitUserinfo(s); ok {
		return prefix + user + ":" + secret.Masked + rest
	}
	return s
}

// registerURLSecret adds the password in s, if any, to set. It reports
// whether s held one.
func registerURLSecret(set *secret.Set, s string) bool {
	_, _, pass, _, ok := splitUserinfo(s)
	if !ok || pass == "" {
		return false
	}
	set.Add(pass)
	if plain, err := url.PathUnescape(pass); err == nil && plain != pass {
		set.Add(plain)
	}
	return true
}

// q quotes a value for a message: URL passwords redacted, and cut short so a
// megabyte-long scalar cannot flood a terminal.
func q(s string) string {
	s = redactURL(s)
	const keep = 60
	if utf8.RuneCountInString(s) > keep+20 {
		s = string([]rune(s)[:keep]) + "…"
	}
	return strconv.Quote(s)
}
