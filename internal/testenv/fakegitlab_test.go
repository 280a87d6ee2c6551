package testenv

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	gl "gitlab.com/gitlab-org/api/client-go/v2"
)

// TestFakeGitLabAnswersLikeGitLab checks the fake against what GitLab's
// documentation says, with plain HTTP requests, and that its answers decode
// into client-go's types.
func TestFakeGitLabAnswersLikeGitLab(t *testing.T) {
	f := StartFakeGitLab(t)
	f.AddProject("group/sub.repo")
	do := func(method, path, token, body string) (int, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, f.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("PRIVATE-TOKEN", token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	const mrs = "/api/v4/projects/group%2Fsub%2Erepo/merge_requests"

	if code, body := do("GET", mrs, "glpat-wrong", ""); code != 401 || !strings.Contains(string(body), `"message":"401 Unauthorized"`) {
		t.Errorf("wrong token: %d %s", code, body)
	}
	if code, _ := do("GET", "/api/v4/projects/group/sub.repo/merge_requests", f.Token, ""); code != 404 {
		t.Errorf("unencoded project path: %d, want 404", code)
	}
	if code, body := do("GET", "/api/v4/projects/group%2Fother/merge_requests", f.Token, ""); code != 404 || !strings.Contains(string(body), "404 Project Not Found") {
		t.Errorf("unknown project: %d %s", code, body)
	}

	create := `{"title":"Promote","description":"a\n` + "```diff\\n+x\\n```" + `","source_branch":"master","target_branch":"prod","labels":"b,a"}`
	code, body := do("POST", mrs, f.Token, create)
	var mr gl.MergeRequest
	if err := json.Unmarshal(body, &mr); code != 201 || err != nil {
		t.Fatalf("create: %d %v %s", code, err, body)
	}
	if mr.IID != 1 || mr.State != "opened" || mr.Description != "a\n```diff\n+x\n```" || strings.Join(mr.Labels, ",") != "a,b" ||
		mr.WebURL != f.URL+"/group/sub.repo/-/merge_requests/1" || mr.CreatedAt == nil || mr.Author == nil {
		t.Errorf("created: %+v", mr)
	}
	if code, body := do("POST", mrs, f.Token, create); code != 409 || !strings.Contains(string(body), "Another open merge request already exists for this source branch: !1") {
		t.Errorf("duplicate: %d %s", code, body)
	}
	if code, body := do("PUT", mrs+"/1", f.Token, `{"add_labels":["c"],"state_event":"close"}`); code != 200 || !strings.Contains(string(body), `"labels":["a","b","c"]`) || !strings.Contains(string(body), `"state":"closed"`) {
		t.Errorf("update: %d %s", code, body)
	}
	code, body = do("GET", mrs+"?state=opened&source_branch=master&target_branch=prod", f.Token, "")
	var open []*gl.BasicMergeRequest
	if err := json.Unmarshal(body, &open); code != 200 || err != nil || len(open) != 0 {
		t.Errorf("list open after close: %d %v %s", code, err, body)
	}
	code, body = do("GET", mrs+"/1/approvals", f.Token, "")
	var approvals gl.MergeRequestApprovals
	if err := json.Unmarshal(body, &approvals); code != 200 || err != nil || !approvals.Approved {
		t.Errorf("approvals: %d %v %s", code, err, body)
	}

	f.Fail(GitLabFailure{Status: 429, RetryAfter: "2"})
	if code, _ := do("GET", mrs+"/1", f.Token, ""); code != 429 {
		t.Errorf("forced 429: %d", code)
	}
	if code, _ := do("GET", mrs+"/1", f.Token, ""); code != 200 {
		t.Errorf("after the forced failure: %d", code)
	}
	reqs := f.Requests()
	if last := reqs[len(reqs)-1]; last.Method != "GET" || last.Path != "/api/v4/projects/group%2Fsub%2Erepo/merge_requests/1" || !last.Authenticated {
		t.Errorf("recorded %+v", last)
	}
}

// TestFakeGitLabIdentityLikeGitLab checks the users, groups, members and
// job endpoints against GitLab's documentation, and that their answers
// decode into client-go's types.
func TestFakeGitLabIdentityLikeGitLab(t *testing.T) {
	f := StartFakeGitLab(t)
	alice := f.AddUser("alice")
	f.AddGroup("ehealth", "alice", "bob")
	f.AddSubgroup("ehealth", "sre", "carol")
	f.BlockUser("bob")
	f.AddJobToken("job-token-1", "carol")
	get := func(path string, header ...string) (int, http.Header, []byte) {
		t.Helper()
		req, err := http.NewRequest("GET", f.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, b
	}
	decode := func(what string, code int, body []byte, v any) {
		t.Helper()
		if err := json.Unmarshal(body, v); code != 200 || err != nil {
			t.Fatalf("%s: %d %v %s", what, code, err, body)
		}
	}
	auth := []string{"PRIVATE-TOKEN", f.Token}

	var me gl.User
	code, _, body := get("/api/v4/user", auth...)
	decode("GET /user", code, body, &me)
	if me.Username != "stepper-bot" || me.State != "active" {
		t.Errorf("GET /user: %+v", me)
	}

	var users []*gl.User
	code, _, body = get("/api/v4/users?username=ALICE", auth...)
	decode("GET /users?username=", code, body, &users)
	if len(users) != 1 || users[0].ID != int64(alice) || users[0].Username != "alice" || users[0].WebURL != f.URL+"/alice" {
		t.Errorf("users?username=ALICE: %s", body)
	}
	if code, _, body := get("/api/v4/users?username=nobody", auth...); code != 200 || strings.TrimSpace(string(body)) != "[]" {
		t.Errorf("unknown user: %d %s", code, body)
	}

	var group gl.Group
	code, _, body = get("/api/v4/groups/ehealth%2Fsre", auth...)
	decode("GET /groups/:id", code, body, &group)
	if group.FullPath != "ehealth/sre" || group.Path != "sre" || group.ParentID == 0 {
		t.Errorf("group: %s", body)
	}
	if code, _, body := get("/api/v4/groups/ehealth%2Fnope/members/all", auth...); code != 404 || !strings.Contains(string(body), "404 Group Not Found") {
		t.Errorf("unknown group: %d %s", code, body)
	}

	// The subgroup lists its own member and the parent's, blocked ones
	// included with their state, one page at a time.
	var page1, page2 []*gl.GroupMember
	code, h, body := get("/api/v4/groups/ehealth%2Fsre/members/all?per_page=2", auth...)
	decode("members/all page 1", code, body, &page1)
	if h.Get("X-Total") != "3" || h.Get("X-Next-Page") != "2" || len(page1) != 2 {
		t.Errorf("page 1: X-Total %q X-Next-Page %q %s", h.Get("X-Total"), h.Get("X-Next-Page"), body)
	}
	code, h, body = get("/api/v4/groups/ehealth%2Fsre/members/all?per_page=2&page=2", auth...)
	decode("members/all page 2", code, body, &page2)
	if _, ok := h["X-Next-Page"]; !ok || h.Get("X-Next-Page") != "" || len(page2) != 1 {
		t.Errorf("page 2: X-Next-Page %q %s", h.Get("X-Next-Page"), body)
	}
	states := map[string]string{}
	for _, m := range append(page1, page2...) {
		states[m.Username] = m.State
		if m.AccessLevel != gl.DeveloperPermissions {
			t.Errorf("%s: access level %d", m.Username, m.AccessLevel)
		}
	}
	if len(states) != 3 || states["alice"] != "active" || states["bob"] != "blocked" || states["carol"] != "active" {
		t.Errorf("members/all: %v", states)
	}
	var found []*gl.GroupMember
	code, _, body = get("/api/v4/groups/ehealth/members/all?query=car", auth...)
	decode("members/all?query=", code, body, &found)
	if len(found) != 0 {
		t.Errorf("the parent group lists its subgroup's member: %s", body)
	}
	var one gl.GroupMember
	code, _, body = get("/api/v4/groups/ehealth%2Fsre/members/all/"+strconv.Itoa(alice), auth...)
	decode("members/all/:user_id", code, body, &one)
	if one.Username != "alice" {
		t.Errorf("member: %s", body)
	}
	if code, _, body := get("/api/v4/groups/ehealth/members/all/"+strconv.Itoa(f.AddUser("dave")), auth...); code != 404 || !strings.Contains(string(body), `"404 Not found"`) {
		t.Errorf("not a member: %d %s", code, body)
	}

	// GET /job answers to the job token alone.
	var job gl.Job
	code, _, body = get("/api/v4/job", "JOB-TOKEN", "job-token-1")
	decode("GET /job", code, body, &job)
	if job.Status != "running" || job.User == nil || job.User.Username != "carol" || job.Pipeline.ID == 0 {
		t.Errorf("job: %s", body)
	}
	if code, _, body := get("/api/v4/job", "JOB-TOKEN", "job-token-2"); code != 401 || !strings.Contains(string(body), `"401 Unauthorized"`) {
		t.Errorf("unknown job token: %d %s", code, body)
	}
	if code, _, _ := get("/api/v4/job", "JOB-TOKEN", "job-token-1", "PRIVATE-TOKEN", f.Token); code != 404 {
		t.Errorf("job token with a private token: %d, want 404", code)
	}
	if code, _, _ := get("/api/v4/user", "JOB-TOKEN", "job-token-1"); code != 401 {
		t.Errorf("GET /user with a job token: %d, want 401", code)
	}
}

// Reviewers are set by reviewer_ids and rendered as user objects.
func TestFakeGitLabReviewers(t *testing.T) {
	f := StartFakeGitLab(t)
	f.AddProject("group/repo")
	alice, bob := f.AddUser("alice"), f.AddUser("bob")
	do := func(method, path, body string) []byte {
		t.Helper()
		req, _ := http.NewRequest(method, f.URL+path, strings.NewReader(body))
		req.Header.Set("PRIVATE-TOKEN", f.Token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return b
	}
	const mrs = "/api/v4/projects/group%2Frepo/merge_requests"
	var mr gl.MergeRequest
	body := do("POST", mrs, `{"title":"t","source_branch":"a","target_branch":"b","reviewer_ids":[`+strconv.Itoa(alice)+`,999]}`)
	if err := json.Unmarshal(body, &mr); err != nil || len(mr.Reviewers) != 1 || mr.Reviewers[0].Username != "alice" {
		t.Fatalf("create: %v %s", err, body)
	}
	body = do("PUT", mrs+"/1", `{"reviewer_ids":[`+strconv.Itoa(bob)+`]}`)
	if err := json.Unmarshal(body, &mr); err != nil || len(mr.Reviewers) != 1 || mr.Reviewers[0].Username != "bob" {
		t.Fatalf("update: %v %s", err, body)
	}
	if got := f.MergeRequests("group/repo")[0].Reviewers; len(got) != 1 || got[0].ID != bob {
		t.Errorf("stored reviewers %+v", got)
	}
	if mr.Author.Username != "stepper-bot" {
		t.Errorf("author %+v", mr.Author)
	}
}
