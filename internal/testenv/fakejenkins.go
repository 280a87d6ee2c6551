package testenv

// This file is a stand-in for Jenkins' remote access API
// (https://www.jenkins.io/doc/book/using/remote-access-api/), for tests only.
// Jenkins cannot run here, so the few endpoints stepper uses answer the way
// Jenkins 2 does: the same /job/a/job/b paths, HTTP basic auth with an API
// token, a crumb issuer whose crumbs hold only in the session that got them,
// 201 Created with a queue item's Location, queue items and builds in
// Jenkins' JSON (empty {} actions included), and the console through
// logText/progressiveText with X-Text-Size and X-More-Data. It ignores
// tree= and answers with every field it has.

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"maps"
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

// FakeJenkins is a stand-in for a Jenkins on 127.0.0.1 with the crumb
// issuer on. It knows no job yet; add them with AddJob.
type FakeJenkins struct {
	// URL is Jenkins' root, "http://127.0.0.1:port", without a trailing
	// slash.
	URL string
	// User and Token are the only credentials it accepts.
	User, Token string

	srv     *httptest.Server
	ctx     context.Context // ends with the test; builds run in it
	stop    context.CancelFunc
	running sync.WaitGroup // queue waits and builds
	cookie  string         // the session cookie's name, "JSESSIONID.<hex>"

	mu         sync.Mutex
	jobs       map[string]*fakeJenkinsJob // by full name, "a/b"
	queue      []*fakeQueueItem           // queue item id i is queue[i-1]
	sessions   map[string]string          // session id → its crumb
	startAs    string
	replayNext bool
	nextCauses []map[string]any
	requests   []FakeJenkinsRequest
	failures   []FakeJenkinsFailure
}

// FakeJob says how the builds of a job behave.
type FakeJob struct {
	// Run runs one build with the context of the test: b holds the
	// parameters as posted, the number, URL and causes; what Run writes to
	// log is the console, between Jenkins' "Started by" and "Finished:"
	// lines. It returns the result, "SUCCESS", "UNSTABLE", "FAILURE",
	// "ABORTED" or "NOT_BUILT"; "" means SUCCESS. It runs in its own
	// goroutine once the queue wait is over. Nil runs a build that writes
	// nothing and succeeds.
	Run func(ctx context.Context, b *FakeBuild, log io.Writer) string
	// QueueWait is how long a queue item waits before its build starts,
	// "Waiting for next available executor".
	QueueWait time.Duration
	// Cancel cancels the queue item once QueueWait has passed, instead of
	// starting the build.
	Cancel bool
}

// FakeBuild is one build of a fake job.
type FakeBuild struct {
	Job    string // full name, "a/b"
	Number int
	URL    string // "http://127.0.0.1:port/job/a/job/b/7/"
	Params map[string]string
	// Causes are the causes in Jenkins' JSON, {"_class": ...,
	// "shortDescription": ..., "userId": ...}.
	Causes      []map[string]any
	Description string
	// Result and Log are the result ("" while the build runs) and the
	// whole console; they are filled in snapshots from Builds, not in the
	// build Run gets.
	Result string
	Log    string
}

// FakeJenkinsRequest is one request the stand-in received, recorded before
// it is answered, refused ones included.
type FakeJenkinsRequest struct {
	Method string
	// Path is the path as sent, still escaped: "/job/a/job/b%20c/buildWithParameters".
	Path  string
	Query url.Values
	Form  url.Values // the POST form, crumb field included if sent there
	// Crumb is the crumb sent, as a header or form field; Session is the
	// session cookie's value. Both are empty when not sent.
	Crumb, Session string
	// Authenticated tells whether the request carried User and Token.
	Authenticated bool
}

