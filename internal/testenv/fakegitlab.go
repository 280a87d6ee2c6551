package testenv

// This file is a fake of GitLab's REST API v4, for tests only. GitLab cannot
// run here, so the few endpoints stepper uses are answered the way GitLab
// documents them (https://docs.gitlab.com/api/merge_requests/,
// https://docs.gitlab.com/api/merge_request_approvals/,
// https://docs.gitlab.com/api/users/, https://docs.gitlab.com/api/members/,
// https://docs.gitlab.com/api/groups/ and https://docs.gitlab.com/api/jobs/):
// the same paths with URL-encoded project and group paths, the same
// PRIVATE-TOKEN authentication (JOB-TOKEN for GET /job), the same JSON field
// names, pagination headers and error bodies. It keeps no branches or
// commits, so it does not check that a branch exists.

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// FakeGitLab is a fake of GitLab's REST API v4 on 127.0.0.1 that serves the
// merge request endpoints (list, create, update, get one and its
// approvals), the users (GET /user, GET /users?username=), the groups and
// their members (GET /groups/:id, GET /groups/:id/members/all[/:user_id])
// and the job of a CI job token (GET /job).
type FakeGitLab struct {
	// URL is the instance's base URL, "http://127.0.0.1:port"; the API is
	// under URL + "/api/v4".
	URL string
	// Token is the only PRIVATE-TOKEN the fake accepts; any other gets 401.
	Token string

	srv *httptest.Server

	mu        sync.Mutex
	projects  []*fakeProject
	nextID    int // projects and merge requests
	users     []*GitLabUser
	tokenUser *GitLabUser // the owner of Token
	groups    []*fakeGroup
	jobs      map[string]*fakeJob // by job token
	requests  []GitLabRequest
	failures  []GitLabFailure
}

// GitLabRequest is one request the fake received, recorded before it is
// answered, failed ones included.
type GitLabRequest struct {
	Method string
	// Path is the path as sent, still escaped: "/api/v4/projects/group%2Frepo/merge_requests".
	Path  string
	Query url.Values
	Body  []byte
	// Authenticated tells whether the request carried the fake's token.
	Authenticated bool
}

// GitLabFailure makes the fake answer requests with an error status before
// looking at them, the way an overloaded instance or its load balancer does.
type GitLabFailure struct {
	// Status is the HTTP status to answer, such as 500, 503 or 429.
	Status int
	// Times is how many requests in a row get it; 0 means 1.
	Times int
	// RetryAfter, when set, is sent as the Retry-After header (seconds).
	RetryAfter string
}

// GitLabMergeRequest is a merge request as the fake keeps it and as GitLab's
// API renders it (a subset of the documented fields).
type GitLabMergeRequest struct {
	ID                       int            `json:"id"`
	IID                      int            `json:"iid"`
	ProjectID                int            `json:"project_id"`
	Title                    string         `json:"title"`
	Description              string         `json:"description"`
	State                    string         `json:"state"`
	CreatedAt                time.Time      `json:"created_at"`
	UpdatedAt                time.Time      `json:"updated_at"`
	MergedAt                 *time.Time     `json:"merged_at"`
	ClosedAt                 *time.Time     `json:"closed_at"`
	TargetBranch             string         `json:"target_branch"`
	SourceBranch             string         `json:"source_branch"`
	SourceProjectID          int            `json:"source_project_id"`
	TargetProjectID          int            `json:"target_project_id"`
	Author                   GitLabUser     `json:"author"`
	Labels                   []string       `json:"labels"`
	Draft                    bool           `json:"draft"`
	WorkInProgress           bool           `json:"work_in_progress"`
	MergeStatus              string         `json:"merge_status"`
	DetailedMergeStatus      string         `json:"detailed_merge_status"`
	SHA                      string         `json:"sha"`
	ShouldRemoveSourceBranch bool           `json:"should_remove_source_branch"`
	ForceRemoveSourceBranch  bool           `json:"force_remove_source_branch"`
	WebURL                   string         `json:"web_url"`
	References               gitlabRefs     `json:"references"`
	HasConflicts             bool           `json:"has_conflicts"`
	UserNotesCount           int            `json:"user_notes_count"`
	TimeStats                map[string]any `json:"time_stats"`
	// Reviewers are set by reviewer_ids on create and update.
	Reviewers []GitLabUser `json:"reviewers"`

	// ApprovalsRequired and ApprovedBy (user names) feed the approvals
	// endpoint; tests set them with EditMergeRequest.
	ApprovalsRequired int      `json:"-"`
	ApprovedBy        []string `json:"-"`
}

