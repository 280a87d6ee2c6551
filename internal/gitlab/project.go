package gitlab

import (
	"net/url"
	"regexp"
	"strings"

	"github.com/stepper-cd/stepper/internal/exit"
)

// scpLike is git's short SSH form, [user@]host:path, with no scheme.
var scpLike = regexp.MustCompile(`^(?:[^@/:]+@)?([^@/:]+):(.+)$`)

// ProjectFromRepoURL returns the GitLab project path of a git remote:
// "https://gitlab.example/group/sub/repo.git", "ssh://git@gitlab.example:2222/group/repo.git"
// and "git@gitlab.example:group/repo.git" give "group/sub/repo" and
// "group/repo". A page of the project ("…/repo/-/tree/main") works too.
//
// The path is everything after the host, so for an instance served under a
// sub-path (https://example.org/gitlab/…) the project must be configured
// instead.
func ProjectFromRepoURL(repoURL string) (string, error) {
	var path string
	if m := scpLike.FindStringSubmatch(repoURL); m != nil && !strings.Contains(repoURL, "://") {
		path = m[2]
	} else {
		u, err := url.Parse(repoURL)
		if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http" && u.Scheme != "ssh") {
			return "", exit.Usagef("gitlab: %s is not the URL of a GitLab repository; use https://host/group/repo.git "+
				"or git@host:group/repo.git", redactRepoURL(repoURL))
		}
		path = u.Path
	}
	path, _, _ = strings.Cut(path, "/-/")
	path = strings.TrimSuffix(strings.Trim(path, "/"), ".git")
	parts := strings.Split(path, "/")
	for _, p := range parts {
		if p == "" || p == "." || p == ".." {
			parts = nil
			break
		}
	}
	if len(parts) < 2 {
		return "", exit.Usagef("gitlab: %s names no project; a GitLab project path is group/name, "+
			"such as https://host/group/repo.git", redactRepoURL(repoURL))
	}
	return strings.Join(parts, "/"), nil
}

// redactRepoURL hides the password of a remote such as
// https://oauth2:TOKEN@gitlab.example/group/repo.git.
func redactRepoURL(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		return u.Redacted()
	}
	// Unparsable, or not parsed as having a user: a colon before an @
	// may still be user:password.
	if i := strings.LastIndex(s, "@"); i >= 0 && strings.Contains(s[:i], ":") {
		return "[URL with credentials]"
	}
	return s
}
