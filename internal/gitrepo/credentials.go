package gitrepo

import (
	"net/url"
	"strings"

	"github.com/stepper-cd/stepper/internal/exit"
)

// Credentials in a repository URL (https://oauth2:TOKEN@gitlab/...) never
// reach git as part of a URL: git would put them in its argv, where every
// user of the machine can read them, and in the checkout's .git/config,
// which outlives the job. They travel in the environment of git's processes
// instead, and a credential helper that lives in configuration given by the
// environment (no file, no argument) hands them to git when the server asks,
// and only for the host the URL names.

// Environment variables the credential helper reads.
const (
	envUsername = "STEPPER_GIT_USERNAME"
	envPassword = "STEPPER_GIT_PASSWORD"
	envOrigin   = "STEPPER_GIT_ORIGIN" // protocol://host[:port] the credentials are for
)

// credentialHelper answers git's "get" with the credentials from the
// environment when git asks for the URL's own protocol and host; a redirect
// to another host gets nothing. Values cannot hold a newline (splitURL
// refuses them), so they cannot add lines to the answer.
const credentialHelper = `!f() { test "$1" = get || exit 0; p=; h=; ` +
	`while IFS= read -r l && test -n "$l"; do case "$l" in protocol=*) p=${l#protocol=};; host=*) h=${l#host=};; esac; done; ` +
	`test "$p://$h" = "$` + envOrigin + `" || exit 0; ` +
	`printf 'username=%s\npassword=%s\n' "$` + envUsername + `" "$` + envPassword + `"; }; f`

// credentials are the user and password taken out of a repository URL.
type credentials struct {
	username, password, origin string
}

// splitURL returns raw without the userinfo of an http(s) URL, and that
// userinfo. Other URLs (ssh://git@host/..., git@host:path, file://) are
// returned unchanged: their user is a login name, not a secret.
func splitURL(raw string) (string, *credentials, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok || !strings.EqualFold(scheme, "http") && !strings.EqualFold(scheme, "https") {
		return raw, nil, nil
	}
	authority := rest
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority = rest[:i]
	}
	at := strings.LastIndex(authority, "@")
	if at < 0 {
		return raw, nil, nil
	}
	host := authority[at+1:]
	clean := scheme + "://" + rest[at+1:]
	u, err := url.Parse(scheme + "://" + authority + "/")
	if err != nil || u.User == nil || host == "" {
		return "", nil, exit.Usagef("git repository %s: the user and password part of the URL cannot be read: "+
			"percent-encode reserved characters in the token, or give credentials through GIT_ASKPASS", safe(clean))
	}
	password, _ := u.User.Password()
	c := &credentials{username: u.User.Username(), password: password, origin: strings.ToLower(scheme) + "://" + host}
	if strings.ContainsAny(c.username+c.password, "\r\n\x00") {
		return "", nil, exit.Usagef("git repository %s: the user or password in the URL holds a line break or NUL: fix the token", safe(clean))
	}
	return clean, c, nil
}

// environ is what the credential helper needs in git's environment, and the
// configuration that installs it (first clearing any other helper).
func (c *credentials) environ() (env []string, config [][2]string) {
	if c == nil {
		return nil, nil
	}
	return []string{envUsername + "=" + c.username, envPassword + "=" + c.password, envOrigin + "=" + c.origin},
		[][2]string{{"credential.helper", ""}, {"credential.helper", credentialHelper}}
}