// GitLabUser is GitLab's basic user object, as in a merge request's author
// and reviewers and in GET /users.
type GitLabUser struct {
	ID       int    `json:"id"`
	Username string `json:"username"`
	Name     string `json:"name"`
	// State is active, or blocked after BlockUser.
	State     string `json:"state"`
	Locked    bool   `json:"locked"`
	AvatarURL string `json:"avatar_url"`
	WebURL    string `json:"web_url"`
}

type gitlabRefs struct {
	Short    string `json:"short"`
	Relative string `json:"relative"`
	Full     string `json:"full"`
}

type fakeProject struct {
	id   int
	path string
	mrs  []*GitLabMergeRequest
}

// fakeGroup is a group; its members/all adds the members of its ancestors.
type fakeGroup struct {
	id      int
	path    string // full path, "ehealth/sre"
	parent  *fakeGroup
	members []*GitLabUser
}

// fakeJob is the running CI job a job token belongs to.
type fakeJob struct {
	id   int
	user *GitLabUser
}

// memberAccessLevel is the role every member the fake knows has: Developer.
const memberAccessLevel = 30

// StartFakeGitLab starts a fake GitLab on 127.0.0.1 that knows no project
// yet; add them with AddProject. It stops when the test ends.
func StartFakeGitLab(t testing.TB) *FakeGitLab {
	t.Helper()
	f := NewFakeGitLab()
	t.Cleanup(f.Close)
	return f
}

// NewFakeGitLab is StartFakeGitLab for a program (the demo): Close stops it.
func NewFakeGitLab() *FakeGitLab {
	token := make([]byte, 12)
	_, _ = rand.Read(token) // never fails
	f := &FakeGitLab{Token: "glpat-" + hex.EncodeToString(token), nextID: 100, jobs: map[string]*fakeJob{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	f.URL = f.srv.URL
	f.SetTokenUser("stepper-bot")
	return f
}

// Close stops the fake.
func (f *FakeGitLab) Close() { f.srv.Close() }

// AddUser creates an active user and returns its id; a user that exists
// already keeps its id.
func (f *FakeGitLab) AddUser(username string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.user(username).ID
}

// SetTokenUser makes username (created if need be) the owner of Token, the
// user GET /user answers and merge requests are authored by; it is
// "stepper-bot" until set.
func (f *FakeGitLab) SetTokenUser(username string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokenUser = f.user(username)
}

// BlockUser blocks username (created if need be): it stays a member of its
// groups and a reviewer, with state "blocked", as in GitLab.
func (f *FakeGitLab) BlockUser(username string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.user(username).State = "blocked"
}

// AddJobToken makes token the CI_JOB_TOKEN of a running job started by
// username (created if need be); GET /job with it answers that job.
func (f *FakeGitLab) AddJobToken(token, username string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.jobs[token] = &fakeJob{id: 5000 + len(f.jobs), user: f.user(username)}
}

// AddGroup creates the group with the full path "ehealth" or "ehealth/sre"
// and the given members (users created if need be), all Developers. The
// ancestors of a nested path are created, without members, if missing.
func (f *FakeGitLab) AddGroup(path string, members ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	g := f.groupByPath(path)
	for _, name := range members {
		if u := f.user(name); !slices.Contains(g.members, u) {
			g.members = append(g.members, u)
		}
	}
}

// AddSubgroup creates the group parent/path, whose members/all lists the
// members of parent and of its ancestors too.
func (f *FakeGitLab) AddSubgroup(parent, path string, members ...string) {
	f.AddGroup(parent+"/"+path, members...)
}

// AddProject creates the project with the path "group/sub/name" and returns
// its numeric id; the API accepts either.
func (f *FakeGitLab) AddProject(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	f.projects = append(f.projects, &fakeProject{id: f.nextID, path: path})
	return f.nextID
}

// Fail queues a failure for the next requests; failures queued earlier come
// first.
func (f *FakeGitLab) Fail(failure GitLabFailure) {
	f.mu.Lock()
	defer f.mu.Unlock()
	failure.Times = max(failure.Times, 1)
	f.failures = append(f.failures, failure)
}

// Requests returns the requests received so far, oldest first.
func (f *FakeGitLab) Requests() []GitLabRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

// MergeRequests returns copies of the project's merge requests in every
// state, by iid.
func (f *FakeGitLab) MergeRequests(project string) []GitLabMergeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.project(project)
	if p == nil {
		return nil
	}
	out := make([]GitLabMergeRequest, 0, len(p.mrs))
	for _, mr := range p.mrs {
		out = append(out, *mr)
	}
	return out
}

// EditMergeRequest changes a merge request the way a person in GitLab's web
// interface would (merge it, close it, approve it), and reports whether it
// exists.
func (f *FakeGitLab) EditMergeRequest(project string, iid int, edit func(*GitLabMergeRequest)) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	mr := f.mergeRequest(f.project(project), iid)
	if mr == nil {
		return false
	}
	edit(mr)
	mr.UpdatedAt = time.Now().UTC()
	return true
}

