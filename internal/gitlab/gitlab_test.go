package gitlab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/logging"
	"github.com/stepper-cd/stepper/internal/secret"
	"github.com/stepper-cd/stepper/internal/testenv"
)

const project = "ehealth/env-preprod"

// description is what promote writes: Markdown with a diff block whose
// characters JSON and HTML both like to escape.
const description = "Promote **api** to `preprod` & <prod>\n\n" +
	"```diff\n" +
	"--- a/helmsman/prod.yaml\n" +
	"+++ b/helmsman/prod.yaml\n" +
	"@@ -3,3 +3,3 @@ apps:\n" +
	"-    image: registry.example/api@sha256:0000aaaa\n" +
	"+    image: registry.example/api@sha256:1111bbbb # \"quoted\" \\ tab\there\n" +
	"```\n\n" +
	"Prüfung: ✅ 100%\n"

func newClient(t *testing.T, f *testenv.FakeGitLab, token string) *Client {
	t.Helper()
	c, err := New(Options{URL: f.URL, Token: secret.NewValue(token, nil)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func promotion() MergeRequest {
	return MergeRequest{
		Project: project, SourceBranch: "master", TargetBranch: "prod",
		Title: "Promote api 1.4.0 to prod", Description: description, Labels: []string{"stepper", "promotion"},
	}
}

func TestGitLabEnsureCreatesThenUpdates(t *testing.T) {
	f := testenv.StartFakeGitLab(t)
	f.AddProject(project)
	c := newClient(t, f, f.Token)
	ctx := context.Background()

	first, err := c.EnsureMergeRequest(ctx, promotion())
	if err != nil {
		t.Fatal(err)
	}
	if !first.Created || first.IID != 1 || first.State != "opened" || !strings.HasSuffix(first.WebURL, "/"+project+"/-/merge_requests/1") {
		t.Fatalf("first run: %+v, want a created, open !1", first)
	}
	// Someone labels the merge request by hand; the next run must keep it.
	f.EditMergeRequest(project, 1, func(mr *testenv.GitLabMergeRequest) { mr.Labels = append(mr.Labels, "reviewed") })

	again := promotion()
	again.Title = "Promote api 1.4.1 to prod"
	second, err := c.EnsureMergeRequest(ctx, again)
	if err != nil {
		t.Fatal(err)
	}
	if second.Created || second.IID != 1 {
		t.Fatalf("second run: %+v, want !1 updated", second)
	}
	mrs := f.MergeRequests(project)
	if len(mrs) != 1 {
		t.Fatalf("%d merge requests, want 1", len(mrs))
	}
	if mrs[0].Title != again.Title || !slices.Equal(mrs[0].Labels, []string{"promotion", "reviewed", "stepper"}) {
		t.Errorf("merge request = title %q labels %v", mrs[0].Title, mrs[0].Labels)
	}

	var methods []string
	for _, r := range f.Requests() {
		methods = append(methods, r.Method+" "+r.Path)
	}
	want := []string{
		"GET /api/v4/projects/ehealth%2Fenv-preprod/merge_requests",
		"POST /api/v4/projects/ehealth%2Fenv-preprod/merge_requests",
		"GET /api/v4/projects/ehealth%2Fenv-preprod/merge_requests",
		"PUT /api/v4/projects/ehealth%2Fenv-preprod/merge_requests/1",
	}
	if !slices.Equal(methods, want) {
		t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(methods, "\n"), strings.Join(want, "\n"))
	}
	q := f.Requests()[0].Query
	if q.Get("state") != "opened" || q.Get("source_branch") != "master" || q.Get("target_branch") != "prod" {
		t.Errorf("list query = %v, want open master→prod", q)
	}
}

func TestGitLabDescriptionIntact(t *testing.T) {
	f := testenv.StartFakeGitLab(t)
	f.AddProject(project)
	c := newClient(t, f, f.Token)
	for range 2 { // create, then update
		if _, err := c.EnsureMergeRequest(context.Background(), promotion()); err != nil {
			t.Fatal(err)
		}
	}
	sent := 0
	for _, r := range f.Requests() {
		if r.Method != http.MethodPost && r.Method != http.MethodPut {
			continue
		}
		sent++
		var body struct {
			Description string `json:"description"`
		}
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatalf("%s body: %v", r.Method, err)
		}
		if body.Description != description {
			t.Errorf("%s sent description\n%q\nwant\n%q", r.Method, body.Description, description)
		}
	}
	if sent != 2 {
		t.Errorf("%d create or update requests, want 2", sent)
	}
	if got := f.MergeRequests(project)[0].Description; got != description {
		t.Errorf("stored description %q", got)
	}
}

func TestGitLabWrongTokenIsUsageWithoutToken(t *testing.T) {
	f := testenv.StartFakeGitLab(t)
	f.AddProject(project)
	const wrong = "glpat-not-the-right-one-1234"
	c := newClient(t, f, wrong)
	var logs bytes.Buffer
	ctx := logging.WithContext(context.Background(), zerolog.New(&logs).Level(zerolog.TraceLevel))

	_, err := c.EnsureMergeRequest(ctx, promotion())
	if exit.ClassOf(err) != exit.Usage {
		t.Fatalf("class %v, want usage: %v", exit.ClassOf(err), err)
	}
	if strings.Contains(err.Error(), wrong) || strings.Contains(logs.String(), wrong) {
		t.Errorf("the token leaked:\nerror: %v\nlogs: %s", err, logs.String())
	}
	for _, hint := range []string{"401", "gitlab.token", "scope api"} {
		if !strings.Contains(err.Error(), hint) {
			t.Errorf("error lacks %q: %v", hint, err)
		}
	}
	if _, err := c.MergeRequestState(ctx, project, 1); exit.ClassOf(err) != exit.Usage {
		t.Errorf("state: class %v, want usage: %v", exit.ClassOf(err), err)
	}
}

func TestGitLabForbiddenAndNotFound(t *testing.T) {
	f := testenv.StartFakeGitLab(t)
	f.AddProject(project)
	c := newClient(t, f, f.Token)

	f.Fail(testenv.GitLabFailure{Status: http.StatusForbidden})
	_, err := c.EnsureMergeRequest(context.Background(), promotion())
	if exit.ClassOf(err) != exit.Usage || !strings.Contains(err.Error(), "Developer role") {
		t.Errorf("403: class %v: %v", exit.ClassOf(err), err)
	}

	missing := promotion()
	missing.Project = "ehealth/no-such-repo"
	_, err = c.EnsureMergeRequest(context.Background(), missing)
	if exit.ClassOf(err) != exit.Usage || !strings.Contains(err.Error(), "ehealth/no-such-repo") {
		t.Errorf("404: class %v: %v", exit.ClassOf(err), err)
	}
}

func TestGitLabServerErrorsRetried(t *testing.T) {
	f := testenv.StartFakeGitLab(t)
	f.AddProject(project)
	c := newClient(t, f, f.Token)

	// Two failures fit in three attempts.
	f.Fail(testenv.GitLabFailure{Status: http.StatusBadGateway, Times: 2})
	if _, err := c.EnsureMergeRequest(context.Background(), promotion()); err != nil {
		t.Fatalf("two 502 then success: %v", err)
	}
	if n := len(f.Requests()); n != 4 { // 3 lists, 1 create
		t.Errorf("%d requests, want 4", n)
	}

	// More do not, and the job fails as infrastructure.
	before := len(f.Requests())
	f.Fail(testenv.GitLabFailure{Status: http.StatusInternalServerError, Times: 10})
	_, err := c.MergeRequestState(context.Background(), project, 1)
	if exit.ClassOf(err) != exit.Infra || !strings.Contains(err.Error(), "HTTP 500") {
		t.Errorf("class %v, want infra after HTTP 500: %v", exit.ClassOf(err), err)
	}
	if n := len(f.Requests()) - before; n != defaultRetry.tries {
		t.Errorf("%d attempts, want %d", n, defaultRetry.tries)
	}
}

func TestGitLabRateLimitHonoured(t *testing.T) {
	f := testenv.StartFakeGitLab(t)
	f.AddProject(project)
	c := newClient(t, f, f.Token)

	f.Fail(testenv.GitLabFailure{Status: http.StatusTooManyRequests, RetryAfter: "1"})
	if _, err := c.EnsureMergeRequest(context.Background(), promotion()); err != nil {
		t.Fatalf("429 with Retry-After: 1, then success: %v", err)
	}

	// A wait longer than a job should sleep is not waited for.
	before := len(f.Requests())
	f.Fail(testenv.GitLabFailure{Status: http.StatusTooManyRequests, RetryAfter: "3600", Times: 10})
	_, err := c.MergeRequestState(context.Background(), project, 1)
	if exit.ClassOf(err) != exit.Infra || !strings.Contains(err.Error(), "retry after 1h0m0s") {
		t.Errorf("class %v: %v", exit.ClassOf(err), err)
	}
	if n := len(f.Requests()) - before; n != 1 {
		t.Errorf("%d attempts, want 1", n)
	}
}

func TestGitLabRetryAfter(t *testing.T) {
	p := retryPolicy{tries: 3, initial: 100 * time.Millisecond, maxWait: 10 * time.Second}
	resp := func(h ...string) *http.Response {
		r := &http.Response{StatusCode: http.StatusTooManyRequests, Header: http.Header{}}
		for i := 0; i < len(h); i += 2 {
			r.Header.Set(h[i], h[i+1])
		}
		return r
	}
	tests := []struct {
		name      string
		resp      *http.Response
		attempt   int
		want      string
		wantRetry bool
	}{
		{"retry-after", resp("Retry-After", "7"), 0, "7s", true},
		{"retry-after zero", resp("Retry-After", "0"), 3, "0s", true},
		{"too long", resp("Retry-After", "60"), 0, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			retry, _ := p.check(context.Background(), tt.resp, nil)
			if retry != tt.wantRetry {
				t.Fatalf("check = %v, want %v", retry, tt.wantRetry)
			}
			if retry {
				if got := p.backoff(0, 0, tt.attempt, tt.resp).String(); got != tt.want {
					t.Errorf("backoff = %s, want %s", got, tt.want)
				}
			}
		})
	}
	// Without a header the wait grows and stays under the cap.
	for attempt := range 40 {
		if d := p.backoff(0, 0, attempt, resp()); d <= 0 || d > p.maxWait {
			t.Errorf("attempt %d: wait %s", attempt, d)
		}
	}
	if retry, _ := p.check(context.Background(), &http.Response{StatusCode: http.StatusNotImplemented}, nil); retry {
		t.Error("501 retried")
	}
}

