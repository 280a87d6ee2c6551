package httpcheck

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestAgainstApp runs the checks against real app processes built from
// testdata/smoke/app, one per case.
func TestAgainstApp(t *testing.T) {
	bin := buildApp(t)

	t.Run("healthy app passes", func(t *testing.T) {
		t.Parallel()
		app := startApp(t, bin, freePort(t))
		app.waitReady(t)
		for _, c := range []Check{
			{Name: "healthz", URL: app.url + "/healthz"},
			{Name: "readyz body", URL: app.url + "/readyz", BodyContains: "ready"},
			{Name: "ping status", URL: app.url + "/api/ping", JSONField: "status", JSONEquals: "ok"},
			{Name: "ping downstream exists", URL: app.url + "/api/ping", JSONField: "downstream"},
			{Name: "ping downstream is 0", URL: app.url + "/api/ping", JSONField: "downstream", JSONEquals: "0"},
			{Name: "not found", URL: app.url + "/nothing", ExpectStatus: 404},
		} {
			if r := Run(runCtx(t), c, patient); !r.Passed || r.Attempts != 1 || r.Message != "" {
				t.Errorf("%s: %+v, want a pass at the first attempt", c.Name, r)
			}
		}
	})

	t.Run("wrong answers fail and say why", func(t *testing.T) {
		t.Parallel()
		app := startApp(t, bin, freePort(t), "HEALTH_STATUS=500")
		app.waitReady(t)
		tests := []struct {
			check Check
			want  []string
		}{
			{Check{URL: app.url + "/healthz"}, []string{"GET " + app.url + "/healthz", "status 500, want 200", `body: "health status 500"`}},
			{Check{URL: app.url + "/readyz", BodyContains: "pong"}, []string{`body does not contain "pong"`, `body: "ready"`}},
			{Check{URL: app.url + "/api/ping", JSONField: "status", JSONEquals: "down"}, []string{`JSON field status is "ok", want "down"`}},
			{Check{URL: app.url + "/api/ping", JSONField: "data.0.ok"}, []string{`JSON field data.0.ok is missing: the document has no "data"`}},
			{Check{URL: app.url + "/readyz", JSONField: "status"}, []string{"body is not JSON"}},
		}
		for _, tt := range tests {
			r := Run(runCtx(t), tt.check, quick)
			if r.Passed || r.Attempts < 2 {
				t.Errorf("%s: %+v, want a failure after retries", tt.check.URL, r)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.Message, w) {
					t.Errorf("%s: message %q does not say %q", tt.check.URL, r.Message, w)
				}
			}
		}
	})

	t.Run("user agent reaches the app", func(t *testing.T) {
		t.Parallel()
		app := startApp(t, bin, freePort(t))
		app.waitReady(t)
		o := patient
		o.UserAgent = "stepper/1.2.3-test"
		c := Check{URL: app.url + "/healthz", Headers: map[string]string{"User-Agent": "curl/8", "X-Team": "ehealth"}}
		if r := Run(runCtx(t), c, o); !r.Passed {
			t.Fatalf("healthz: %+v", r)
		}
		seen := Check{URL: app.url + "/debug/ua", JSONField: "last", JSONEquals: "stepper/1.2.3-test"}
		if r := Run(runCtx(t), seen, quick); !r.Passed {
			t.Errorf("the app did not see stepper's user agent: %s", r.Message)
		}
	})

	t.Run("an app not listening yet is retried until it is", func(t *testing.T) {
		t.Parallel()
		port := freePort(t)
		started := make(chan *appProcess, 1)
		time.AfterFunc(time.Second, func() {
			a, err := launchApp(bin, port)
			if err != nil {
				t.Error(err)
			}
			started <- a
		})
		r := Run(runCtx(t), Check{URL: appURL(port) + "/healthz"}, patient)
		if a := <-started; a != nil {
			t.Cleanup(func() { a.stop(t) })
		}
		if !r.Passed || r.Attempts < 2 {
			t.Errorf("%+v, want a pass after retries", r)
		}
	})

	t.Run("a crashed app fails the check", func(t *testing.T) {
		t.Parallel()
		port := freePort(t)
		app := startApp(t, bin, port, "CRASH=true")
		<-app.done
		if code := app.cmd.ProcessState.ExitCode(); code != 1 {
			t.Errorf("CRASH=true exited %d, want 1", code)
		}
		r := Run(runCtx(t), Check{URL: app.url + "/healthz"}, quick)
		if r.Passed || !strings.Contains(r.Message, "connection refused") {
			t.Errorf("%+v, want a failure saying the connection was refused", r)
		}
	})

	t.Run("B3 headers forwarded", func(t *testing.T) {
		t.Parallel()
		capture := startCapture(t)
		app := startApp(t, bin, freePort(t), "DOWNSTREAM_URL="+capture.URL())
		app.waitReady(t)
		r := B3(runCtx(t), Check{Name: "b3", URL: app.url + "/api/ping"}, capture, patient)
		if !r.Passed || r.Name != "b3" {
			t.Errorf("%+v, want a pass", r)
		}
	})

	t.Run("B3 headers dropped", func(t *testing.T) {
		t.Parallel()
		capture := startCapture(t)
		app := startApp(t, bin, freePort(t), "DOWNSTREAM_URL="+capture.URL(), "DROP_B3=true")
		app.waitReady(t)
		r := B3(runCtx(t), Check{URL: app.url + "/api/ping"}, capture, quick)
		want := "the app's downstream call lacked X-B3-TraceId, X-B3-SpanId, X-B3-Sampled (the app answered 200 OK)"
		if r.Passed || !strings.HasPrefix(r.Message, want) {
			t.Errorf("%+v\nwant a failure saying %q", r, want)
		}
	})

	t.Run("B3 downstream not pointed at the capture", func(t *testing.T) {
		t.Parallel()
		capture := startCapture(t)
		app := startApp(t, bin, freePort(t))
		app.waitReady(t)
		r := B3(runCtx(t), Check{URL: app.url + "/api/ping"}, capture, quick)
		if r.Passed || !strings.Contains(r.Message, "received no request: point the app's downstream URL at it") {
			t.Errorf("%+v, want a failure saying the capture endpoint got nothing", r)
		}
	})
}