// project finds a project by path or numeric id; f.mu is held.
func (f *FakeGitLab) project(id string) *fakeProject {
	for _, p := range f.projects {
		if p.path == id || strconv.Itoa(p.id) == id {
			return p
		}
	}
	return nil
}

// user finds username, creating it if missing; f.mu is held. Usernames are
// case-insensitive in GitLab.
func (f *FakeGitLab) user(username string) *GitLabUser {
	for _, u := range f.users {
		if strings.EqualFold(u.Username, username) {
			return u
		}
	}
	u := &GitLabUser{
		ID: 7 + len(f.users), Username: username, Name: username, State: "active",
		AvatarURL: f.URL + "/uploads/-/system/user/avatar/" + username + ".png", WebURL: f.URL + "/" + username,
	}
	if username == "stepper-bot" {
		u.Name = "Stepper Bot"
	}
	f.users = append(f.users, u)
	return u
}

// groupByPath finds the group with the full path, creating it and its
// ancestors if missing; f.mu is held.
func (f *FakeGitLab) groupByPath(path string) *fakeGroup {
	path = strings.Trim(path, "/")
	if g := f.group(path); g != nil {
		return g
	}
	g := &fakeGroup{id: 20 + len(f.groups), path: path}
	if i := strings.LastIndex(path, "/"); i > 0 {
		g.parent = f.groupByPath(path[:i])
	}
	f.groups = append(f.groups, g)
	return g
}

// group finds a group by full path (case-insensitive, as GitLab's routes
// are) or numeric id; f.mu is held.
func (f *FakeGitLab) group(id string) *fakeGroup {
	for _, g := range f.groups {
		if strings.EqualFold(g.path, id) || strconv.Itoa(g.id) == id {
			return g
		}
	}
	return nil
}

func (f *FakeGitLab) mergeRequest(p *fakeProject, iid int) *GitLabMergeRequest {
	if p == nil {
		return nil
	}
	for _, mr := range p.mrs {
		if mr.IID == iid {
			return mr
		}
	}
	return nil
}

