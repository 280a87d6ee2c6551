package gitlab

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/logging"
	"github.com/stepper-cd/stepper/internal/testenv"
)

// The job's user is GitLab's answer to the job token, whatever the job's
// environment claims.
func TestGitLabJobUserAsksGitLab(t *testing.T) {
	f := testenv.StartFakeGitLab(t)
	const jobToken = "glcbt-64_job-token-of-carol"
	f.AddJobToken(jobToken, "carol")
	t.Setenv("GITLAB_USER_LOGIN", "mallory")
	c := newClient(t, f, f.Token)

	got, err := c.JobUser(context.Background(), jobToken)
	if err != nil {
		t.Fatal(err)
	}
	if got != "carol" {
		t.Errorf("JobUser = %q, want carol (GITLAB_USER_LOGIN says mallory)", got)
	}
	reqs := f.Requests()
	if last := reqs[len(reqs)-1]; last.Path != "/api/v4/job" || last.Authenticated {
		t.Errorf("request %s, authenticated %v: want GET /api/v4/job with the job token alone", last.Path, last.Authenticated)
	}
}

func TestGitLabJobUserRefusedTokenFails(t *testing.T) {
	f := testenv.StartFakeGitLab(t)
	f.AddJobToken("glcbt-64_live-token", "carol")
	c := newClient(t, f, f.Token)
	var logs bytes.Buffer
	ctx := logging.WithContext(context.Background(), zerolog.New(&logs).Level(zerolog.TraceLevel))

	const stale = "glcbt-64_finished-job-token-1234"
	_, err := c.JobUser(ctx, stale)
	if exit.ClassOf(err) != exit.Failed || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "running job") {
		t.Fatalf("class %v: %v, want failed: not a running job's token", exit.ClassOf(err), err)
	}
	if strings.Contains(err.Error(), stale) || strings.Contains(logs.String(), stale) {
		t.Errorf("the job token leaked:\nerror: %v\nlogs: %s", err, logs.String())
	}
	if _, err := c.JobUser(ctx, ""); exit.ClassOf(err) != exit.Usage || !strings.Contains(err.Error(), "CI_JOB_TOKEN") {
		t.Errorf("no token: class %v: %v", exit.ClassOf(err), err)
	}
}

func TestGitLabCurrentUser(t *testing.T) {
	f := testenv.StartFakeGitLab(t)
	c := newClient(t, f, f.Token)
	if got, err := c.CurrentUser(context.Background()); err != nil || got != "stepper-bot" {
		t.Errorf("CurrentUser = %q, %v; want stepper-bot", got, err)
	}
	f.SetTokenUser("deploy-bot")
	if got, err := c.CurrentUser(context.Background()); err != nil || got != "deploy-bot" {
		t.Errorf("CurrentUser = %q, %v; want deploy-bot", got, err)
	}
	const wrong = "glpat-not-the-right-one-1234"
	_, err := newClient(t, f, wrong).CurrentUser(context.Background())
	if exit.ClassOf(err) != exit.Usage || strings.Contains(err.Error(), wrong) {
		t.Errorf("wrong token: class %v: %v", exit.ClassOf(err), err)
	}
}

func TestGitLabInGroup(t *testing.T) {
	f := testenv.StartFakeGitLab(t)
	f.AddGroup("ehealth", "alice")
	f.AddSubgroup("ehealth", "sre", "carol", "bob")
	f.BlockUser("bob")
	f.AddUser("ali")
	f.AddUser("dave")
	// More members than one page holds, whose names all match the query
	// for the last of them.
	var many []string
	for i := range 150 {
		many = append(many, fmt.Sprintf("oncall-%03d", i))
	}
	f.AddGroup("oncall", many...)
	c := newClient(t, f, f.Token)

	tests := []struct {
		group, user string
		want        bool
	}{
		{"ehealth/sre", "carol", true},   // direct
		{"ehealth/sre", "alice", true},   // inherited from ehealth
		{"/ehealth/sre/", "CAROL", true}, // usernames and paths as people write them
		{"ehealth", "carol", false},      // a subgroup's member is not the parent's
		{"ehealth/sre", "dave", false},   // not a member
		{"ehealth", "ali", false},        // the query matches alice; the name must match
		{"ehealth/sre", "bob", false},    // blocked
		{"oncall", "oncall-149", true},   // on the second page
		{"oncall", "oncall-150", false},
	}
	for _, tt := range tests {
		got, err := c.InGroup(context.Background(), tt.group, tt.user)
		if err != nil || got != tt.want {
			t.Errorf("InGroup(%q, %q) = %v, %v; want %v", tt.group, tt.user, got, err, tt.want)
		}
	}

	_, err := c.InGroup(context.Background(), "ehealth/nope", "carol")
	if exit.ClassOf(err) != exit.Failed || !strings.Contains(err.Error(), `group "ehealth/nope" not found`) ||
		!strings.Contains(err.Error(), "promoters") {
		t.Errorf("unknown group: class %v: %v", exit.ClassOf(err), err)
	}
	if _, err := c.InGroup(context.Background(), "", "carol"); exit.ClassOf(err) != exit.Usage {
		t.Errorf("no group: class %v: %v", exit.ClassOf(err), err)
	}
}
