package buildsignpush

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Tag schemes, as build.tagScheme names them.
const (
	SchemeSHA           = "sha"
	SchemeBranchSHATime = "branch-sha-time"
	SchemeSemver        = "semver"
)

// Source is the commit an image is built from.
type Source struct {
	Commit     string
	Branch     string
	Tag        string    // the git tag on the commit, if any
	CommitTime time.Time // zero when unknown
	URL        string    // the repository, for provenance
}

var (
	tagRE      = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)
	semverRE   = regexp.MustCompile(`^v?(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)
	notTagChar = regexp.MustCompile(`[^A-Za-z0-9._-]+`)
)

// shortSHA is how long the commit part of a tag is: GitLab's short SHA.
const shortSHA = 8

// Tags returns the tags to push: the explicit ones when given, else those
// the scheme makes from the commit. now stands in for an unknown commit
// time. A tag that is not a valid OCI tag, or "latest", is refused: latest
// names no release, and a deploy of it cannot be traced or rolled back.
func Tags(scheme, prefix string, src Source, explicit []string, now time.Time) ([]string, error) {
	tags := explicit
	if len(tags) == 0 {
		tag, err := schemeTag(scheme, prefix, src, now)
		if err != nil {
			return nil, err
		}
		tags = []string{tag}
	}
	var out []string
	seen := map[string]bool{}
	for _, t := range tags {
		if err := checkTag(t); err != nil {
			return nil, err
		}
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out, nil
}

func schemeTag(scheme, prefix string, src Source, now time.Time) (string, error) {
	sha := src.Commit
	if len(sha) > shortSHA {
		sha = sha[:shortSHA]
	}
	switch scheme {
	case "", SchemeSHA:
		if sha == "" {
			return "", fmt.Errorf("build.tagScheme sha: the commit is unknown (no CI_COMMIT_SHA or GIT_COMMIT, and %s", notGit)
		}
		return sha, nil
	case SchemeBranchSHATime:
		if sha == "" {
			return "", fmt.Errorf("build.tagScheme branch-sha-time: the commit is unknown (no CI_COMMIT_SHA or GIT_COMMIT, and %s", notGit)
		}
		if prefix == "" {
			prefix = branchPart(src.Branch)
		}
		if prefix == "" {
			return "", fmt.Errorf("build.tagScheme branch-sha-time: the branch is unknown (a detached or tag build); set build.tagPrefix, or pass --tag")
		}
		ts := src.CommitTime
		if ts.IsZero() {
			ts = now
		}
		return prefix + "-" + sha + "-" + strconv.FormatInt(ts.Unix(), 10), nil
	case SchemeSemver:
		if src.Tag == "" {
			return "", fmt.Errorf("build.tagScheme semver: commit %s carries no git tag; tag it (git tag v1.2.3) and run the pipeline for the tag, or pass --tag", orUnknown(sha))
		}
		if !semverRE.MatchString(src.Tag) {
			return "", fmt.Errorf("build.tagScheme semver: git tag %q is not semver; use MAJOR.MINOR.PATCH with an optional v and -prerelease, like v1.4.2 or 1.5.0-rc.1", src.Tag)
		}
		if strings.Contains(src.Tag, "+") {
			return "", fmt.Errorf("build.tagScheme semver: git tag %q has build metadata (+...), which an image tag cannot carry; drop it or pass --tag", src.Tag)
		}
		return src.Tag, nil
	}
	return "", fmt.Errorf("build.tagScheme %q: use one of sha, branch-sha-time, semver", scheme)
}

const notGit = "the build context is not in a git work tree); pass --tag, or run in CI"

// branchPart turns a branch name into the first part of a tag: feature/x
// becomes feature-x. It is capped so the whole tag stays within 128
// characters.
func branchPart(branch string) string {
	s := strings.Trim(notTagChar.ReplaceAllString(branch, "-"), ".-")
	if len(s) > 100 {
		s = strings.TrimRight(s[:100], ".-")
	}
	return s
}

func checkTag(t string) error {
	if strings.EqualFold(t, "latest") {
		return fmt.Errorf("tag %q: stepper never pushes latest, which names no release and cannot be traced or rolled back; tag with the commit or version", t)
	}
	if !tagRE.MatchString(t) {
		return fmt.Errorf("tag %q is not a valid image tag: use up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'", t)
	}
	return nil
}

func orUnknown(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}