func (f *FakeGitLab) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	authenticated := r.Header.Get("PRIVATE-TOKEN") == f.Token || r.Header.Get("Authorization") == "Bearer "+f.Token

	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, GitLabRequest{
		Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.Query(), Body: body, Authenticated: authenticated,
	})
	if len(f.failures) > 0 {
		failure := &f.failures[0]
		if failure.Times--; failure.Times == 0 {
			f.failures = f.failures[1:]
		}
		if failure.RetryAfter != "" {
			w.Header().Set("Retry-After", failure.RetryAfter)
		}
		writeGitLabError(w, failure.Status, fmt.Sprintf("%d %s", failure.Status, http.StatusText(failure.Status)))
		return
	}
	path := r.URL.EscapedPath()
	if path == "/api/v4/job" {
		f.currentJob(w, r, authenticated)
		return
	}
	if !authenticated {
		writeGitLabError(w, http.StatusUnauthorized, "401 Unauthorized")
		return
	}
	if r.Method != http.MethodGet && !strings.HasPrefix(path, "/api/v4/projects/") {
		writeGitLabError(w, http.StatusMethodNotAllowed, "405 Method Not Allowed")
		return
	}
	switch {
	case path == "/api/v4/user":
		writeGitLabJSON(w, http.StatusOK, f.fullUser(f.tokenUser))
	case path == "/api/v4/users":
		f.listUsers(w, r)
	case strings.HasPrefix(path, "/api/v4/groups/"):
		f.serveGroup(w, r, strings.Split(strings.TrimPrefix(path, "/api/v4/groups/"), "/"))
	case strings.HasPrefix(path, "/api/v4/projects/"):
		f.serveProject(w, r, body, strings.Split(strings.TrimPrefix(path, "/api/v4/projects/"), "/"))
	default:
		writeGitLabJSON(w, http.StatusNotFound, map[string]string{"error": "404 Not Found"})
	}
}

// serveProject answers /api/v4/projects/:id/merge_requests[/:iid[/approvals]],
// with :id a numeric id or a path whose slashes are encoded as %2F; parts
// is the path after /projects/.
func (f *FakeGitLab) serveProject(w http.ResponseWriter, r *http.Request, body []byte, parts []string) {
	if len(parts) < 2 || parts[1] != "merge_requests" {
		writeGitLabJSON(w, http.StatusNotFound, map[string]string{"error": "404 Not Found"})
		return
	}
	id, err := url.PathUnescape(parts[0])
	p := f.project(id)
	if err != nil || p == nil {
		writeGitLabError(w, http.StatusNotFound, "404 Project Not Found")
		return
	}
	switch {
	case len(parts) == 2 && r.Method == http.MethodGet:
		f.listMergeRequests(w, r, p)
	case len(parts) == 2 && r.Method == http.MethodPost:
		f.createMergeRequest(w, body, p)
	case len(parts) >= 3:
		iid, err := strconv.Atoi(parts[2])
		mr := f.mergeRequest(p, iid)
		switch {
		case err != nil || mr == nil || len(parts) > 4 || (len(parts) == 4 && parts[3] != "approvals"):
			writeGitLabError(w, http.StatusNotFound, "404 Not found")
		case len(parts) == 4 && r.Method == http.MethodGet:
			writeGitLabJSON(w, http.StatusOK, approvals(mr))
		case len(parts) == 3 && r.Method == http.MethodGet:
			writeGitLabJSON(w, http.StatusOK, mr)
		case len(parts) == 3 && r.Method == http.MethodPut:
			f.updateMergeRequest(w, body, p, mr)
		default:
			writeGitLabError(w, http.StatusMethodNotAllowed, "405 Method Not Allowed")
		}
	default:
		writeGitLabError(w, http.StatusMethodNotAllowed, "405 Method Not Allowed")
	}
}