// FakeJenkinsFailure makes the stand-in answer requests with an error status
// before looking at them, the way a Jenkins restarting, or the proxy in
// front of it, does.
type FakeJenkinsFailure struct {
	Status int // such as 500 or 503
	// Times is how many matching requests in a row get it; 0 means 1.
	Times int
	// PathSuffix limits the failure to requests whose escaped path ends so,
	// "/buildWithParameters"; empty matches every request.
	PathSuffix string
}

type fakeJenkinsJob struct {
	spec   FakeJob
	builds []*fakeJenkinsBuild
}

type fakeJenkinsBuild struct {
	FakeBuild
	queueID  int
	started  time.Time
	building bool
	log      []byte
}

type fakeQueueItem struct {
	id        int
	job       string
	params    map[string]string
	causes    []map[string]any
	since     time.Time
	cancelled bool
	build     *fakeJenkinsBuild // set once the build starts
}

// Jenkins' class names, as its JSON gives them in _class.
const (
	fakeWorkflowJob = "org.jenkinsci.plugins.workflow.job.WorkflowJob"
	fakeWorkflowRun = "org.jenkinsci.plugins.workflow.job.WorkflowRun"
	fakeCrumbField  = "Jenkins-Crumb"
)

// StartFakeJenkins starts the stand-in on 127.0.0.1 with a user "stepper-bot"
// and a random API token. Builds start as user "alice" until StartAs says
// otherwise. It stops when the test ends, and so do the builds still running.
func StartFakeJenkins(t testing.TB) *FakeJenkins {
	t.Helper()
	f := NewFakeJenkins()
	t.Cleanup(f.Close)
	return f
}

// NewFakeJenkins is StartFakeJenkins for a program (the demo): Close stops
// it and the builds still running.
func NewFakeJenkins() *FakeJenkins {
	ctx, stop := context.WithCancel(context.Background())
	f := &FakeJenkins{
		User: "stepper-bot", Token: "11" + randomHex(16), // Jenkins' API tokens are 34 hex digits
		ctx: ctx, stop: stop, cookie: "JSESSIONID." + randomHex(4),
		jobs: map[string]*fakeJenkinsJob{}, sessions: map[string]string{}, startAs: "alice",
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	f.URL = f.srv.URL
	return f
}

// Close stops the stand-in and waits for the builds still running.
func (f *FakeJenkins) Close() {
	f.stop()
	f.srv.Close()
	f.running.Wait()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails
	return hex.EncodeToString(b)
}

// AddJob creates the job name ("folder/job" for a job in a folder) whose
// builds behave as job says.
func (f *FakeJenkins) AddJob(name string, job FakeJob) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.jobs[name] = &fakeJenkinsJob{spec: job}
}

// StartAs makes user the userId of the UserIdCause of the builds triggered
// from now on.
func (f *FakeJenkins) StartAs(user string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.startAs = user
}

// ReplayNext makes the next triggered build a replay of the job's latest
// build by the StartAs user, with the causes Jenkins gives a replay: that
// user's UserIdCause and a ReplayCause.
func (f *FakeJenkins) ReplayNext() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.replayNext = true
}

// NextCauses makes causes, in Jenkins' JSON, the only causes of the next
// triggered build, for builds no user started:
//
//	f.NextCauses(map[string]any{"_class": "hudson.triggers.TimerTrigger$TimerTriggerCause", "shortDescription": "Started by timer"})
func (f *FakeJenkins) NextCauses(causes ...map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextCauses = causes
}

// Fail queues a failure for the next matching requests; failures queued
// earlier come first.
func (f *FakeJenkins) Fail(failure FakeJenkinsFailure) {
	f.mu.Lock()
	defer f.mu.Unlock()
	failure.Times = max(failure.Times, 1)
	f.failures = append(f.failures, failure)
}

