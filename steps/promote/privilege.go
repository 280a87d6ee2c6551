package promote

import (
	"context"
	"fmt"
	"strings"

	"github.com/stepper-cd/stepper/internal/exit"
)

// authorize checks that the user running the promotion may promote into
// the target on this chain. The user comes from Identity (GitLab's answer
// for the job token, Jenkins' build causes, the owner of the API token),
// never from a variable the job sets: GITLAB_USER_LOGIN, BUILD_USER_ID and
// build parameters can all be set by whoever edits the pipeline. The check
// runs in the binary, so Replay, Rebuild or an edited Jenkinsfile cannot
// skip it (jenkinsci/pipeline-input-step-plugin#20, akuity/kargo#2724).
func (s *Step) authorize(ctx context.Context, job Job) (user, source string, err error) {
	promoters := job.To.PromotersFor(job.Chain)
	if s.Identity != nil {
		user, source, err = s.Identity.Who(ctx)
		if err != nil && len(promoters) > 0 {
			return "", "", fmt.Errorf("promote into %s: who runs this promotion cannot be established, and only %s may promote there: %w", job.To.Name, strings.Join(promoters, ", "), err)
		}
	}
	if len(promoters) == 0 {
		return user, source, nil
	}
	if user == "" {
		return "", "", exit.Failedf("promote into %s refused: only %s may promote there, and who runs this cannot be established; run it in GitLab CI (job token), in the platform's Jenkins job, or with gitlab.token set to your own token", job.To.Name, strings.Join(promoters, ", "))
	}
	for _, p := range promoters {
		kind, name, _ := strings.Cut(p, ":")
		switch kind {
		case "user":
			if name == user {
				return user, source, nil
			}
		case "group":
			in, err := s.Identity.InGroup(ctx, name, user)
			if err != nil {
				return "", "", err
			}
			if in {
				return user, source, nil
			}
		}
	}
	return "", "", exit.Failedf("promote into %s refused: user %s (from %s) is not among its promoters on the %s chain (%s); ask one of them, or the platform team (environments[%s].promoters)",
		job.To.Name, user, source, orName(job.Chain), strings.Join(promoters, ", "), job.To.Name)
}

func orName(chain string) string {
	if chain == "" {
		return "selected"
	}
	return chain
}
