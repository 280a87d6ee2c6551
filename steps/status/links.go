package status

import (
	"net/url"
	"slices"
	"strings"

	"github.com/stepper-cd/stepper/internal/ci"
)

// displayRepo is a repository URL without credentials, as it may be shown.
func displayRepo(repo string) string { return ci.StripCredentials(repo) }

// commitURL is the web page of commit sha of repo, as GitLab lays it out
// (every platform in the seeds keeps its desired state in GitLab): the
// repository's HTTP address without credentials and ".git", then
// /-/commit/SHA. A repository reached otherwise (SSH, a path) has none.
func commitURL(repo, sha string) string {
	u, err := url.Parse(ci.StripCredentials(repo))
	if err != nil || sha == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return ""
	}
	u.RawQuery, u.Fragment = "", ""
	u.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), ".git") + "/-/commit/" + sha
	return u.String()
}

// manifestURL is the registry API address of the manifest ref names
// (host/repo:tag or host/repo@digest, as signatures and attestations are
// referred to): what a browser with access to the registry opens to read
// the evidence. The registries of registry.insecure are reached over HTTP.
func (b *Board) manifestURL(ref string) string {
	host, rest, ok := strings.Cut(ref, "/")
	if !ok || !strings.ContainsAny(host, ".:") && host != "localhost" {
		return ""
	}
	repo, id := rest, ""
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		repo, id = rest[:at], rest[at+1:]
	} else if c := strings.LastIndexByte(rest, ':'); c >= 0 {
		repo, id = rest[:c], rest[c+1:]
	}
	if id == "" {
		return ""
	}
	scheme := "https"
	if slices.Contains(b.plainHTTP, host) {
		scheme = "http"
	}
	return scheme + "://" + host + "/v2/" + repo + "/manifests/" + url.PathEscape(id)
}
