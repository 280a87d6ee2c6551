package citemplates

import (
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// Every README example, and the components included the other ways a
// project without the catalog includes them (include: project, include:
// remote), expand with gitlab-ci-local into the jobs they promise, and pass
// GitLab's CI schema; four-phase's switches leave their phases out.
func TestIncludeForms(t *testing.T) {
	w := newWorld(t, "vendor-x-ci")
	raw := httptest.NewServer(http.FileServer(http.Dir(filepath.Join("..", "..", "ci-templates"))))
	t.Cleanup(raw.Close)
	chain := func(envs ...string) []string {
		jobs := []string{"build", "sign", "validate", "deploy-" + envs[0], "deploy-" + envs[0] + "-diff", "smoke-test-" + envs[0], "rollback-" + envs[0]}
		for _, e := range envs[1:] {
			jobs = append(jobs, "promote-"+e, "smoke-test-"+e, "rollback-"+e)
		}
		return jobs
	}
	for _, tc := range []struct {
		name, ci string
		want     []string
	}{
		{"README ehealth-vendor", readmeExample(t, "ehealth-vendor", nil), chain("devenvcgi", "exttest", "preprod", "prod")},
		{"README ehealth-internal", readmeExample(t, "ehealth-internal", nil), chain("inttest", "exttest", "preprod", "prod")},
		{"README shop", readmeExample(t, "shop", nil), chain("staging", "production")},
		{"README gov", readmeExample(t, "gov", nil), chain("dev", "qa", "prod")},
		{"include: project", `include:
  - project: stepper-cd/ci-templates
    ref: "` + templatesVersion + `"
    file: /templates/four-phase.yml
    inputs: {env-1: a, env-1-url: https://a.example, env-1-tier: testing, env-2: b, env-2-url: https://b.example, env-2-tier: production}
`, chain("a", "b")},
		{"include: remote, per verb", `include:
  - remote: ` + raw.URL + `/templates/build-sign-push.yml
  - remote: ` + raw.URL + `/templates/deploy.yml
    inputs: {environment: a, url: https://a.example, tier: testing}
  - remote: ` + raw.URL + `/templates/rollback.yml
    inputs: {environment: a, url: https://a.example, tier: testing}
`, []string{"build", "sign", "deploy-a", "deploy-a-diff", "rollback-a"}},
		{"switches off", `include:
  - component: $CI_SERVER_FQDN/stepper-cd/ci-templates/four-phase@` + templatesVersion + `
    inputs: {env-1: a, env-1-url: https://a.example, env-1-tier: testing, env-2: b, env-2-url: https://b.example, env-2-tier: production,
      validate: false, promote: false, rollback: false, job-prefix: x-}
`, []string{"build", "sign", "deploy-a", "deploy-a-diff", "smoke-test-a", "smoke-test-b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := w.newProject(t, "vendor-x/"+strings.NewReplacer(" ", "-", ":", "", ",", "").Replace(tc.name), map[string]string{".gitlab-ci.yml": tc.ci})
			p.list(t)
			cmd := exec.CommandContext(t.Context(), w.glci, "--list-all", "--no-color")
			cmd.Dir, cmd.Env = p.dir, w.jobEnv()
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("gitlab-ci-local --list-all: %v\n%s", err, out)
			}
			var got []string
			for _, m := range regexp.MustCompile(`(?m)^(\S+)\s`).FindAllStringSubmatch(string(out), -1) {
				if strings.HasPrefix(m[1], "stepper-") || strings.HasPrefix(m[1], "x-") {
					got = append(got, strings.TrimPrefix(strings.TrimPrefix(m[1], "stepper-"), "x-"))
				}
			}
			if slices.Sort(got); !slices.Equal(got, slices.Sorted(slices.Values(tc.want))) {
				t.Errorf("jobs %v, want %v\n%s", got, slices.Sorted(slices.Values(tc.want)), out)
			}
		})
	}
}