func appURL(port int) string { return "http://127.0.0.1:" + strconv.Itoa(port) }

func startCapture(t *testing.T) *Capture {
	t.Helper()
	c, err := StartCapture("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestCancelStopsPromptly cancels checks that would otherwise go on for a
// minute: while waiting between attempts and while a request hangs.
func TestCancelStopsPromptly(t *testing.T) {
	silent := silentServer(t)
	refused := appURL(freePort(t))
	tests := []struct {
		name string
		url  string
	}{
		{"between attempts", refused},
		{"during a request", silent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := Options{Deadline: time.Minute, RequestTimeout: time.Minute, Interval: 10 * time.Second}
			ctx, cancel := context.WithCancel(t.Context())
			time.AfterFunc(300*time.Millisecond, cancel)
			done := make(chan Result)
			go func() { done <- Run(ctx, Check{URL: tt.url}, o) }()
			select {
			case r := <-done:
				if r.Passed || !strings.HasPrefix(r.Message, "interrupted after 1 attempts: context canceled") {
					t.Errorf("%+v, want an interrupted failure", r)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("Run went on after its context was cancelled")
			}
		})
	}
}

func TestBadCheckFailsAtOnce(t *testing.T) {
	for _, c := range []Check{{URL: "127.0.0.1:8080/healthz"}, {URL: "ftp://x/y"}, {URL: "http://127.0.0.1/", Method: "GE T"}} {
		r := Run(t.Context(), c, quick)
		if r.Passed || r.Attempts != 0 || r.Message == "" {
			t.Errorf("%+v: %+v, want a failure without attempts", c, r)
		}
	}
}