func TestGitLabCancelledWhileWaiting(t *testing.T) {
	f := testenv.StartFakeGitLab(t)
	f.AddProject(project)
	// A request that answers 503 cancels the job, as a SIGTERM would,
	// while the client waits the 5 s GitLab asked for.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := New(Options{URL: f.URL, Token: secret.NewValue(f.Token, nil), HTTPClient: &http.Client{
		Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			defer cancel()
			return http.DefaultTransport.RoundTrip(r)
		}),
	}})
	if err != nil {
		t.Fatal(err)
	}
	f.Fail(testenv.GitLabFailure{Status: http.StatusServiceUnavailable, RetryAfter: "5", Times: 10})
	_, err = c.MergeRequestState(ctx, project, 1)
	if !errors.Is(err, context.Canceled) || exit.ClassOf(err) != exit.Interrupted {
		t.Errorf("class %v, want interrupted: %v", exit.ClassOf(err), err)
	}
	if n := len(f.Requests()); n != 1 {
		t.Errorf("%d attempts, want 1", n)
	}
}

func TestGitLabConflictOnCreateUpdates(t *testing.T) {
	f := testenv.StartFakeGitLab(t)
	f.AddProject(project)
	// Another pipeline opens the merge request between our look and our
	// create: GitLab answers 409 and the run must update that one.
	raced := false
	c, err := New(Options{URL: f.URL, Token: secret.NewValue(f.Token, nil), HTTPClient: &http.Client{
		Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.Method == http.MethodPost && !raced {
				raced = true
				other := newClient(t, f, f.Token)
				if _, err := other.create(r.Context(), promotion(), nil); err != nil {
					t.Errorf("racing create: %v", err)
				}
			}
			return http.DefaultTransport.RoundTrip(r)
		}),
	}})
	if err != nil {
		t.Fatal(err)
	}
	mr, err := c.EnsureMergeRequest(context.Background(), promotion())
	if err != nil {
		t.Fatal(err)
	}
	if mr.Created || mr.IID != 1 || len(f.MergeRequests(project)) != 1 {
		t.Errorf("got %+v and %d merge requests, want !1 updated and 1", mr, len(f.MergeRequests(project)))
	}
}

