package jenkins

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/logging"
	"github.com/stepper-cd/stepper/internal/testenv"
)

const job = "platform/promote-prod"

func newClient(t *testing.T, rawURL, user, token string) *Client {
	t.Helper()
	c, err := New(Options{URL: rawURL, User: user, Token: token, PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// console writes n numbered lines, each a moment after the last, so that
// Follow reads the console in several pieces.
func console(n int) func(context.Context, *testenv.FakeBuild, io.Writer) {
	return func(ctx context.Context, b *testenv.FakeBuild, log io.Writer) {
		for i := 1; i <= n; i++ {
			fmt.Fprintf(log, "[%s] step %d of %d\n", b.Params["APP"], i, n)
			time.Sleep(2 * time.Millisecond)
		}
	}
}

func wantConsole(n int, result string) string {
	var b strings.Builder
	b.WriteString("Started by user Alice\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "[api] step %d of %d\n", i, n)
	}
	return b.String() + "Finished: " + result + "\n"
}

// A promotion as the step runs it: trigger, wait in the queue, follow the
// whole console in order, judge the result, describe the build.
func TestTriggerWaitFollowSucceeds(t *testing.T) {
	f := testenv.StartFakeJenkins(t)
	run := console(40)
	f.AddJob(job, testenv.FakeJob{QueueWait: 50 * time.Millisecond, Run: func(ctx context.Context, b *testenv.FakeBuild, log io.Writer) string {
		run(ctx, b, log)
		return "SUCCESS"
	}})
	c := newClient(t, f.URL+"/", f.User, f.Token)
	var logs bytes.Buffer // zerolog writes from the caller's goroutine
	ctx := logging.WithContext(t.Context(), zerolog.New(&logs).Level(zerolog.DebugLevel))

	queue, err := c.Trigger(ctx, job, map[string]string{"APP": "api", "VERSION": "1.4.0"})
	if err != nil || queue != f.URL+"/queue/item/1/" {
		t.Fatalf("Trigger = %q, %v", queue, err)
	}
	started, err := c.WaitStart(ctx, queue)
	buildURL := f.URL + "/job/platform/job/promote-prod/1/"
	if err != nil || started.Number != 1 || started.URL != buildURL {
		t.Fatalf("WaitStart = %+v, %v", started, err)
	}
	var out bytes.Buffer
	b, err := c.Follow(ctx, started.URL, &out)
	if err != nil {
		t.Fatal(err)
	}
	if out.String() != wantConsole(40, "SUCCESS") {
		t.Errorf("console:\n%s\nwant:\n%s", out.String(), wantConsole(40, "SUCCESS"))
	}
	if b.Building || b.Result != "SUCCESS" || b.Number != 1 || b.URL != buildURL ||
		b.Parameters["APP"] != "api" || b.Parameters["VERSION"] != "1.4.0" ||
		len(b.Causes) != 1 || b.Causes[0].UserID != "alice" || b.Causes[0].Class != userIDCause {
		t.Errorf("Follow = %+v", b)
	}
	if err := ResultError(job, b); err != nil {
		t.Errorf("ResultError(SUCCESS) = %v", err)
	}
	if err := c.SetDescription(ctx, b.URL, "api 1.4.0 → prod"); err != nil {
		t.Fatal(err)
	}
	if got := f.Builds(job); len(got) != 1 || got[0].Description != "api 1.4.0 → prod" || got[0].Params["VERSION"] != "1.4.0" {
		t.Errorf("Builds = %+v", got)
	}
	if b, err := c.GetBuild(ctx, buildURL); err != nil || b.Description != "api 1.4.0 → prod" {
		t.Errorf("GetBuild after SetDescription = %+v, %v", b, err)
	}
	if !strings.Contains(logs.String(), "Waiting for next available executor") {
		t.Errorf("the queue's reason was not logged at debug:\n%s", logs.String())
	}

	// One crumb, asked for once, went with both POSTs, each in the session
	// the crumb came from; the token went in no URL or form, nor in a log.
	crumbs, posts, reads := 0, 0, []string{}
	for _, r := range f.Requests() {
		if !r.Authenticated {
			t.Errorf("%s %s went without credentials", r.Method, r.Path)
		}
		if strings.Contains(fmt.Sprint(r.Path, r.Query, r.Form), f.Token) {
			t.Errorf("%s %s carries the token in its URL or form", r.Method, r.Path)
		}
		switch {
		case strings.HasSuffix(r.Path, "/logText/progressiveText"):
			reads = append(reads, r.Query.Get("start"))
		case r.Path == "/crumbIssuer/api/json":
			crumbs++
		case r.Method == http.MethodPost:
			posts++
			if r.Crumb == "" || r.Session == "" {
				t.Errorf("POST %s: crumb %q, session %q", r.Path, r.Crumb, r.Session)
			}
		}
	}
	if len(reads) < 3 || reads[0] != "0" || !slices.IsSortedFunc(reads, func(a, b string) int {
		x, _ := strconv.Atoi(a)
		y, _ := strconv.Atoi(b)
		return x - y
	}) {
		t.Errorf("console read from %v; want it read in pieces, from 0 onwards", reads)
	}
	if crumbs != 1 || posts != 2 {
		t.Errorf("%d crumb requests and %d POSTs, want 1 and 2", crumbs, posts)
	}
	if strings.Contains(logs.String(), f.Token) {
		t.Error("the token is in the log")
	}
}

// Builds that do not succeed become failures naming the job, the build and
// what happened.
func TestBuildsThatDoNotSucceedFail(t *testing.T) {
	for _, result := range []string{"FAILURE", "UNSTABLE", "ABORTED", "NOT_BUILT"} {
		t.Run(result, func(t *testing.T) {
			f := testenv.StartFakeJenkins(t)
			run := console(3)
			f.AddJob(job, testenv.FakeJob{Run: func(ctx context.Context, b *testenv.FakeBuild, log io.Writer) string {
				run(ctx, b, log)
				return result
			}})
			c := newClient(t, f.URL, f.User, f.Token)
			queue, err := c.Trigger(t.Context(), job, map[string]string{"APP": "api"})
			if err != nil {
				t.Fatal(err)
			}
			started, err := c.WaitStart(t.Context(), queue)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			b, err := c.Follow(t.Context(), started.URL, &out)
			if err != nil || b.Result != result || out.String() != wantConsole(3, result) {
				t.Fatalf("Follow = %+v, %v; console %q", b, err, out.String())
			}
			err = ResultError(job, b)
			want := result
			if result == "ABORTED" {
				want = "aborted"
			}
			if exit.ClassOf(err) != exit.Failed || !strings.Contains(err.Error(), job) ||
				!strings.Contains(err.Error(), b.URL) || !strings.Contains(err.Error(), want) {
				t.Errorf("ResultError = %v (class %v)", err, exit.ClassOf(err))
			}
		})
	}
}

func TestCancelledQueueItem(t *testing.T) {
	f := testenv.StartFakeJenkins(t)
	f.AddJob(job, testenv.FakeJob{QueueWait: 20 * time.Millisecond, Cancel: true})
	c := newClient(t, f.URL, f.User, f.Token)
	queue, err := c.Trigger(t.Context(), job, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.WaitStart(t.Context(), queue)
	if !errors.Is(err, ErrCancelled) || exit.ClassOf(err) != exit.Failed || b != nil {
		t.Errorf("WaitStart = %+v, %v (class %v), want ErrCancelled, failed", b, err, exit.ClassOf(err))
	}
}

// Credentials Jenkins refuses are a usage error that names the settings to
// fix and never the token.
func TestRefusedCredentials(t *testing.T) {
	f := testenv.StartFakeJenkins(t)
	f.AddJob(job, testenv.FakeJob{})
	const wrong = "11aaaabbbbccccddddeeeeffff00001111"
	for _, tt := range []struct {
		name, user, token, want string
	}{
		{"wrong token", f.User, wrong, "HTTP 401"},
		{"anonymous", "", "", "authenticated as anonymous"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, f.URL, tt.user, tt.token)
			_, err := c.Trigger(t.Context(), job, map[string]string{"APP": "api"})
			if exit.ClassOf(err) != exit.Usage || !strings.Contains(err.Error(), tt.want) ||
				!strings.Contains(err.Error(), "jenkins.user") || !strings.Contains(err.Error(), "jenkins.token") {
				t.Errorf("Trigger = %v (class %v)", err, exit.ClassOf(err))
			}
			if strings.Contains(err.Error(), wrong) || strings.Contains(err.Error(), f.Token) {
				t.Errorf("the error shows a token: %v", err)
			}
			if _, err := c.GetBuild(t.Context(), f.URL+"/job/x/1/"); err == nil || strings.Contains(err.Error(), wrong) {
				t.Errorf("GetBuild = %v", err)
			}
		})
	}
	if n := len(f.Builds(job)); n != 0 {
		t.Errorf("%d builds started with refused credentials", n)
	}
}

func TestUnknownJob(t *testing.T) {
	f := testenv.StartFakeJenkins(t)
	c := newClient(t, f.URL, f.User, f.Token)
	_, err := c.Trigger(t.Context(), "platform/nope", nil)
	if exit.ClassOf(err) != exit.Usage || !strings.Contains(err.Error(), `job "platform/nope" does not exist`) ||
		!strings.Contains(err.Error(), "HTTP 404") {
		t.Errorf("Trigger(unknown job) = %v (class %v)", err, exit.ClassOf(err))
	}
	_, err = c.GetBuild(t.Context(), f.URL+"/job/platform/job/nope/1/")
	if exit.ClassOf(err) != exit.Usage || !strings.Contains(err.Error(), "the build does not exist") {
		t.Errorf("GetBuild(unknown job) = %v (class %v)", err, exit.ClassOf(err))
	}
	if _, err := c.Trigger(t.Context(), "", nil); exit.ClassOf(err) != exit.Usage {
		t.Errorf("Trigger(\"\") = %v", err)
	}
}

func TestStartedBy(t *testing.T) {
	f := testenv.StartFakeJenkins(t)
	f.AddJob(job, testenv.FakeJob{})
	c := newClient(t, f.URL, f.User, f.Token)
	build := func() string {
		t.Helper()
		queue, err := c.Trigger(t.Context(), job, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, err := c.WaitStart(t.Context(), queue)
		if err != nil {
			t.Fatal(err)
		}
		return b.URL
	}

	if user, err := c.StartedBy(t.Context(), build()); user != "alice" || err != nil {
		t.Errorf("StartedBy(normal build) = %q, %v", user, err)
	}
	f.StartAs("bob")
	f.ReplayNext()
	if user, err := c.StartedBy(t.Context(), build()); user != "bob" || err != nil {
		t.Errorf("StartedBy(replay by bob) = %q, %v", user, err)
	}
	f.NextCauses(map[string]any{"_class": "hudson.triggers.TimerTrigger$TimerTriggerCause", "shortDescription": "Started by timer"})
	user, err := c.StartedBy(t.Context(), build())
	if user != "" || exit.ClassOf(err) != exit.Failed || !strings.Contains(err.Error(), "Started by timer") {
		t.Errorf("StartedBy(timer) = %q, %v (class %v)", user, err, exit.ClassOf(err))
	}
	f.NextCauses(
		map[string]any{"_class": userIDCause, "shortDescription": "Started by user Alice", "userId": "alice"},
		map[string]any{"_class": userIDCause, "shortDescription": "Started by user Bob", "userId": "bob"},
	)
	user, err = c.StartedBy(t.Context(), build())
	if user != "" || exit.ClassOf(err) != exit.Failed || !strings.Contains(err.Error(), "alice, bob") {
		t.Errorf("StartedBy(two users) = %q, %v (class %v)", user, err, exit.ClassOf(err))
	}
}

// Builds as real Jenkins plugins shape them: a rebuild has its own
// CauseAction beside the user's, an upstream-triggered build names no user,
// and parameters come as strings, booleans and hidden passwords.
func TestCausesAsPluginsWriteThem(t *testing.T) {
	builds := map[string]string{
		"/job/x/3/api/json": `{"_class":"hudson.model.FreeStyleBuild","actions":[
			{"_class":"hudson.model.ParametersAction","parameters":[
				{"_class":"hudson.model.StringParameterValue","name":"APP","value":"api"},
				{"_class":"hudson.model.BooleanParameterValue","name":"DRY_RUN","value":true},
				{"_class":"hudson.model.PasswordParameterValue","name":"SECRET"}]},
			{"_class":"hudson.model.CauseAction","causes":[{"_class":"hudson.model.Cause$UserIdCause","shortDescription":"Started by user Carol","userId":"carol","userName":"Carol"}]},
			{"_class":"hudson.model.CauseAction","causes":[{"_class":"com.sonyericsson.rebuild.RebuildCause","shortDescription":"Rebuilds build #2","upstreamBuild":2,"upstreamProject":"x","upstreamUrl":"job/x/"}]},
			{},{}],"building":false,"description":null,"number":3,"result":"SUCCESS","url":"JENKINS/job/x/3/"}`,
		"/job/y/9/api/json": `{"_class":"hudson.model.FreeStyleBuild","actions":[
			{"_class":"hudson.model.CauseAction","causes":[{"_class":"hudson.model.Cause$UpstreamCause","shortDescription":"Started by upstream project \"x\" build number 3","upstreamBuild":3,"upstreamProject":"x","upstreamUrl":"job/x/"}]},
			{}],"building":false,"description":null,"number":9,"result":"SUCCESS","url":"JENKINS/job/y/9/"}`,
	}
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := builds[r.URL.Path]
		if !ok || !strings.Contains(r.URL.Query().Get("tree"), "causes[") {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, strings.ReplaceAll(body, "JENKINS", srv.URL))
	}))
	defer srv.Close()
	c := newClient(t, srv.URL, "", "")

	b, err := c.GetBuild(t.Context(), srv.URL+"/job/x/3/")
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Causes) != 2 || b.Causes[1].UpstreamProject != "x" || b.Causes[1].UpstreamBuild != 2 || b.Causes[1].UpstreamURL != "job/x/" ||
		b.Description != "" || fmt.Sprint(b.Parameters) != "map[APP:api DRY_RUN:true]" {
		t.Errorf("GetBuild(rebuild) = %+v", b)
	}
	if user, err := c.StartedBy(t.Context(), srv.URL+"/job/x/3"); user != "carol" || err != nil {
		t.Errorf("StartedBy(rebuild by carol) = %q, %v", user, err)
	}
	user, err := c.StartedBy(t.Context(), "job/y/9/") // relative to jenkins.url
	if user != "" || exit.ClassOf(err) != exit.Failed || !strings.Contains(err.Error(), `Started by upstream project "x" build number 3`) {
		t.Errorf("StartedBy(upstream) = %q, %v", user, err)
	}
}

