package config

import (
	"net"
	"net/url"
	slashpath "path"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// A rule checks one string value and says what is wrong with it and what
// would be right. Rules are named by the check tag on a schema field; an
// empty value means "not set" and is never checked, so completeness is
// Check's job, not the decoder's. A rule must not quote a value that may
// carry a secret: URLs are quoted through redactURL, secrets not at all.
type rule func(s string) (problem, hint string)

var rules = map[string]rule{
	"name":      checkName,
	"chainname": checkKeyName,
	"host":      checkHost,
	"project":   checkProject,
	"image":     checkImage,
	"userref":   checkUserRef,
	"secretref": checkSecretRef,
	"keyref":    checkKeyRef,
	"filepath":  checkFilePath,
	"keyid":     checkKeyID,
	"httpurl":   checkHTTPURL,
	"gitrepo":   checkGitRepo,
	"branch":    checkBranch,
	"relpath":   checkRelPath,
	"principal": checkPrincipal,
	"job":       checkJob,
	"tagprefix": checkTagPrefix,
	"chartrepo": checkChartRepo,
	"urlpath":   checkURLPath,
	"smokecheck": func(s string) (string, string) {
		if !strings.HasPrefix(s, "/") {
			return "a check starts with the path", "write /api/ping status=200, optionally with method=, body= and json=FIELD=VALUE"
		}
		return "", ""
	},
	"duration": checkDuration,
	"username": func(s string) (string, string) {
		if usernameRE.MatchString(s) {
			return "", ""
		}
		return q(s) + " is not a GitLab username", "write the user's login, like jdoe, without @"
	},
	"label": func(s string) (string, string) {
		if strings.TrimSpace(s) == s && s != "" && !strings.ContainsAny(s, ",\n") {
			return "", ""
		}
		return q(s) + " is not a merge request label", "write a label without commas or surrounding spaces"
	},
}

var (
	nameRE      = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	keyNameRE   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$`)
	hostnameRE  = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$`)
	projectRE   = regexp.MustCompile(`^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$`)
	keyIDRE     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
	envNameRE   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	tagPrefixRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$`)
	scpRE       = regexp.MustCompile(`^([A-Za-z0-9._-]+@)?[A-Za-z0-9.-]+:[^\s]+$`)
	principalRE = regexp.MustCompile(`^(group|user):[^\s:]+$`)
	usernameRE  = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$`)
	// imageRE follows the distribution reference grammar closely enough to
	// catch typos: [host[:port]/]path[:tag][@digest].
	imageRE = regexp.MustCompile(`^` +
		`([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*(:[0-9]+)?/)?` +
		`[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*(/[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*)*` +
		`(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?` +
		`(@[a-z0-9]+([.+_-][a-z0-9]+)*:[a-fA-F0-9]{32,})?$`)
)

func checkName(s string) (string, string) {
	if nameRE.MatchString(s) {
		return "", ""
	}
	return q(s) + " is not a valid environment name",
		"use lower-case letters, digits and -, at most 63, like preprod"
}

func checkKeyName(s string) (string, string) {
	if keyNameRE.MatchString(s) {
		return "", ""
	}
	return q(s) + " is not a valid name", "use letters, digits, - and _, at most 63, like vendor"
}

func checkHost(s string) (string, string) {
	if strings.Contains(s, "://") {
		return q(s) + " has a scheme",
			"write only host[:port], like registry.example:443; registry.insecure chooses plain HTTP"
	}
	if strings.Contains(s, "@") {
		return "a host cannot carry user information", "put credentials under registry.credentials"
	}
	if strings.Contains(s, "/") {
		return q(s) + " has a path", "write only host[:port] and put the path in registry.project"
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		host, port = s, ""
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return q(s) + " has an invalid port", "a port is a number from 1 to 65535"
		}
	}
	if net.ParseIP(host) == nil && !hostnameRE.MatchString(host) {
		return q(s) + " is not a host name", "write host[:port], like registry.example:443 or 127.0.0.1:5000"
	}
	return "", ""
}

func checkProject(s string) (string, string) {
	if projectRE.MatchString(s) {
		return "", ""
	}
	return q(s) + " is not a valid repository prefix",
		"use lower-case letters and digits separated by . _ - or /, like vendor-x"
}

func checkImage(s string) (string, string) {
	if imageRE.MatchString(s) {
		return "", ""
	}
	return q(s) + " is not an image reference",
		"write registry/repository, optionally with :tag or @sha256:digest, in lower case"
}

// checkUserRef allows a literal user name or a reference.
func checkUserRef(s string) (string, string) {
	if SecretRef(s).IsReference() {
		return checkReference(s)
	}
	if strings.Contains(s, "://") {
		return "unknown reference scheme", "write the user name itself, env://NAME or file://PATH"
	}
	return "", ""
}

// checkSecretRef allows only a reference: a password in a committed file, a
// variable or a flag would end up in Git history, job logs or shell history.
func checkSecretRef(s string) (string, string) {
	if SecretRef(s).IsReference() {
		return checkReference(s)
	}
	return "a literal secret is not allowed here",
		"write env://NAME to read the variable NAME, or file://PATH to read a file; keep the secret itself out of configuration"
}

