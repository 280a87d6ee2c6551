package ci

import "testing"

// Two tries of one job have different job URLs but one identity; another
// job or project has another.
func TestJobIdentityIsStableAcrossRetries(t *testing.T) {
	gitlab := func(project, job, id string) []string {
		return []string{"GITLAB_CI=true", "CI_PROJECT_PATH=" + project, "CI_JOB_NAME=" + job,
			"CI_JOB_ID=" + id, "CI_JOB_URL=https://gitlab.example/" + project + "/-/jobs/" + id}
	}
	jenkins := func(job, build string) []string {
		return []string{"JENKINS_URL=https://jenkins.example/", "JOB_NAME=" + job,
			"BUILD_URL=https://jenkins.example/job/" + job + "/" + build + "/"}
	}
	first, retry := JobIdentity(gitlab("vendor/api", "deploy-test", "1")), JobIdentity(gitlab("vendor/api", "deploy-test", "2"))
	if first == "" || first != retry {
		t.Errorf("gitlab retry: %q then %q", first, retry)
	}
	for _, other := range [][]string{gitlab("vendor/api", "deploy-prod", "3"), gitlab("vendor/web", "deploy-test", "4")} {
		if JobIdentity(other) == first {
			t.Errorf("another job has the same identity %q", first)
		}
	}
	if a, b := JobIdentity(jenkins("folder/promote", "7")), JobIdentity(jenkins("folder/promote", "8")); a == "" || a != b {
		t.Errorf("jenkins retry: %q then %q", a, b)
	}
	if got := JobIdentity([]string{"USER=dev"}); got != "" {
		t.Errorf("local: %q, want none", got)
	}
}
