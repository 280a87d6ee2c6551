// Package ci recognises the CI server a step runs under, from the standard
// variables GitLab CI and Jenkins set, so that every result and audit record
// says which commit, ref, pipeline and person a step acted for.
package ci

import (
	"net/url"
	"strings"
	"time"
)

// Systems Detect recognises.
const (
	GitLab  = "gitlab"
	Jenkins = "jenkins"
	Local   = "local"
)

// Info is what the CI server says about the run. Empty fields are unknown.
type Info struct {
	System      string `json:"system"`
	CommitSHA   string `json:"commitSha,omitempty"`
	Ref         string `json:"ref,omitempty"`
	PipelineURL string `json:"pipelineUrl,omitempty"` // GitLab pipeline or Jenkins build
	JobURL      string `json:"jobUrl,omitempty"`
	User        string `json:"user,omitempty"`    // who triggered the run
	Project     string `json:"project,omitempty"` // GitLab project path or Jenkins job name
	ProjectName string `json:"-"`                 // last element of Project; the default app name

	// What a build records about its source: tags and provenance.
	Branch     string    `json:"branch,omitempty"`
	Tag        string    `json:"tag,omitempty"`       // the git tag the pipeline runs for
	CommitTime time.Time `json:"commitTime,omitzero"` // the commit's timestamp
	SourceURL  string    `json:"sourceUrl,omitempty"` // web or clone URL of the repository, without credentials
}

// ShortSHA is the first 8 characters of the commit, GitLab's own short form.
func (i Info) ShortSHA() string {
	if len(i.CommitSHA) > 8 {
		return i.CommitSHA[:8]
	}
	return i.CommitSHA
}

// Detect reads environ (os.Environ form) and reports the CI system and run.
func Detect(environ []string) Info {
	env := toMap(environ)
	var i Info
	switch {
	case env["GITLAB_CI"] == "true":
		i = Info{
			System:      GitLab,
			CommitSHA:   env["CI_COMMIT_SHA"],
			Ref:         first(env["CI_COMMIT_REF_NAME"], env["CI_COMMIT_TAG"], env["CI_COMMIT_BRANCH"]),
			PipelineURL: env["CI_PIPELINE_URL"],
			JobURL:      env["CI_JOB_URL"],
			User:        first(env["GITLAB_USER_LOGIN"], env["GITLAB_USER_EMAIL"]),
			Project:     env["CI_PROJECT_PATH"],
			ProjectName: env["CI_PROJECT_NAME"],
			Branch:      first(env["CI_COMMIT_BRANCH"], env["CI_MERGE_REQUEST_SOURCE_BRANCH_NAME"], unlessTag(env["CI_COMMIT_REF_NAME"], env["CI_COMMIT_TAG"])),
			Tag:         env["CI_COMMIT_TAG"],
			CommitTime:  parseTime(env["CI_COMMIT_TIMESTAMP"]),
			SourceURL:   StripCredentials(env["CI_PROJECT_URL"]),
		}
	case env["JENKINS_URL"] != "" || env["BUILD_URL"] != "" && env["JENKINS_HOME"] != "":
		i = Info{
			System:      Jenkins,
			CommitSHA:   env["GIT_COMMIT"],
			Ref:         first(env["BRANCH_NAME"], env["TAG_NAME"], strings.TrimPrefix(env["GIT_BRANCH"], "origin/")),
			PipelineURL: env["BUILD_URL"],
			JobURL:      env["BUILD_URL"],
			// BUILD_USER_ID comes from the build-user-vars plugin; the
			// promotion library also passes the approver as STEPPER_TRIGGERED_BY.
			User:    first(env["BUILD_USER_ID"], env["STEPPER_TRIGGERED_BY"]),
			Project: env["JOB_NAME"],
			Branch:  first(env["CHANGE_BRANCH"], env["BRANCH_NAME"], strings.TrimPrefix(env["GIT_BRANCH"], "origin/")),
			Tag:     env["TAG_NAME"],
			// Jenkins has no commit timestamp variable; FillFromGit reads it.
			SourceURL: StripCredentials(first(env["GIT_URL"], env["CHANGE_URL"])),
		}
	default:
		i = Info{System: Local, User: first(env["USER"], env["LOGNAME"])}
	}
	if i.ProjectName == "" && i.Project != "" {
		i.ProjectName = i.Project[strings.LastIndex(i.Project, "/")+1:]
	}
	return i
}

func toMap(environ []string) map[string]string {
	m := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// unlessTag returns ref unless it is the tag, because a tag pipeline's ref
// name is the tag, not a branch.
func unlessTag(ref, tag string) string {
	if ref == tag {
		return ""
	}
	return ref
}

// parseTime reads an RFC 3339 timestamp (GitLab's CI_COMMIT_TIMESTAMP); a
// malformed one is unknown, not an error.
func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}

// StripCredentials removes user and password from a URL, so a clone URL with
// a token in it can be recorded. Anything that is not a URL with a host, like
// an scp-style git address, is returned as it is, minus any "user@" part
// before the host.
func StripCredentials(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		if at := strings.Index(raw, "@"); at >= 0 && !strings.Contains(raw[:at], "/") {
			return raw[at+1:]
		}
		return raw
	}
	u.User = nil
	return u.String()
}
