package demo

import (
	"fmt"
	"time"

	"github.com/stepper-cd/stepper/internal/testenv"
)

// openMergeRequest is the one open merge request of project into target.
func (d *demo) openMergeRequest(project, target string) (testenv.GitLabMergeRequest, error) {
	var open []testenv.GitLabMergeRequest
	for _, mr := range d.gitlab.MergeRequests(project) {
		if mr.State == "opened" && mr.TargetBranch == target {
			open = append(open, mr)
		}
	}
	if len(open) != 1 {
		return testenv.GitLabMergeRequest{}, fmt.Errorf("%d open merge requests into %s of %s, want 1", len(open), target, project)
	}
	return open[0], nil
}

// merge merges mr in project as GitLab does when an approver merges it
// with its default method: a merge commit of the source branch on the
// target branch, made by approver (name <email>), and the merge request
// marked merged.
func (d *demo) merge(project string, mr testenv.GitLabMergeRequest, name, email string) error {
	target, err := d.gitIn(project, "rev-parse", "refs/heads/"+mr.TargetBranch)
	if err != nil {
		return err
	}
	source, err := d.gitIn(project, "rev-parse", "refs/heads/"+mr.SourceBranch)
	if err != nil {
		return err
	}
	tree, err := d.gitIn(project, "merge-tree", "--write-tree", target, source)
	if err != nil {
		return err
	}
	msg := fmt.Sprintf("Merge branch '%s' into '%s'\n\n%s\n\nSee merge request !%d", mr.SourceBranch, mr.TargetBranch, mr.Title, mr.IID)
	merge, err := d.gitIn(project, "-c", "user.name="+name, "-c", "user.email="+email, "commit-tree", tree, "-p", target, "-p", source, "-m", msg)
	if err != nil {
		return err
	}
	if _, err := d.gitIn(project, "update-ref", "refs/heads/"+mr.TargetBranch, merge, target); err != nil {
		return err
	}
	if !d.gitlab.EditMergeRequest(project, mr.IID, func(m *testenv.GitLabMergeRequest) {
		now := time.Now().UTC()
		m.State, m.MergedAt = "merged", &now
	}) {
		return fmt.Errorf("the GitLab fake has no merge request !%d in %s", mr.IID, project)
	}
	return nil
}