// Builds returns a snapshot of job's builds, oldest first.
func (f *FakeJenkins) Builds(job string) []FakeBuild {
	f.mu.Lock()
	defer f.mu.Unlock()
	j := f.jobs[job]
	if j == nil {
		return nil
	}
	out := make([]FakeBuild, 0, len(j.builds))
	for _, b := range j.builds {
		s := b.snapshot()
		s.Result, s.Log = b.Result, string(b.log)
		out = append(out, s)
	}
	return out
}

// Requests returns the requests received so far, oldest first.
func (f *FakeJenkins) Requests() []FakeJenkinsRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

// snapshot copies the build's fields so that no map or slice is shared.
func (b *fakeJenkinsBuild) snapshot() FakeBuild {
	s := b.FakeBuild
	s.Params = maps.Clone(b.Params)
	s.Causes = cloneCauses(b.Causes)
	return s
}

func cloneCauses(causes []map[string]any) []map[string]any {
	out := make([]map[string]any, len(causes))
	for i, c := range causes {
		out[i] = maps.Clone(c)
	}
	return out
}

// jenkinsJobPath is "/job/a/job/b" for "a/b".
func jenkinsJobPath(job string) string {
	var b strings.Builder
	for seg := range strings.SplitSeq(job, "/") {
		b.WriteString("/job/" + url.PathEscape(seg))
	}
	return b.String()
}

func (f *FakeJenkins) serve(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	_ = r.ParseForm()
	user, pass, sentAuth := r.BasicAuth()
	authenticated := sentAuth && user == f.User && pass == f.Token
	session := ""
	if ck, err := r.Cookie(f.cookie); err == nil {
		session = ck.Value
	}
	crumb := cmp.Or(r.Header.Get(fakeCrumbField), r.PostForm.Get(fakeCrumbField))
	w.Header().Set("X-Jenkins", "2.492.3")

	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, FakeJenkinsRequest{
		Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.Query(), Form: r.PostForm,
		Crumb: crumb, Session: session, Authenticated: authenticated,
	})
	if f.fail(w, r) {
		return
	}
	switch {
	case sentAuth && !authenticated:
		w.Header().Set("WWW-Authenticate", `Basic realm="Jenkins"`)
		writeJenkinsError(w, r, http.StatusUnauthorized, "Invalid password/token for user: "+user)
		return
	case !sentAuth:
		// Jenkins gives anonymous no permission here: 403, not 401.
		w.Header().Set("X-You-Are-Authenticated-As", "anonymous")
		writeJenkinsError(w, r, http.StatusForbidden, "Authentication required")
		return
	case r.Method == http.MethodPost && (crumb == "" || f.sessions[session] != crumb):
		writeJenkinsError(w, r, http.StatusForbidden, "No valid crumb was included in the request")
		return
	}

	path := r.URL.EscapedPath()
	switch {
	case path == "/crumbIssuer/api/json" && r.Method == http.MethodGet:
		f.issueCrumb(w, session)
	case strings.HasPrefix(path, "/queue/item/"):
		f.serveQueueItem(w, r, strings.TrimPrefix(path, "/queue/item/"))
	case strings.HasPrefix(path, "/job/"):
		f.serveJob(w, r, path)
	default:
		writeJenkinsError(w, r, http.StatusNotFound, "Not Found")
	}
}

// fail answers r with the first queued failure that matches it; f.mu is
// held.
func (f *FakeJenkins) fail(w http.ResponseWriter, r *http.Request) bool {
	for i := range f.failures {
		failure := &f.failures[i]
		if !strings.HasSuffix(r.URL.EscapedPath(), failure.PathSuffix) {
			continue
		}
		status := failure.Status
		if failure.Times--; failure.Times == 0 {
			f.failures = slices.Delete(f.failures, i, i+1)
		}
		writeJenkinsError(w, r, status, http.StatusText(status))
		return true
	}
	return false
}

