package buildsignpush

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestTags(t *testing.T) {
	commit := Source{Commit: "0123456789abcdef0123", Branch: "master", CommitTime: time.Unix(1795000000, 0)}
	now := time.Unix(1800000000, 0)
	tests := []struct {
		name     string
		scheme   string
		prefix   string
		src      Source
		explicit []string
		want     []string
		err      string
	}{
		{name: "default is the short sha", src: commit, want: []string{"01234567"}},
		{name: "sha", scheme: "sha", src: commit, want: []string{"01234567"}},
		{name: "branch-sha-time", scheme: "branch-sha-time", src: commit, want: []string{"master-01234567-1795000000"}},
		{name: "prefix replaces the branch", scheme: "branch-sha-time", prefix: "stag", src: commit, want: []string{"stag-01234567-1795000000"}},
		{name: "branch is sanitised", scheme: "branch-sha-time", src: Source{Commit: "abcdef0123456789", Branch: "feature/Login+SSO"}, want: []string{"feature-Login-SSO-abcdef01-1800000000"}},
		{name: "semver", scheme: "semver", src: Source{Commit: "abc", Tag: "v1.4.2"}, want: []string{"v1.4.2"}},
		{name: "semver prerelease", scheme: "semver", src: Source{Tag: "1.5.0-rc.1"}, want: []string{"1.5.0-rc.1"}},
		{name: "explicit wins, deduplicated", scheme: "semver", explicit: []string{"1.0", "1.0", "stable"}, want: []string{"1.0", "stable"}},
		{name: "latest refused", explicit: []string{"1.0", "latest"}, err: "never pushes latest"},
		{name: "Latest refused", explicit: []string{"Latest"}, err: "never pushes latest"},
		{name: "invalid tag", explicit: []string{"-x"}, err: "not a valid image tag"},
		{name: "no commit", scheme: "sha", err: "pass --tag"},
		{name: "semver without tag", scheme: "semver", src: commit, err: "carries no git tag"},
		{name: "semver not semver", scheme: "semver", src: Source{Tag: "release-7"}, err: "is not semver"},
		{name: "semver build metadata", scheme: "semver", src: Source{Tag: "1.2.3+b7"}, err: "build metadata"},
		{name: "detached branch", scheme: "branch-sha-time", src: Source{Commit: "abc"}, err: "build.tagPrefix"},
		{name: "unknown scheme", scheme: "date", src: commit, err: "use one of"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Tags(tt.scheme, tt.prefix, tt.src, tt.explicit, now)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("Tags = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

// Tags of the branch-sha-time scheme sort numerically by commit time, which
// is what a Flux ImagePolicy with a numerical order on the timestamp needs.
func TestBranchSHATimeSortsByCommitTime(t *testing.T) {
	older, _ := Tags(SchemeBranchSHATime, "", Source{Commit: "ffffffff", Branch: "master", CommitTime: time.Unix(1795000000, 0)}, nil, time.Time{})
	newer, _ := Tags(SchemeBranchSHATime, "", Source{Commit: "00000000", Branch: "master", CommitTime: time.Unix(1795000001, 0)}, nil, time.Time{})
	ts := func(tag string) string { return tag[strings.LastIndex(tag, "-")+1:] }
	if !(ts(older[0]) < ts(newer[0])) {
		t.Errorf("%s does not sort before %s", older[0], newer[0])
	}
}

// Build arguments that look like credentials never reach provenance in
// clear; known secrets are masked; everything else is kept.
func TestRedactParameters(t *testing.T) {
	got := redactParameters(map[string]string{
		"builder": "buildah", "build-arg.NPM_TOKEN": "npm_abc", "build-arg.VERSION": "1.2.3",
		"build-arg.DB_PASSWORD": "", "dockerfile": "Dockerfile.canary-s3cret",
	}, func(s string) string { return strings.ReplaceAll(s, "canary-s3cret", "[MASKED]") })
	if !strings.HasPrefix(got["build-arg.NPM_TOKEN"], "sha256:") || len(got["build-arg.NPM_TOKEN"]) != len("sha256:")+64 {
		t.Errorf("NPM_TOKEN = %q", got["build-arg.NPM_TOKEN"])
	}
	if strings.Contains(got["build-arg.NPM_TOKEN"], "npm_abc") || got["build-arg.VERSION"] != "1.2.3" ||
		got["build-arg.DB_PASSWORD"] != "" || got["dockerfile"] != "Dockerfile.[MASKED]" || got["builder"] != "buildah" {
		t.Errorf("redactParameters = %v", got)
	}
}