// currentJob answers GET /job, "the job that generated a job token". It
// authenticates by JOB-TOKEN only: a request that also carries a valid
// PRIVATE-TOKEN is taken as that token's user, who has no job, and gets
// 404, as GitLab answers.
func (f *FakeGitLab) currentJob(w http.ResponseWriter, r *http.Request, privateToken bool) {
	job := f.jobs[r.Header.Get("JOB-TOKEN")]
	switch {
	case r.Method != http.MethodGet:
		writeGitLabError(w, http.StatusMethodNotAllowed, "405 Method Not Allowed")
	case privateToken:
		writeGitLabError(w, http.StatusNotFound, "404 Job Not Found")
	case job == nil:
		writeGitLabError(w, http.StatusUnauthorized, "401 Unauthorized")
	default:
		started := time.Now().UTC().Add(-time.Minute)
		sha := fmt.Sprintf("%040x", job.id)
		writeGitLabJSON(w, http.StatusOK, map[string]any{
			"id": job.id, "status": "running", "stage": "deploy", "name": "promote", "ref": "master", "tag": false,
			"coverage": nil, "allow_failure": false, "created_at": started, "started_at": started,
			"finished_at": nil, "erased_at": nil, "duration": nil, "queued_duration": 0.5,
			"user":      f.fullUser(job.user),
			"commit":    map[string]any{"id": sha, "short_id": sha[:8], "title": "Deploy", "message": "Deploy\n"},
			"pipeline":  map[string]any{"id": job.id - 1, "project_id": 1, "ref": "master", "sha": sha, "status": "running"},
			"web_url":   fmt.Sprintf("%s/ci/project/-/jobs/%d", f.URL, job.id),
			"project":   map[string]any{"ci_job_token_scope_enabled": true},
			"artifacts": []any{}, "runner": nil, "artifacts_expire_at": nil, "archived": false, "tag_list": []string{},
		})
	}
}

// fullUser renders the user object GET /user and GET /job answer, which
// has more fields than the basic one.
func (f *FakeGitLab) fullUser(u *GitLabUser) map[string]any {
	return map[string]any{
		"id": u.ID, "username": u.Username, "name": u.Name, "state": u.State, "locked": u.Locked,
		"avatar_url": u.AvatarURL, "web_url": u.WebURL, "created_at": "2024-01-15T09:00:00.000Z",
		"bio": "", "location": "", "public_email": nil, "organization": "", "job_title": "", "bot": false,
	}
}

// listUsers answers GET /users: everyone, or with ?username= the one user
// of that name (case-insensitive) or none.
func (f *FakeGitLab) listUsers(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("username")
	out := []GitLabUser{}
	for _, u := range f.users {
		if name == "" || strings.EqualFold(u.Username, name) {
			out = append(out, *u)
		}
	}
	writeGitLabPage(w, r, out)
}

// serveGroup answers /api/v4/groups/:id[/members/all[/:user_id]]; parts is
// the path after /groups/.
func (f *FakeGitLab) serveGroup(w http.ResponseWriter, r *http.Request, parts []string) {
	id, err := url.PathUnescape(parts[0])
	g := f.group(id)
	switch {
	case len(parts) > 1 && (len(parts) > 4 || parts[1] != "members" || len(parts) < 3 || parts[2] != "all"):
		writeGitLabJSON(w, http.StatusNotFound, map[string]string{"error": "404 Not Found"})
	case err != nil || g == nil:
		writeGitLabError(w, http.StatusNotFound, "404 Group Not Found")
	case len(parts) == 1:
		writeGitLabJSON(w, http.StatusOK, f.renderGroup(g))
	case len(parts) == 3:
		q := strings.ToLower(r.URL.Query().Get("query"))
		out := []map[string]any{}
		for _, m := range allMembers(g) {
			if q == "" || strings.Contains(strings.ToLower(m.Username), q) || strings.Contains(strings.ToLower(m.Name), q) {
				out = append(out, member(m))
			}
		}
		writeGitLabPage(w, r, out)
	default:
		for _, m := range allMembers(g) {
			if strconv.Itoa(m.ID) == parts[3] {
				writeGitLabJSON(w, http.StatusOK, member(m))
				return
			}
		}
		writeGitLabError(w, http.StatusNotFound, "404 Not found")
	}
}