// A path prefix in jenkins.url is kept, and the queue item and build URLs
// Jenkins gives on its public host, here another address, are used as
// given.
func TestPathPrefixAndPublicURLs(t *testing.T) {
	f := testenv.StartFakeJenkins(t)
	f.AddJob(job, testenv.FakeJob{Run: func(context.Context, *testenv.FakeBuild, io.Writer) string { return "" }})
	target, _ := url.Parse(f.URL)
	var mu sync.Mutex
	var seen []string
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.EscapedPath())
		mu.Unlock()
		http.StripPrefix("/ci", proxy).ServeHTTP(w, r)
	}))
	defer front.Close()

	c := newClient(t, front.URL+"/ci/", f.User, f.Token)
	queue, err := c.Trigger(t.Context(), job, map[string]string{"APP": "api"})
	if err != nil || !strings.HasPrefix(queue, f.URL+"/queue/item/") {
		t.Fatalf("Trigger = %q, %v", queue, err)
	}
	started, err := c.WaitStart(t.Context(), queue)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Follow(t.Context(), started.URL, io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := c.SetDescription(t.Context(), started.URL, "on the public host"); err != nil {
		t.Errorf("SetDescription on the public host with the crumb from the front: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"GET /ci/crumbIssuer/api/json", "POST /ci/job/platform/job/promote-prod/buildWithParameters"}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Errorf("requests through the prefix: %q, want %q", seen, want)
	}
}

// Reads are tried again while Jenkins answers 5xx; the trigger is sent
// once whatever happens, for a second one could start a second build.
func TestRetries(t *testing.T) {
	f := testenv.StartFakeJenkins(t)
	f.AddJob(job, testenv.FakeJob{})
	c := newClient(t, f.URL, f.User, f.Token)

	f.Fail(testenv.FakeJenkinsFailure{Status: 503, PathSuffix: "/buildWithParameters"})
	_, err := c.Trigger(t.Context(), job, nil)
	if exit.ClassOf(err) != exit.Infra || !strings.Contains(err.Error(), "HTTP 503") || !strings.Contains(err.Error(), "may have been queued") {
		t.Errorf("Trigger on 503 = %v (class %v)", err, exit.ClassOf(err))
	}
	posts := 0
	for _, r := range f.Requests() {
		if r.Method == http.MethodPost {
			posts++
		}
	}
	if posts != 1 || len(f.Builds(job)) != 0 {
		t.Errorf("%d POSTs and %d builds after a 503, want 1 and 0", posts, len(f.Builds(job)))
	}

	queue, err := c.Trigger(t.Context(), job, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.Fail(testenv.FakeJenkinsFailure{Status: 502, Times: tries - 1, PathSuffix: "/api/json"})
	if _, err := c.WaitStart(t.Context(), queue); err != nil {
		t.Errorf("WaitStart through %d answers 502 = %v", tries-1, err)
	}
	f.Fail(testenv.FakeJenkinsFailure{Status: 500, Times: tries, PathSuffix: "/api/json"})
	_, err = c.GetBuild(t.Context(), f.URL+"/job/platform/job/promote-prod/1/")
	if exit.ClassOf(err) != exit.Infra || !strings.Contains(err.Error(), "HTTP 500") {
		t.Errorf("GetBuild through %d answers 500 = %v (class %v)", tries, err, exit.ClassOf(err))
	}
}

// A crumb Jenkins no longer takes (it restarted, the session expired) is
// replaced once; the POST it was refused for did nothing, so it is sent again.
func TestStaleCrumbIsReplaced(t *testing.T) {
	f := testenv.StartFakeJenkins(t)
	f.AddJob(job, testenv.FakeJob{})
	c := newClient(t, f.URL, f.User, f.Token)
	c.crumb = &crumb{field: "Jenkins-Crumb", value: "stale"}
	if _, err := c.Trigger(t.Context(), job, nil); err != nil {
		t.Fatal(err)
	}
	var posts []string
	for _, r := range f.Requests() {
		if r.Method == http.MethodPost {
			posts = append(posts, r.Crumb)
		}
	}
	if len(posts) != 2 || posts[0] != "stale" || posts[1] == "stale" || len(f.Builds(job)) > 1 {
		t.Errorf("POSTs with crumbs %q, %d builds", posts, len(f.Builds(job)))
	}
}

func TestUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c := newClient(t, "http://"+addr+"/", "bot", "11secretsecretsecret")
	_, err = c.Trigger(t.Context(), job, nil)
	if exit.ClassOf(err) != exit.Infra || !strings.Contains(err.Error(), "unreachable") || strings.Contains(err.Error(), "11secret") {
		t.Errorf("Trigger = %v (class %v)", err, exit.ClassOf(err))
	}
}

// A Jenkins that takes the connection and never answers fails the call
// once one attempt's bound passes; a hang is not tried again.
func TestSilentJenkinsTimesOut(t *testing.T) {
	addr := testenv.StartSilentServer(t)
	c, err := New(Options{URL: "http://" + addr, User: "bot", Token: "11secretsecretsecret", HTTPClient: &http.Client{Timeout: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute) // generous: only a hang reaches it
	defer cancel()
	_, err = c.GetBuild(ctx, "http://"+addr+"/job/x/1/")
	if exit.ClassOf(err) != exit.Infra || !strings.Contains(err.Error(), "did not answer in time") || strings.Contains(err.Error(), "11secret") {
		t.Fatalf("GetBuild = %v (class %v), want an infrastructure timeout", err, exit.ClassOf(err))
	}
	if ctx.Err() != nil {
		t.Fatal("the call ran into the test's own deadline instead of the attempt bound")
	}
}

func TestJobPath(t *testing.T) {
	for in, want := range map[string]string{
		"promote":             "/job/promote",
		"folder/job":          "/job/folder/job/job",
		"a b/c#d/ü":           "/job/a%20b/job/c%23d/job/%C3%BC",
		"platform/promote-10": "/job/platform/job/promote-10",
	} {
		if got := JobPath(in); got != want {
			t.Errorf("JobPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	for _, tt := range []struct {
		name string
		o    Options
		want string
	}{
		{"no URL", Options{}, "set jenkins.url"},
		{"not http", Options{URL: "ftp://jenkins.example"}, "http or https"},
		{"no host", Options{URL: "jenkins.example"}, "http or https"},
		{"credentials in URL", Options{URL: "https://bot:11secret@jenkins.example"}, "carries credentials"},
		{"query", Options{URL: "https://jenkins.example/?x=1"}, "no query"},
		{"token without user", Options{URL: "https://jenkins.example", Token: "11secret"}, "set jenkins.user"},
		{"user without token", Options{URL: "https://jenkins.example", User: "bot"}, "set jenkins.token"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.o)
			if exit.ClassOf(err) != exit.Usage || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "11secret") {
				t.Errorf("New = %v, want a usage error with %q", err, tt.want)
			}
		})
	}
}
