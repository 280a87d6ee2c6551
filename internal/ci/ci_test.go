package ci

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

func TestDetect(t *testing.T) {
	tests := []struct {
		name    string
		environ []string
		want    Info
	}{
		{
			name: "gitlab",
			environ: []string{"GITLAB_CI=true", "CI_COMMIT_SHA=0123456789abcdef", "CI_COMMIT_REF_NAME=master",
				"CI_PIPELINE_URL=https://gitlab.example/g/api/-/pipelines/7", "CI_JOB_URL=https://gitlab.example/g/api/-/jobs/9",
				"GITLAB_USER_LOGIN=alice", "CI_PROJECT_PATH=vendor/patient-api", "CI_PROJECT_NAME=patient-api"},
			want: Info{System: GitLab, CommitSHA: "0123456789abcdef", Ref: "master",
				PipelineURL: "https://gitlab.example/g/api/-/pipelines/7", JobURL: "https://gitlab.example/g/api/-/jobs/9",
				User: "alice", Project: "vendor/patient-api", ProjectName: "patient-api", Branch: "master"},
		},
		{
			name: "gitlab tag pipeline",
			environ: []string{"GITLAB_CI=true", "CI_COMMIT_SHA=0123456789abcdef", "CI_COMMIT_REF_NAME=v1.4.2", "CI_COMMIT_TAG=v1.4.2",
				"CI_COMMIT_TIMESTAMP=2026-11-20T10:11:12+01:00", "CI_PROJECT_URL=https://gitlab-ci-token:s3cr3t-token@gitlab.example/vendor/patient-api"},
			want: Info{System: GitLab, CommitSHA: "0123456789abcdef", Ref: "v1.4.2", Tag: "v1.4.2",
				CommitTime: time.Date(2026, 11, 20, 9, 11, 12, 0, time.UTC), SourceURL: "https://gitlab.example/vendor/patient-api"},
		},
		{
			name: "jenkins",
			environ: []string{"JENKINS_URL=https://jenkins.example/", "BUILD_URL=https://jenkins.example/job/promote-prod/12/",
				"GIT_COMMIT=fedcba9876543210", "GIT_BRANCH=origin/prod", "BUILD_USER_ID=bob", "JOB_NAME=ehealth/promote-prod"},
			want: Info{System: Jenkins, CommitSHA: "fedcba9876543210", Ref: "prod",
				PipelineURL: "https://jenkins.example/job/promote-prod/12/", JobURL: "https://jenkins.example/job/promote-prod/12/",
				User: "bob", Project: "ehealth/promote-prod", ProjectName: "promote-prod", Branch: "prod"},
		},
		{
			name:    "local",
			environ: []string{"USER=carol"},
			want:    Info{System: Local, User: "carol"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Detect(tt.environ); got != tt.want {
				t.Errorf("Detect() =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func TestShortSHA(t *testing.T) {
	if got := (Info{CommitSHA: "0123456789abcdef"}).ShortSHA(); got != "01234567" {
		t.Errorf("ShortSHA = %q", got)
	}
}

func TestStripCredentials(t *testing.T) {
	for in, want := range map[string]string{
		"https://user:pw@gitlab.example/g/p.git": "https://gitlab.example/g/p.git",
		"https://gitlab.example/g/p":             "https://gitlab.example/g/p",
		"git@gitlab.example:g/p.git":             "gitlab.example:g/p.git",
		"":                                       "",
	} {
		if got := StripCredentials(in); got != want {
			t.Errorf("StripCredentials(%q) = %q, want %q", in, got, want)
		}
	}
}

// A local run learns commit, time, branch, tag and origin from a real git
// work tree.
func TestFillFromGit(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	dir := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_COMMITTER_DATE=2026-11-20T10:00:00Z", "GIT_AUTHOR_DATE=2026-11-20T10:00:00Z")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "-q", "-b", "main")
	git("config", "user.email", "t@example.invalid")
	git("config", "user.name", "t")
	os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644)
	git("add", "f")
	git("commit", "-qm", "one")
	git("tag", "v1.0.0")
	git("remote", "add", "origin", "https://bot:tok3n@gitlab.example/g/app.git")

	i := Detect([]string{"USER=carol"})
	FillFromGit(context.Background(), dir, &i)
	if len(i.CommitSHA) != 40 || i.Branch != "main" || i.Tag != "v1.0.0" || i.Ref != "main" ||
		!i.CommitTime.Equal(time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)) || i.SourceURL != "https://gitlab.example/g/app.git" {
		t.Errorf("FillFromGit = %+v", i)
	}

	outside := Info{System: Local}
	FillFromGit(context.Background(), t.TempDir(), &outside)
	if outside != (Info{System: Local}) {
		t.Errorf("outside git: %+v", outside)
	}
}