func TestGitLabMergeRequestState(t *testing.T) {
	f := testenv.StartFakeGitLab(t)
	id := f.AddProject(project)
	c := newClient(t, f, f.Token)
	if _, err := c.EnsureMergeRequest(context.Background(), promotion()); err != nil {
		t.Fatal(err)
	}
	f.EditMergeRequest(project, 1, func(mr *testenv.GitLabMergeRequest) {
		mr.ApprovalsRequired, mr.ApprovedBy, mr.DetailedMergeStatus = 2, []string{"alice"}, "not_approved"
	})
	got, err := c.MergeRequestState(context.Background(), project, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != "opened" || got.MergeStatus != "not_approved" || got.Approvals == nil ||
		got.Approvals.Approved || got.Approvals.Left != 1 || !slices.Equal(got.Approvals.By, []string{"alice"}) {
		t.Errorf("open: %+v approvals %+v", got, got.Approvals)
	}

	f.EditMergeRequest(project, 1, func(mr *testenv.GitLabMergeRequest) { mr.State = "merged" })
	// The numeric id works as well as the path.
	got, err = c.MergeRequestState(context.Background(), strconv.Itoa(id), 1)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != "merged" || got.Approvals != nil {
		t.Errorf("merged: %+v", got)
	}

	if _, err := c.MergeRequestState(context.Background(), project, 99); exit.ClassOf(err) != exit.Usage {
		t.Errorf("!99: class %v: %v", exit.ClassOf(err), err)
	}
}

func TestGitLabUnreachableIsInfra(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c, err := New(Options{URL: "http://" + addr, Token: secret.NewValue("glpat-some-token-0000", nil)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.EnsureMergeRequest(context.Background(), promotion())
	if exit.ClassOf(err) != exit.Infra || !strings.Contains(err.Error(), "unreachable") {
		t.Errorf("class %v: %v", exit.ClassOf(err), err)
	}
}

func TestGitLabNewRefusesBadOptions(t *testing.T) {
	const token = "glpat-in-the-url-5678"
	tests := []struct {
		name string
		o    Options
	}{
		{"no URL", Options{Token: secret.NewValue("glpat-x-1234", nil)}},
		{"no token", Options{URL: "https://gitlab.example"}},
		{"no scheme", Options{URL: "gitlab.example", Token: secret.NewValue("glpat-x-1234", nil)}},
		{"credentials in URL", Options{URL: "https://oauth2:" + token + "@gitlab.example", Token: secret.NewValue("glpat-x-1234", nil)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.o)
			if exit.ClassOf(err) != exit.Usage {
				t.Fatalf("class %v: %v", exit.ClassOf(err), err)
			}
			if strings.Contains(err.Error(), token) {
				t.Errorf("token leaked: %v", err)
			}
		})
	}
}

func TestGitLabEnsureRefusesBadRequest(t *testing.T) {
	f := testenv.StartFakeGitLab(t)
	c := newClient(t, f, f.Token)
	same := promotion()
	same.TargetBranch = same.SourceBranch
	untitled := promotion()
	untitled.Title = ""
	for _, mr := range []MergeRequest{same, untitled, {Title: "x"}} {
		if _, err := c.EnsureMergeRequest(context.Background(), mr); exit.ClassOf(err) != exit.Usage {
			t.Errorf("%+v: class %v: %v", mr, exit.ClassOf(err), err)
		}
	}
	if n := len(f.Requests()); n != 0 {
		t.Errorf("%d requests for invalid merge requests, want 0", n)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