// issueCrumb answers the crumb of session, opening a session when the
// request has none; f.mu is held.
func (f *FakeJenkins) issueCrumb(w http.ResponseWriter, session string) {
	if _, ok := f.sessions[session]; !ok {
		session = randomHex(16)
		f.sessions[session] = randomHex(32)
		http.SetCookie(w, &http.Cookie{Name: f.cookie, Value: session, Path: "/", HttpOnly: true})
	}
	writeJenkinsJSON(w, http.StatusOK, map[string]any{
		"_class": "hudson.security.csrf.DefaultCrumbIssuer", "crumb": f.sessions[session], "crumbRequestField": fakeCrumbField,
	})
}

// serveJob answers /job/a/job/b/...; f.mu is held.
func (f *FakeJenkins) serveJob(w http.ResponseWriter, r *http.Request, path string) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	var names []string
	for len(parts) >= 2 && parts[0] == "job" {
		name, err := url.PathUnescape(parts[1])
		if err != nil {
			writeJenkinsError(w, r, http.StatusBadRequest, "Bad Request")
			return
		}
		names, parts = append(names, name), parts[2:]
	}
	name := strings.Join(names, "/")
	job := f.jobs[name]
	if job == nil {
		writeJenkinsError(w, r, http.StatusNotFound, "Not Found")
		return
	}
	if len(parts) == 1 && parts[0] == "buildWithParameters" {
		if r.Method != http.MethodPost {
			writeJenkinsError(w, r, http.StatusMethodNotAllowed, "Method Not Allowed")
			return
		}
		f.trigger(w, name, job, r.PostForm)
		return
	}
	var b *fakeJenkinsBuild
	if len(parts) > 0 {
		if n, err := strconv.Atoi(parts[0]); err == nil && n >= 1 && n <= len(job.builds) {
			b = job.builds[n-1]
		}
	}
	if b == nil {
		writeJenkinsError(w, r, http.StatusNotFound, "Not Found")
		return
	}
	switch rest := strings.Join(parts[1:], "/"); {
	case rest == "api/json" && r.Method == http.MethodGet:
		writeJenkinsJSON(w, http.StatusOK, b.json())
	case rest == "logText/progressiveText" && r.Method == http.MethodGet:
		start, _ := strconv.Atoi(r.URL.Query().Get("start"))
		start = min(max(start, 0), len(b.log))
		w.Header().Set("Content-Type", "text/plain;charset=UTF-8")
		w.Header().Set("X-Text-Size", strconv.Itoa(len(b.log)))
		if b.building {
			w.Header().Set("X-More-Data", "true")
		}
		_, _ = w.Write(b.log[start:])
	case rest == "submitDescription" && r.Method == http.MethodPost:
		b.Description = r.PostForm.Get("description")
		w.Header().Set("Location", ".")
		w.WriteHeader(http.StatusFound)
	case rest == "" && r.Method == http.MethodGet:
		w.Header().Set("Content-Type", "text/html;charset=utf-8")
		fmt.Fprintf(w, "<html><head><title>%s #%d</title></head><body>%s</body></html>",
			html.EscapeString(b.Job), b.Number, html.EscapeString(b.Description))
	default:
		writeJenkinsError(w, r, http.StatusNotFound, "Not Found")
	}
}

// trigger queues a build of job with the posted form as its parameters;
// f.mu is held.
func (f *FakeJenkins) trigger(w http.ResponseWriter, name string, job *fakeJenkinsJob, form url.Values) {
	params := map[string]string{}
	for k, v := range form {
		if k != fakeCrumbField {
			params[k] = v[0]
		}
	}
	item := &fakeQueueItem{id: len(f.queue) + 1, job: name, params: params, causes: f.takeCauses(job), since: time.Now()}
	f.queue = append(f.queue, item)
	f.running.Add(1)
	go f.run(item, job.spec)
	w.Header().Set("Location", fmt.Sprintf("%s/queue/item/%d/", f.URL, item.id))
	w.WriteHeader(http.StatusCreated)
}