func (f *FakeGitLab) renderGroup(g *fakeGroup) map[string]any {
	name := g.path[strings.LastIndex(g.path, "/")+1:]
	var parentID any
	fullName := name
	if g.parent != nil {
		parentID = g.parent.id
		fullName = f.renderGroup(g.parent)["full_name"].(string) + " / " + name
	}
	return map[string]any{
		"id": g.id, "name": name, "path": name, "full_name": fullName, "full_path": g.path, "parent_id": parentID,
		"description": "", "visibility": "private", "web_url": f.URL + "/groups/" + g.path,
		"created_at": "2024-01-15T09:00:00.000Z",
	}
}

// allMembers are g's members and those of its ancestors, each once, as
// members/all lists them.
func allMembers(g *fakeGroup) []*GitLabUser {
	var out []*GitLabUser
	for ; g != nil; g = g.parent {
		for _, m := range g.members {
			if !slices.Contains(out, m) {
				out = append(out, m)
			}
		}
	}
	return out
}

// member renders GitLab's member object.
func member(u *GitLabUser) map[string]any {
	return map[string]any{
		"id": u.ID, "username": u.Username, "name": u.Name, "state": u.State, "avatar_url": u.AvatarURL,
		"web_url": u.WebURL, "access_level": memberAccessLevel, "created_at": "2024-01-15T09:00:00.000Z",
		"expires_at": nil, "membership_state": "active",
	}
}

// writeGitLabPage writes the page of items that ?page= and ?per_page=
// (default 20, at most 100) ask for, with GitLab's pagination headers.
func writeGitLabPage[T any](w http.ResponseWriter, r *http.Request, items []T) {
	page, err := strconv.Atoi(r.URL.Query().Get("page"))
	if err != nil || page < 1 {
		page = 1
	}
	perPage, err := strconv.Atoi(r.URL.Query().Get("per_page"))
	if err != nil || perPage < 1 {
		perPage = 20
	}
	perPage = min(perPage, 100)
	pages := max((len(items)+perPage-1)/perPage, 1)
	next, prev := "", ""
	if page < pages {
		next = strconv.Itoa(page + 1)
	}
	if page > 1 {
		prev = strconv.Itoa(page - 1)
	}
	h := w.Header()
	h.Set("X-Page", strconv.Itoa(page))
	h.Set("X-Per-Page", strconv.Itoa(perPage))
	h.Set("X-Total", strconv.Itoa(len(items)))
	h.Set("X-Total-Pages", strconv.Itoa(pages))
	h.Set("X-Next-Page", next)
	h.Set("X-Prev-Page", prev)
	lo := min((page-1)*perPage, len(items))
	writeGitLabJSON(w, http.StatusOK, items[lo:min(lo+perPage, len(items))])
}

func (f *FakeGitLab) listMergeRequests(w http.ResponseWriter, r *http.Request, p *fakeProject) {
	q := r.URL.Query()
	state := cmp.Or(q.Get("state"), "all")
	out := []*GitLabMergeRequest{}
	for _, mr := range p.mrs {
		if (state == "all" || mr.State == state) &&
			(q.Get("source_branch") == "" || mr.SourceBranch == q.Get("source_branch")) &&
			(q.Get("target_branch") == "" || mr.TargetBranch == q.Get("target_branch")) {
			out = append(out, mr)
		}
	}
	slices.Reverse(out) // newest first, GitLab's default order
	// One page holds everything; the headers say so as GitLab's do.
	w.Header().Set("X-Page", "1")
	w.Header().Set("X-Per-Page", cmp.Or(q.Get("per_page"), "20"))
	w.Header().Set("X-Total", strconv.Itoa(len(out)))
	w.Header().Set("X-Total-Pages", "1")
	w.Header().Set("X-Next-Page", "")
	writeGitLabJSON(w, http.StatusOK, out)
}

