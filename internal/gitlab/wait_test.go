package gitlab

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/secret"
	"github.com/stepper-cd/stepper/internal/testenv"
)

// openForWait starts a fake with one open merge request, !1, and a client
// that signals polled after each answer GitLab gives.
func openForWait(t *testing.T) (*testenv.FakeGitLab, *Client, <-chan struct{}) {
	t.Helper()
	f := testenv.StartFakeGitLab(t)
	f.AddProject(project)
	polled := make(chan struct{}, 1)
	c, err := New(Options{URL: f.URL, Token: secret.NewValue(f.Token, nil), HTTPClient: &http.Client{
		Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			resp, err := http.DefaultTransport.RoundTrip(r)
			select {
			case polled <- struct{}{}:
			default:
			}
			return resp, err
		}),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.EnsureMergeRequest(context.Background(), promotion()); err != nil {
		t.Fatal(err)
	}
	<-polled // the create's answer
	return f, c, polled
}

func TestGitLabWaitMergeRequestSeesTheEnd(t *testing.T) {
	for _, state := range []string{"merged", "closed"} {
		t.Run(state, func(t *testing.T) {
			f, c, polled := openForWait(t)
			go func() {
				<-polled // the wait saw it open once
				f.EditMergeRequest(project, 1, func(mr *testenv.GitLabMergeRequest) { mr.State = state })
			}()
			got, err := c.WaitMergeRequest(t.Context(), project, 1, time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			if got.State != state || got.IID != 1 || !strings.HasSuffix(got.WebURL, "/merge_requests/1") {
				t.Errorf("got %+v, want !1 %s", got, state)
			}
		})
	}
}

func TestGitLabWaitMergeRequestTimesOut(t *testing.T) {
	f, c, _ := openForWait(t)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err := c.WaitMergeRequest(ctx, project, 1, 5*time.Millisecond)
	url := f.MergeRequests(project)[0].WebURL
	if !errors.Is(err, context.DeadlineExceeded) || exit.ClassOf(err) != exit.Failed ||
		!strings.Contains(err.Error(), "still open") || !strings.Contains(err.Error(), url) {
		t.Errorf("class %v: %v; want failed, still open, %s", exit.ClassOf(err), err, url)
	}

	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = c.WaitMergeRequest(cancelled, project, 1, time.Millisecond)
	if !errors.Is(err, context.Canceled) || exit.ClassOf(err) != exit.Interrupted {
		t.Errorf("cancelled: class %v: %v", exit.ClassOf(err), err)
	}
}

// A GitLab that fails for a while is polled through; one that refuses the
// merge request ends the wait.
func TestGitLabWaitMergeRequestPollsThroughFailures(t *testing.T) {
	f, c, _ := openForWait(t)
	f.EditMergeRequest(project, 1, func(mr *testenv.GitLabMergeRequest) { mr.State = "merged" })
	f.Fail(testenv.GitLabFailure{Status: http.StatusBadGateway, RetryAfter: "0", Times: defaultRetry.tries})
	got, err := c.WaitMergeRequest(t.Context(), project, 1, time.Millisecond)
	if err != nil || got.State != "merged" {
		t.Fatalf("after a failed poll: %+v, %v", got, err)
	}

	_, err = c.WaitMergeRequest(t.Context(), project, 99, time.Millisecond)
	if exit.ClassOf(err) != exit.Usage || !strings.Contains(err.Error(), "404") {
		t.Errorf("!99: class %v: %v", exit.ClassOf(err), err)
	}
	if _, err := c.WaitMergeRequest(t.Context(), project, 1, 0); exit.ClassOf(err) != exit.Usage {
		t.Errorf("no interval: class %v: %v", exit.ClassOf(err), err)
	}
}