func checkKeyRef(s string) (string, string) {
	if _, ok := SecretRef(s).KeyReference(); ok {
		return "", ""
	}
	if SecretRef(s).IsReference() {
		return checkReference(s)
	}
	return "a literal key is not allowed here",
		"write env://NAME, file://PATH or a KMS URI (awskms://, gcpkms://, azurekms://, hashivault://, k8s://)"
}

func checkReference(s string) (string, string) {
	if name, ok := strings.CutPrefix(s, "env://"); ok {
		if !envNameRE.MatchString(name) {
			return "the variable name after env:// is not valid", "write env://NAME with letters, digits and _"
		}
		return "", ""
	}
	if p := strings.TrimPrefix(s, "file://"); p == "" || strings.ContainsRune(p, 0) {
		return "file:// needs a path", "write file://PATH, like file:///run/secrets/token"
	}
	return "", ""
}

func checkFilePath(s string) (string, string) {
	if strings.ContainsRune(s, 0) {
		return "a path cannot contain a NUL byte", ""
	}
	return "", ""
}

func checkKeyID(s string) (string, string) {
	if keyIDRE.MatchString(s) {
		return "", ""
	}
	return q(s) + " is not a valid key id", "use letters, digits, . _ and -, like ehealth-2026"
}

func checkHTTPURL(s string) (string, string) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return q(s) + " is not an http(s) URL", "write https://host[:port][/path]"
	}
	return "", ""
}

// checkGitRepo allows the URL forms git itself clones from, including an
// absolute local path, which tests and the demo use.
func checkGitRepo(s string) (string, string) {
	const hint = "write https://host/group/repo.git, ssh://git@host/group/repo.git, git@host:group/repo.git, file:///path or an absolute path"
	if strings.HasPrefix(s, "/") {
		return "", ""
	}
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil {
			return q(s) + " is not a valid URL", hint
		}
		switch u.Scheme {
		case "https", "http", "ssh", "git":
			if u.Host != "" {
				return "", ""
			}
		case "file":
			if u.Path != "" {
				return "", ""
			}
		}
		return q(s) + " is not a Git URL", hint
	}
	if scpRE.MatchString(s) {
		return "", ""
	}
	return q(s) + " is not a Git URL", hint
}

// checkBranch applies the rules of git check-ref-format that matter in
// practice, so a bad name fails at load and not at push.
func checkBranch(s string) (string, string) {
	bad := strings.HasPrefix(s, "-") || strings.HasPrefix(s, "/") || strings.HasSuffix(s, "/") ||
		strings.HasSuffix(s, ".") || strings.HasSuffix(s, ".lock") || strings.Contains(s, "..") ||
		strings.Contains(s, "//") || strings.Contains(s, "@{") || s == "@" || len(s) > 255 ||
		strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f || strings.ContainsRune(`~^:?*[\`, r) })
	if !bad {
		return "", ""
	}
	return q(s) + " is not a valid branch name", "see git check-ref-format; like master or release/2026"
}

func checkRelPath(s string) (string, string) {
	if strings.HasPrefix(s, "/") || strings.ContainsRune(s, 0) || strings.Contains(s, `\`) {
		return q(s) + " is not a path inside the repository", "write a relative path with /, like inttest/dsf.yaml"
	}
	for part := range strings.SplitSeq(slashpath.Clean(s), "/") {
		if part == ".." {
			return q(s) + " leaves the repository", "write a path inside the repository, without .."
		}
	}
	return "", ""
}

func checkPrincipal(s string) (string, string) {
	if principalRE.MatchString(s) {
		return "", ""
	}
	return q(s) + " is not a principal", "write group:NAME or user:NAME, like group:sre"
}

// checkJob refuses what Jenkins refuses in a job name; / separates folders.
func checkJob(s string) (string, string) {
	bad := strings.HasPrefix(s, "/") || strings.HasSuffix(s, "/") || strings.Contains(s, "//") ||
		strings.TrimSpace(s) != s ||
		strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f || strings.ContainsRune(`\?*%!@#$^&|<>[];`, r) })
	if !bad {
		return "", ""
	}
	return q(s) + " is not a Jenkins job name", "write folder/job, like ehealth-promote-prod"
}

func checkTagPrefix(s string) (string, string) {
	if tagPrefixRE.MatchString(s) {
		return "", ""
	}
	return q(s) + " cannot start an image tag", "use letters, digits, . _ and -, not starting with . or -, like stag-"
}

func checkChartRepo(s string) (string, string) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http" && u.Scheme != "oci") {
		return "not a chart repository URL", "write https://charts.example/stable (a repository with an index.yaml) or oci://registry.example/charts"
	}
	if u.User != nil {
		return "a chart repository URL must not carry credentials", "drop the user:password@ part"
	}
	return "", ""
}

func checkURLPath(s string) (string, string) {
	if !strings.HasPrefix(s, "/") || strings.ContainsAny(s, " \t") {
		return q(s) + " is not a URL path", "write a path that starts with /, like /healthz"
	}
	return "", ""
}

func checkDuration(s string) (string, string) {
	if d, err := time.ParseDuration(s); err != nil || d < 0 {
		return q(s) + " is not a duration", "write a duration like 30s or 2m"
	}
	return "", ""
}