// mrParams are the fields create and update accept. Labels come as a
// comma-separated string or as an array; GitLab takes both.
type mrParams struct {
	Title              *string     `json:"title"`
	Description        *string     `json:"description"`
	SourceBranch       *string     `json:"source_branch"`
	TargetBranch       *string     `json:"target_branch"`
	Labels             *labelParam `json:"labels"`
	AddLabels          *labelParam `json:"add_labels"`
	RemoveLabels       *labelParam `json:"remove_labels"`
	RemoveSourceBranch *bool       `json:"remove_source_branch"`
	StateEvent         *string     `json:"state_event"`
	ReviewerIDs        *[]int      `json:"reviewer_ids"`
}

type labelParam []string

func (l *labelParam) UnmarshalJSON(b []byte) error {
	var list []string
	if bytes.HasPrefix(bytes.TrimSpace(b), []byte("[")) {
		if err := json.Unmarshal(b, &list); err != nil {
			return err
		}
	} else {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		list = strings.Split(s, ",")
	}
	*l = nil
	for _, v := range list {
		if v = strings.TrimSpace(v); v != "" && !slices.Contains(*l, v) {
			*l = append(*l, v)
		}
	}
	return nil
}

func (f *FakeGitLab) createMergeRequest(w http.ResponseWriter, body []byte, p *fakeProject) {
	var in mrParams
	if err := json.Unmarshal(body, &in); err != nil {
		writeGitLabJSON(w, http.StatusBadRequest, map[string]string{"error": "400 Bad request - " + err.Error()})
		return
	}
	for name, v := range map[string]*string{"title": in.Title, "source_branch": in.SourceBranch, "target_branch": in.TargetBranch} {
		if v == nil || *v == "" {
			writeGitLabJSON(w, http.StatusBadRequest, map[string]string{"error": name + " is missing"})
			return
		}
	}
	if *in.SourceBranch == *in.TargetBranch {
		writeGitLabJSON(w, http.StatusUnprocessableEntity, map[string][]string{"message": {"You can't use same project/branch for source and target"}})
		return
	}
	for _, mr := range p.mrs {
		if mr.State == "opened" && mr.SourceBranch == *in.SourceBranch && mr.TargetBranch == *in.TargetBranch {
			writeGitLabJSON(w, http.StatusConflict, map[string][]string{
				"message": {fmt.Sprintf("Another open merge request already exists for this source branch: !%d", mr.IID)},
			})
			return
		}
	}
	f.nextID++
	now := time.Now().UTC()
	iid := len(p.mrs) + 1
	mr := &GitLabMergeRequest{
		ID: f.nextID, IID: iid, ProjectID: p.id, SourceProjectID: p.id, TargetProjectID: p.id,
		Title: *in.Title, SourceBranch: *in.SourceBranch, TargetBranch: *in.TargetBranch,
		State: "opened", CreatedAt: now, UpdatedAt: now, Author: *f.tokenUser, Labels: []string{}, Reviewers: []GitLabUser{},
		MergeStatus: "can_be_merged", DetailedMergeStatus: "mergeable",
		SHA:    fmt.Sprintf("%040x", f.nextID),
		WebURL: fmt.Sprintf("%s/%s/-/merge_requests/%d", f.URL, p.path, iid),
		References: gitlabRefs{
			Short: fmt.Sprintf("!%d", iid), Relative: fmt.Sprintf("!%d", iid), Full: fmt.Sprintf("%s!%d", p.path, iid),
		},
		TimeStats: map[string]any{"time_estimate": 0, "total_time_spent": 0},
	}
	f.apply(mr, in, now)
	p.mrs = append(p.mrs, mr)
	writeGitLabJSON(w, http.StatusCreated, mr)
}

func (f *FakeGitLab) updateMergeRequest(w http.ResponseWriter, body []byte, p *fakeProject, mr *GitLabMergeRequest) {
	var in mrParams
	if err := json.Unmarshal(body, &in); err != nil {
		writeGitLabJSON(w, http.StatusBadRequest, map[string]string{"error": "400 Bad request - " + err.Error()})
		return
	}
	if in == (mrParams{}) {
		writeGitLabJSON(w, http.StatusBadRequest, map[string]string{
			"error": "assignee_id, assignee_ids, reviewer_ids, description, state_event, target_branch, title, " +
				"labels, add_labels, remove_labels, remove_source_branch, squash, discussion_locked, " +
				"allow_collaboration, allow_maintainer_to_push, milestone_id are missing, at least one parameter must be provided",
		})
		return
	}
	if in.StateEvent != nil && *in.StateEvent != "close" && *in.StateEvent != "reopen" {
		writeGitLabJSON(w, http.StatusBadRequest, map[string]string{"error": "state_event does not have a valid value"})
		return
	}
	f.apply(mr, in, time.Now().UTC())
	writeGitLabJSON(w, http.StatusOK, mr)
}