// takeCauses returns the causes of the next build of job and forgets the
// one-build settings; f.mu is held.
func (f *FakeJenkins) takeCauses(job *fakeJenkinsJob) []map[string]any {
	defer func() { f.nextCauses, f.replayNext = nil, false }()
	if f.nextCauses != nil {
		return cloneCauses(f.nextCauses)
	}
	causes := []map[string]any{{
		"_class": "hudson.model.Cause$UserIdCause", "shortDescription": "Started by user " + displayName(f.startAs),
		"userId": f.startAs, "userName": displayName(f.startAs),
	}}
	if f.replayNext {
		causes = append(causes, map[string]any{
			"_class":           "org.jenkinsci.plugins.workflow.cps.replay.ReplayCause",
			"shortDescription": fmt.Sprintf("Replayed #%d", max(len(job.builds), 1)),
		})
	}
	return causes
}

// displayName is the full name Jenkins shows for a user id: "alice" is Alice.
func displayName(id string) string {
	if id == "" {
		return id
	}
	return strings.ToUpper(id[:1]) + id[1:]
}

// run waits out the queue item's wait, then cancels it or runs its build.
func (f *FakeJenkins) run(item *fakeQueueItem, spec FakeJob) {
	defer f.running.Done()
	t := time.NewTimer(spec.QueueWait)
	defer t.Stop()
	select {
	case <-f.ctx.Done():
		return
	case <-t.C:
	}

	f.mu.Lock()
	if spec.Cancel {
		item.cancelled = true
		f.mu.Unlock()
		return
	}
	job := f.jobs[item.job]
	n := len(job.builds) + 1
	b := &fakeJenkinsBuild{
		FakeBuild: FakeBuild{
			Job: item.job, Number: n, URL: fmt.Sprintf("%s%s/%d/", f.URL, jenkinsJobPath(item.job), n),
			Params: item.params, Causes: item.causes,
		},
		queueID: item.id, started: time.Now(), building: true,
	}
	for _, c := range b.Causes {
		if d, ok := c["shortDescription"].(string); ok {
			b.log = append(b.log, d+"\n"...)
		}
	}
	job.builds = append(job.builds, b)
	item.build = b
	view := b.snapshot()
	f.mu.Unlock()

	result := "SUCCESS"
	if spec.Run != nil {
		result = cmp.Or(spec.Run(f.ctx, &view, fakeJenkinsLog{f, b}), "SUCCESS")
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	b.log = append(b.log, "Finished: "+result+"\n"...)
	b.Result, b.building = result, false
}

// fakeJenkinsLog is the console a build's Run writes to.
type fakeJenkinsLog struct {
	f *FakeJenkins
	b *fakeJenkinsBuild
}

func (l fakeJenkinsLog) Write(p []byte) (int, error) {
	l.f.mu.Lock()
	defer l.f.mu.Unlock()
	l.b.log = append(l.b.log, p...)
	return len(p), nil
}

// serveQueueItem answers /queue/item/<id>/api/json; f.mu is held.
func (f *FakeJenkins) serveQueueItem(w http.ResponseWriter, r *http.Request, rest string) {
	idText, sub, _ := strings.Cut(rest, "/")
	id, err := strconv.Atoi(idText)
	if err != nil || id < 1 || id > len(f.queue) || sub != "api/json" || r.Method != http.MethodGet {
		writeJenkinsError(w, r, http.StatusNotFound, "Not Found")
		return
	}
	item := f.queue[id-1]
	v := map[string]any{
		"_class":       "hudson.model.Queue$WaitingItem",
		"actions":      append(parametersAction(item.params), causeAction(item.causes)),
		"blocked":      false,
		"buildable":    false,
		"id":           item.id,
		"inQueueSince": item.since.UnixMilli(),
		"params":       paramsText(item.params),
		"stuck":        false,
		"task": map[string]any{
			"_class": fakeWorkflowJob, "name": item.job[strings.LastIndex(item.job, "/")+1:],
			"url": f.URL + jenkinsJobPath(item.job) + "/", "color": "notbuilt",
		},
		"url":       fmt.Sprintf("queue/item/%d/", item.id),
		"why":       "Waiting for next available executor",
		"cancelled": false,
	}
	switch {
	case item.cancelled:
		v["_class"], v["why"], v["cancelled"], v["executable"] = "hudson.model.Queue$LeftItem", nil, true, nil
	case item.build != nil:
		v["_class"], v["why"] = "hudson.model.Queue$LeftItem", nil
		v["executable"] = map[string]any{"_class": fakeWorkflowRun, "number": item.build.Number, "url": item.build.URL}
	}
	writeJenkinsJSON(w, http.StatusOK, v)
}

// json renders the build as Jenkins' api/json does, without tree=.
func (b *fakeJenkinsBuild) json() map[string]any {
	var result, description any
	if !b.building {
		result = b.Result
	}
	if b.Description != "" {
		description = b.Description
	}
	actions := parametersAction(b.Params)
	// Jenkins lists every action, those with nothing to export as {}.
	actions = append(actions, causeAction(b.Causes), map[string]any{}, map[string]any{
		"_class": "org.jenkinsci.plugins.workflow.libs.LibrariesAction",
	}, map[string]any{})
	duration := int64(0)
	if !b.building {
		duration = time.Since(b.started).Milliseconds()
	}
	return map[string]any{
		"_class": fakeWorkflowRun, "actions": actions, "artifacts": []any{},
		"building": b.building, "description": description, "displayName": fmt.Sprintf("#%d", b.Number),
		"duration": duration, "estimatedDuration": -1, "fullDisplayName": fmt.Sprintf("%s #%d", strings.ReplaceAll(b.Job, "/", " » "), b.Number),
		"id": strconv.Itoa(b.Number), "keepLog": false, "number": b.Number, "queueId": b.queueID,
		"result": result, "timestamp": b.started.UnixMilli(), "url": b.URL,
		"changeSets": []any{}, "culprits": []any{}, "inProgress": b.building,
	}
}

// parametersAction is Jenkins' ParametersAction for params, none when the
// build has no parameters.
func parametersAction(params map[string]string) []any {
	if len(params) == 0 {
		return []any{}
	}
	var ps []any
	for _, name := range slices.Sorted(maps.Keys(params)) {
		ps = append(ps, map[string]any{"_class": "hudson.model.StringParameterValue", "name": name, "value": params[name]})
	}
	return []any{map[string]any{"_class": "hudson.model.ParametersAction", "parameters": ps}}
}

func causeAction(causes []map[string]any) map[string]any {
	return map[string]any{"_class": "hudson.model.CauseAction", "causes": causes}
}

// paramsText is a queue item's "params": "\nNAME=value" per parameter.
func paramsText(params map[string]string) string {
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(params)) {
		b.WriteString("\n" + name + "=" + params[name])
	}
	return b.String()
}

func writeJenkinsJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeJenkinsError writes the error page Jenkins' Jetty writes.
func writeJenkinsError(w http.ResponseWriter, r *http.Request, status int, message string) {
	w.Header().Set("Content-Type", "text/html;charset=iso-8859-1")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<html>
<head>
<meta http-equiv="Content-Type" content="text/html;charset=ISO-8859-1"/>
<title>Error %d %s</title>
</head>
<body>
<h2>HTTP ERROR %d %s</h2>
<table>
<tr><th>URI:</th><td>%s</td></tr>
<tr><th>STATUS:</th><td>%d</td></tr>
<tr><th>MESSAGE:</th><td>%s</td></tr>
<tr><th>SERVLET:</th><td>Stapler</td></tr>
</table>
</body>
</html>
`, status, html.EscapeString(message), status, html.EscapeString(message), html.EscapeString(r.URL.Path), status, html.EscapeString(message))
}
