package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// fakeJenkinsClient sends plain HTTP requests to a FakeJenkins and keeps
// the session cookie it was given, as a browser would.
type fakeJenkinsClient struct {
	t       *testing.T
	f       *FakeJenkins
	session *http.Cookie
}

type fakeJenkinsAnswer struct {
	code   int
	header http.Header
	body   string
}

func (c *fakeJenkinsClient) do(method, path, user, token string, form url.Values, header map[string]string) fakeJenkinsAnswer {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	target := path
	if !strings.HasPrefix(path, "http") {
		target = c.f.URL + path
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if user != "" {
		req.SetBasicAuth(user, token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	if c.session != nil {
		req.AddCookie(c.session)
	}
	noRedirects := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirects.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, ck := range resp.Cookies() {
		if strings.HasPrefix(ck.Name, "JSESSIONID.") {
			c.session = ck
		}
	}
	return fakeJenkinsAnswer{resp.StatusCode, resp.Header, string(b)}
}

func (c *fakeJenkinsClient) get(path string) fakeJenkinsAnswer {
	c.t.Helper()
	return c.do("GET", path, c.f.User, c.f.Token, nil, nil)
}

// waitFor polls path until cond holds for its JSON, and returns the JSON.
func (c *fakeJenkinsClient) waitFor(path string, cond func(map[string]any) bool) map[string]any {
	c.t.Helper()
	for {
		a := c.get(path)
		var v map[string]any
		if err := json.Unmarshal([]byte(a.body), &v); a.code != 200 || err != nil {
			c.t.Fatalf("GET %s: %d %v %s", path, a.code, err, a.body)
		}
		if cond(v) {
			return v
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestFakeJenkinsAnswersLikeJenkins walks one build through the stand-in
// with plain HTTP requests and checks the answers against what Jenkins
// sends: authentication, crumbs tied to the session, 201 with the queue
// item, the queue item's and build's JSON, the progressive console and the
// description.
func TestFakeJenkinsAnswersLikeJenkins(t *testing.T) {
	f := StartFakeJenkins(t)
	release := make(chan struct{})
	f.AddJob("platform/promote prod", FakeJob{
		QueueWait: 20 * time.Millisecond,
		Run: func(ctx context.Context, b *FakeBuild, log io.Writer) string {
			fmt.Fprintf(log, "promoting %s\n", b.Params["APP"])
			select {
			case <-release:
			case <-ctx.Done():
			}
			return "UNSTABLE"
		},
	})
	c := &fakeJenkinsClient{t: t, f: f}
	const job = "/job/platform/job/promote%20prod"

	if a := c.do("GET", "/crumbIssuer/api/json", f.User, "wrong", nil, nil); a.code != 401 || !strings.Contains(a.body, "Invalid password/token for user: stepper-bot") {
		t.Errorf("wrong token: %d %s", a.code, a.body)
	}
	if a := c.do("GET", "/crumbIssuer/api/json", "", "", nil, nil); a.code != 403 || a.header.Get("X-You-Are-Authenticated-As") != "anonymous" {
		t.Errorf("anonymous: %d %v", a.code, a.header)
	}
	form := url.Values{"APP": {"api"}, "VERSION": {"1.4.0"}}
	if a := c.do("POST", job+"/buildWithParameters", f.User, f.Token, form, nil); a.code != 403 || !strings.Contains(a.body, "No valid crumb was included in the request") {
		t.Errorf("no crumb: %d %s", a.code, a.body)
	}

	a := c.get("/crumbIssuer/api/json")
	var crumb struct{ Class, Crumb, CrumbRequestField string }
	if err := json.Unmarshal([]byte(a.body), &crumb); a.code != 200 || err != nil || crumb.Crumb == "" ||
		crumb.CrumbRequestField != "Jenkins-Crumb" || !strings.Contains(a.body, `"_class":"hudson.security.csrf.DefaultCrumbIssuer"`) || c.session == nil {
		t.Fatalf("crumb: %d %v %s, session %v", a.code, err, a.body, c.session)
	}
	withCrumb := map[string]string{crumb.CrumbRequestField: crumb.Crumb}
	session := c.session
	c.session = nil
	if a := c.do("POST", job+"/buildWithParameters", f.User, f.Token, form, withCrumb); a.code != 403 {
		t.Errorf("crumb without its session: %d, want 403", a.code)
	}
	c.session = session
	if a := c.do("POST", "/job/nope/buildWithParameters", f.User, f.Token, form, withCrumb); a.code != 404 || !strings.Contains(a.body, "HTTP ERROR 404 Not Found") {
		t.Errorf("unknown job: %d %s", a.code, a.body)
	}
	a = c.do("POST", job+"/buildWithParameters", f.User, f.Token, form, withCrumb)
	queue := a.header.Get("Location")
	if a.code != 201 || queue != f.URL+"/queue/item/1/" {
		t.Fatalf("trigger: %d, Location %q", a.code, queue)
	}

	waiting := c.waitFor(queue+"api/json", func(map[string]any) bool { return true })
	if waiting["_class"] != "hudson.model.Queue$WaitingItem" || waiting["why"] != "Waiting for next available executor" ||
		waiting["cancelled"] != false || waiting["params"] != "\nAPP=api\nVERSION=1.4.0" {
		t.Errorf("waiting queue item: %v", waiting)
	}
	left := c.waitFor(queue+"api/json", func(v map[string]any) bool { return v["executable"] != nil })
	build := f.URL + job + "/1/"
	if exe, _ := left["executable"].(map[string]any); left["_class"] != "hudson.model.Queue$LeftItem" ||
		exe["number"] != 1.0 || exe["url"] != build || exe["_class"] != "org.jenkinsci.plugins.workflow.job.WorkflowRun" {
		t.Errorf("left queue item: %v", left)
	}

	c.waitFor(build+"api/json", func(v map[string]any) bool {
		return strings.Contains(f.Builds("platform/promote prod")[0].Log, "promoting")
	})
	a = c.get(build + "logText/progressiveText?start=0")
	if a.code != 200 || a.body != "Started by user Alice\npromoting api\n" || a.header.Get("X-More-Data") != "true" ||
		a.header.Get("X-Text-Size") != fmt.Sprint(len(a.body)) {
		t.Errorf("console while running: %d %q %v", a.code, a.body, a.header)
	}
	running := c.waitFor(build+"api/json", func(map[string]any) bool { return true })
	if running["building"] != true || running["result"] != nil || running["description"] != nil {
		t.Errorf("running build: %v", running)
	}

	close(release)
	done := c.waitFor(build+"api/json", func(v map[string]any) bool { return v["building"] == false })
	raw, _ := json.Marshal(done["actions"])
	for _, want := range []string{
		`{"_class":"hudson.model.ParametersAction","parameters":[{"_class":"hudson.model.StringParameterValue","name":"APP","value":"api"}`,
		`{"_class":"hudson.model.CauseAction","causes":[{"_class":"hudson.model.Cause$UserIdCause","shortDescription":"Started by user Alice","userId":"alice","userName":"Alice"}]}`,
		`{}`,
	} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("build actions %s lack %s", raw, want)
		}
	}
	if done["result"] != "UNSTABLE" || done["number"] != 1.0 || done["url"] != build {
		t.Errorf("finished build: %v", done)
	}
	a = c.get(build + "logText/progressiveText?start=22")
	if a.body != "promoting api\nFinished: UNSTABLE\n" || a.header.Get("X-More-Data") != "" {
		t.Errorf("console from 22 when done: %q %v", a.body, a.header)
	}

	a = c.do("POST", build+"submitDescription", f.User, f.Token, url.Values{"description": {"api 1.4.0 <b>prod</b>"}}, withCrumb)
	if a.code != 302 || a.header.Get("Location") != "." {
		t.Errorf("submitDescription: %d %v", a.code, a.header)
	}
	got := f.Builds("platform/promote prod")
	if len(got) != 1 || got[0].Description != "api 1.4.0 <b>prod</b>" || got[0].Result != "UNSTABLE" || got[0].Params["VERSION"] != "1.4.0" {
		t.Errorf("Builds: %+v", got)
	}

	var sawCrumb bool
	for _, r := range f.Requests() {
		sawCrumb = sawCrumb || r.Method == "POST" && r.Crumb == crumb.Crumb && r.Session == session.Value
		if strings.Contains(fmt.Sprint(r), f.Token) {
			t.Errorf("a recorded request holds the token: %+v", r)
		}
	}
	if !sawCrumb {
		t.Error("Requests recorded no POST with the crumb and its session")
	}
}

// A cancelled queue item leaves the queue without a build; a replay carries
// the replaying user's cause; NextCauses replaces the user; a failure comes
// before anything else.
func TestFakeJenkinsCancelReplayCausesFailures(t *testing.T) {
	f := StartFakeJenkins(t)
	f.AddJob("cancelled", FakeJob{Cancel: true})
	f.AddJob("promote", FakeJob{})
	c := &fakeJenkinsClient{t: t, f: f}
	var crumb struct{ Crumb string }
	_ = json.Unmarshal([]byte(c.get("/crumbIssuer/api/json").body), &crumb)
	trigger := func(job string) string {
		t.Helper()
		a := c.do("POST", "/job/"+job+"/buildWithParameters", f.User, f.Token, url.Values{}, map[string]string{"Jenkins-Crumb": crumb.Crumb})
		if a.code != 201 {
			t.Fatalf("trigger %s: %d %s", job, a.code, a.body)
		}
		return a.header.Get("Location")
	}

	q := trigger("cancelled")
	v := c.waitFor(q+"api/json", func(v map[string]any) bool { return v["cancelled"] == true })
	if v["_class"] != "hudson.model.Queue$LeftItem" || v["executable"] != nil {
		t.Errorf("cancelled item: %v", v)
	}
	if len(f.Builds("cancelled")) != 0 {
		t.Error("a cancelled item built")
	}

	c.waitFor(trigger("promote")+"api/json", func(v map[string]any) bool { return v["executable"] != nil })
	f.StartAs("bob")
	f.ReplayNext()
	c.waitFor(trigger("promote")+"api/json", func(v map[string]any) bool { return v["executable"] != nil })
	f.NextCauses(map[string]any{"_class": "hudson.triggers.TimerTrigger$TimerTriggerCause", "shortDescription": "Started by timer"})
	c.waitFor(trigger("promote")+"api/json", func(v map[string]any) bool { return v["executable"] != nil })
	c.waitFor(trigger("promote")+"api/json", func(v map[string]any) bool { return v["executable"] != nil })

	builds := f.Builds("promote")
	causes := make([]string, len(builds))
	for i, b := range builds {
		for _, c := range b.Causes {
			causes[i] += fmt.Sprintf("%v/%v;", c["_class"], c["userId"])
		}
	}
	want := []string{
		"hudson.model.Cause$UserIdCause/alice;",
		"hudson.model.Cause$UserIdCause/bob;org.jenkinsci.plugins.workflow.cps.replay.ReplayCause/<nil>;",
		"hudson.triggers.TimerTrigger$TimerTriggerCause/<nil>;",
		"hudson.model.Cause$UserIdCause/bob;",
	}
	if fmt.Sprint(causes) != fmt.Sprint(want) {
		t.Errorf("causes:\n got %q\nwant %q", causes, want)
	}

	f.Fail(FakeJenkinsFailure{Status: 503, Times: 2, PathSuffix: "/api/json"})
	for i, wantCode := range []int{503, 503, 200} {
		if a := c.get("/job/promote/1/api/json"); a.code != wantCode {
			t.Errorf("request %d after Fail: %d, want %d", i, a.code, wantCode)
		}
	}
}
