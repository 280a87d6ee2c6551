package testenv

import (
	"encoding/json"
	"io"
	"net/http"
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