// apply sets on mr the fields present in in; f.mu is held.
func (f *FakeGitLab) apply(mr *GitLabMergeRequest, in mrParams, now time.Time) {
	if in.Title != nil {
		mr.Title = *in.Title
		mr.Draft = strings.HasPrefix(strings.ToLower(mr.Title), "draft:")
		mr.WorkInProgress = mr.Draft
	}
	if in.Description != nil {
		mr.Description = *in.Description
	}
	if in.TargetBranch != nil && *in.TargetBranch != "" {
		mr.TargetBranch = *in.TargetBranch
	}
	if in.Labels != nil {
		mr.Labels = slices.Clone([]string(*in.Labels))
	}
	if in.AddLabels != nil {
		for _, l := range *in.AddLabels {
			if !slices.Contains(mr.Labels, l) {
				mr.Labels = append(mr.Labels, l)
			}
		}
	}
	if in.RemoveLabels != nil {
		mr.Labels = slices.DeleteFunc(mr.Labels, func(l string) bool { return slices.Contains(*in.RemoveLabels, l) })
	}
	if mr.Labels == nil {
		mr.Labels = []string{}
	}
	slices.Sort(mr.Labels) // GitLab returns labels ordered by title
	if in.ReviewerIDs != nil {
		// The list replaces the reviewers; ids of no user, and 0, which
		// means "none", are dropped, as GitLab does.
		mr.Reviewers = []GitLabUser{}
		for _, id := range *in.ReviewerIDs {
			for _, u := range f.users {
				if u.ID == id && !slices.ContainsFunc(mr.Reviewers, func(r GitLabUser) bool { return r.ID == id }) {
					mr.Reviewers = append(mr.Reviewers, *u)
				}
			}
		}
	}
	if in.RemoveSourceBranch != nil {
		mr.ForceRemoveSourceBranch = *in.RemoveSourceBranch
		mr.ShouldRemoveSourceBranch = *in.RemoveSourceBranch
	}
	if in.StateEvent != nil {
		switch *in.StateEvent {
		case "close":
			mr.State, mr.ClosedAt = "closed", &now
		case "reopen":
			mr.State, mr.ClosedAt = "opened", nil
		}
	}
	mr.UpdatedAt = now
}

// approvals renders GitLab's "single merge request approval" answer.
func approvals(mr *GitLabMergeRequest) map[string]any {
	by := []map[string]any{}
	for i, name := range mr.ApprovedBy {
		by = append(by, map[string]any{"user": map[string]any{"id": 1000 + i, "username": name, "name": name, "state": "active"}})
	}
	return map[string]any{
		"id": mr.ID, "iid": mr.IID, "project_id": mr.ProjectID, "title": mr.Title, "description": mr.Description,
		"state": mr.State, "created_at": mr.CreatedAt, "updated_at": mr.UpdatedAt, "merge_status": mr.MergeStatus,
		"approved":           len(mr.ApprovedBy) >= mr.ApprovalsRequired,
		"approvals_required": mr.ApprovalsRequired,
		"approvals_left":     max(mr.ApprovalsRequired-len(mr.ApprovedBy), 0),
		"approved_by":        by,
	}
}

// writeGitLabError writes GitLab's usual error body, {"message": "404 Project Not Found"}.
func writeGitLabError(w http.ResponseWriter, status int, message string) {
	writeGitLabJSON(w, status, map[string]string{"message": message})
}

func writeGitLabJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
