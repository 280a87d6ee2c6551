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

// pending is the shared master→prod merge request that collects changes.
func pending(changes ...Change) MergeRequest {
	return MergeRequest{
		Project: project, SourceBranch: "master", TargetBranch: "prod",
		Title: "Release to prod", Description: "Changes waiting for prod:", Changes: changes,
	}
}

func keys(changes []Change) []string {
	var out []string
	for _, c := range changes {
		out = append(out, c.Key)
	}
	return out
}

func TestGitLabMergeRequestListsEveryPendingChange(t *testing.T) {
	f := testenv.StartFakeGitLab(t)
	f.AddProject(project)
	c := newClient(t, f, f.Token)
	ctx := context.Background()

	apiOld := Change{Key: "prod/api", Markdown: "**api** 1.4.0\n\n```diff\n-    tag: 1.3.0\n+    tag: 1.4.0\n```"}
	web := Change{Key: "prod/web", Markdown: "**web** 2.0.0 & <b>not html</b>"}
	apiNew := Change{Key: "prod/api", Markdown: "**api** 1.4.1"}
	for i, ch := range []Change{apiOld, web, apiNew} {
		mr, err := c.EnsureMergeRequest(ctx, pending(ch))
		if err != nil {
			t.Fatalf("change %d: %v", i, err)
		}
		if mr.IID != 1 || mr.Created != (i == 0) {
			t.Fatalf("change %d: %+v, want !1 created once", i, mr)
		}
	}
	got := f.MergeRequests(project)[0].Description
	listed := PendingChanges(got)
	if !slices.Equal(keys(listed), []string{"prod/api", "prod/web"}) || listed[0] != apiNew || listed[1] != web {
		t.Fatalf("listed %+v in\n%s", listed, got)
	}
	if !strings.HasPrefix(got, "Changes waiting for prod:\n\n<!-- stepper:change prod/api -->\n**api** 1.4.1\n") {
		t.Errorf("description:\n%s", got)
	}

	// A person edits the text around the entries and the MR is updated
	// with KeepDescription: their text stays, the entries merge.
	f.EditMergeRequest(project, 1, func(mr *testenv.GitLabMergeRequest) {
		mr.Description = strings.Replace(mr.Description, "Changes waiting for prod:", "Reviewed by ops, merge after 18:00.", 1)
	})
	db := Change{Key: "prod/db", Markdown: "**db** migration 42"}
	keep := pending(db)
	keep.KeepDescription = true
	if _, err := c.EnsureMergeRequest(ctx, keep); err != nil {
		t.Fatal(err)
	}
	got = f.MergeRequests(project)[0].Description
	if !strings.HasPrefix(got, "Reviewed by ops, merge after 18:00.\n\n") ||
		!slices.Equal(keys(PendingChanges(got)), []string{"prod/api", "prod/web", "prod/db"}) {
		t.Errorf("after KeepDescription:\n%s", got)
	}

	// Once merged, the next change opens a new merge request listing only
	// itself.
	f.EditMergeRequest(project, 1, func(mr *testenv.GitLabMergeRequest) { mr.State = "merged" })
	next, err := c.EnsureMergeRequest(ctx, pending(web))
	if err != nil {
		t.Fatal(err)
	}
	if !next.Created || next.IID != 2 || !slices.Equal(keys(PendingChanges(f.MergeRequests(project)[1].Description)), []string{"prod/web"}) {
		t.Errorf("after the merge: %+v\n%s", next, f.MergeRequests(project)[1].Description)
	}
}

func TestGitLabMergeRequestUnchangedDescriptionNotSent(t *testing.T) {
	f := testenv.StartFakeGitLab(t)
	f.AddProject(project)
	c := newClient(t, f, f.Token)
	ch := Change{Key: "prod/api", Markdown: "**api** 1.4.1"}
	for range 2 {
		if _, err := c.EnsureMergeRequest(context.Background(), pending(ch)); err != nil {
			t.Fatal(err)
		}
	}
	reqs := f.Requests()
	last := reqs[len(reqs)-1]
	var body map[string]any
	if err := json.Unmarshal(last.Body, &body); last.Method != http.MethodPut || err != nil {
		t.Fatalf("last request %s %s: %v", last.Method, last.Path, err)
	}
	if _, sent := body["description"]; sent {
		t.Errorf("an unchanged description was sent again: %s", last.Body)
	}
}

func TestGitLabMergeRequestRefusesBadChanges(t *testing.T) {
	f := testenv.StartFakeGitLab(t)
	f.AddProject(project)
	c := newClient(t, f, f.Token)
	ok := Change{Key: "prod/api", Markdown: "api"}
	markerInIntro := pending(ok)
	markerInIntro.Description = "x\n<!-- stepper:change prod/web -->\n"
	for _, mr := range []MergeRequest{
		pending(Change{Key: "", Markdown: "x"}),
		pending(Change{Key: "has space", Markdown: "x"}),
		pending(Change{Key: "a--b", Markdown: "x"}),
		pending(Change{Key: "api", Markdown: "  \n"}),
		pending(ok, ok),
		pending(Change{Key: "api", Markdown: "x\n<!-- /stepper:change api -->\ny"}),
		markerInIntro,
	} {
		if _, err := c.EnsureMergeRequest(context.Background(), mr); exit.ClassOf(err) != exit.Usage {
			t.Errorf("%+v: class %v: %v", mr.Changes, exit.ClassOf(err), err)
		}
	}
	if n := len(f.Requests()); n != 0 {
		t.Errorf("%d requests for refused changes, want 0", n)
	}
}

func TestGitLabPendingChangesParse(t *testing.T) {
	tests := []struct {
		name        string
		description string
		text        string
		keys        []string
	}{
		{"none", "just text", "just text", nil},
		{"two", "intro\n\n<!-- stepper:change a -->\nA\n<!-- /stepper:change a -->\n\n<!-- stepper:change b -->\nB\n<!-- /stepper:change b -->\n", "intro", []string{"a", "b"}},
		{"CRLF from the web editor", "intro\r\n<!-- stepper:change a -->\r\nA\r\n<!-- /stepper:change a -->\r\n", "intro", []string{"a"}},
		{"closing marker edited away", "intro\n<!-- stepper:change a -->\nA\n", "intro\n<!-- stepper:change a -->\nA", nil},
		{"text after the entries", "<!-- stepper:change a -->\nA\n<!-- /stepper:change a -->\nfooter", "footer", []string{"a"}},
		{"a key twice keeps the last", "<!-- stepper:change a -->\n1\n<!-- /stepper:change a -->\n<!-- stepper:change a -->\n2\n<!-- /stepper:change a -->", "", []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text, changes := parseChanges(tt.description)
			if text != tt.text || !slices.Equal(keys(changes), tt.keys) {
				t.Errorf("parse = %q %v, want %q %v", text, keys(changes), tt.text, tt.keys)
			}
			if len(changes) > 0 && strings.Contains(changes[len(changes)-1].Markdown, "\r") {
				t.Errorf("entry keeps a CR: %q", changes[len(changes)-1].Markdown)
			}
		})
	}
	// What is rendered reads back the same.
	changes := []Change{{Key: "prod/api", Markdown: "```diff\n+x\n```"}, {Key: "prod/web@2", Markdown: "web\n\nsecond paragraph"}}
	text, back := parseChanges(renderChanges("intro", changes))
	if text != "intro" || !slices.Equal(back, changes) {
		t.Errorf("round trip: %q %+v", text, back)
	}
}
