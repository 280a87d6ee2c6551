package gitlab

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/testenv"
)

func reviewerNames(mr testenv.GitLabMergeRequest) []string {
	var out []string
	for _, u := range mr.Reviewers {
		out = append(out, u.Username)
	}
	return out
}

// Reviewers are set on create and added on update, next to those people
// chose.
func TestGitLabEnsureSetsReviewers(t *testing.T) {
	f := testenv.StartFakeGitLab(t)
	f.AddProject(project)
	alice, carol := f.AddUser("alice"), f.AddUser("carol")
	f.AddUser("bob")
	f.AddUser("dave")
	c := newClient(t, f, f.Token)

	mr := promotion()
	mr.Reviewers = []string{"alice", "bob"}
	if _, err := c.EnsureMergeRequest(context.Background(), mr); err != nil {
		t.Fatal(err)
	}
	if got := reviewerNames(f.MergeRequests(project)[0]); !slices.Equal(got, []string{"alice", "bob"}) {
		t.Errorf("created with reviewers %v, want alice, bob", got)
	}
	// Someone asks carol too; the next run must keep her.
	f.EditMergeRequest(project, 1, func(mr *testenv.GitLabMergeRequest) {
		mr.Reviewers = append(mr.Reviewers, testenv.GitLabUser{ID: carol, Username: "carol", State: "active"})
	})
	mr.Reviewers = []string{"Alice", "dave"}
	if _, err := c.EnsureMergeRequest(context.Background(), mr); err != nil {
		t.Fatal(err)
	}
	if got := reviewerNames(f.MergeRequests(project)[0]); !slices.Equal(got, []string{"alice", "bob", "carol", "dave"}) {
		t.Errorf("updated reviewers %v, want alice, bob, carol, dave", got)
	}

	for _, r := range f.Requests() {
		if r.Method != http.MethodPost {
			continue
		}
		var body struct {
			ReviewerIDs []int `json:"reviewer_ids"`
		}
		if err := json.Unmarshal(r.Body, &body); err != nil || len(body.ReviewerIDs) != 2 || body.ReviewerIDs[0] != alice {
			t.Errorf("create sent reviewer_ids %v (%v), want alice's id first", body.ReviewerIDs, err)
		}
	}
}

// A reviewer GitLab does not know stops the run before anything is written.
func TestGitLabUnknownReviewer(t *testing.T) {
	f := testenv.StartFakeGitLab(t)
	f.AddProject(project)
	f.AddUser("alice")
	c := newClient(t, f, f.Token)
	mr := promotion()
	mr.Reviewers = []string{"alice", "nobody"}
	_, err := c.EnsureMergeRequest(context.Background(), mr)
	if exit.ClassOf(err) != exit.Usage || !strings.Contains(err.Error(), `"nobody"`) {
		t.Fatalf("class %v: %v, want a usage error naming nobody", exit.ClassOf(err), err)
	}
	for _, r := range f.Requests() {
		if r.Method != http.MethodGet {
			t.Errorf("%s %s sent for a merge request with an unknown reviewer", r.Method, r.Path)
		}
	}
}

// Without reviewers, none are sent: those people chose stay as they are.
func TestGitLabNoReviewersSendsNone(t *testing.T) {
	f := testenv.StartFakeGitLab(t)
	f.AddProject(project)
	c := newClient(t, f, f.Token)
	for range 2 { // create, then update
		if _, err := c.EnsureMergeRequest(context.Background(), promotion()); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range f.Requests() {
		if strings.Contains(string(r.Body), "reviewer_ids") {
			t.Errorf("%s %s sent reviewer_ids: %s", r.Method, r.Path, r.Body)
		}
	}
}
