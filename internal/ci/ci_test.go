package ci

import "testing"

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
				User: "alice", Project: "vendor/patient-api", ProjectName: "patient-api"},
		},
		{
			name: "jenkins",
			environ: []string{"JENKINS_URL=https://jenkins.example/", "BUILD_URL=https://jenkins.example/job/promote-prod/12/",
				"GIT_COMMIT=fedcba9876543210", "GIT_BRANCH=origin/prod", "BUILD_USER_ID=bob", "JOB_NAME=ehealth/promote-prod"},
			want: Info{System: Jenkins, CommitSHA: "fedcba9876543210", Ref: "prod",
				PipelineURL: "https://jenkins.example/job/promote-prod/12/", JobURL: "https://jenkins.example/job/promote-prod/12/",
				User: "bob", Project: "ehealth/promote-prod", ProjectName: "promote-prod"},
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
