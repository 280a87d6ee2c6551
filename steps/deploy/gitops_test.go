package deploy

import (
	"strings"
	"testing"

	"github.com/stepper-cd/stepper/internal/desiredstate"
)

func TestParseImage(t *testing.T) {
	d := "sha256:" + strings.Repeat("ab", 32)
	for _, tc := range []struct {
		in   string
		want desiredstate.Image
		err  string
	}{
		{in: "harbor.example/vendor/api:1.4.2@" + d, want: desiredstate.Image{Repository: "harbor.example/vendor/api", Tag: "1.4.2", Digest: d}},
		{in: "127.0.0.1:5000/vendor/api@" + d, want: desiredstate.Image{Repository: "127.0.0.1:5000/vendor/api", Digest: d}},
		{in: "127.0.0.1:5000/vendor/api:2@" + d, want: desiredstate.Image{Repository: "127.0.0.1:5000/vendor/api", Tag: "2", Digest: d}},
		{in: "harbor.example/vendor/api:1.4.2", err: "no digest"},
		{in: "Harbor!/x@" + d, err: "--image"},
	} {
		got, err := parseImage(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseImage(%q) err = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("parseImage(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

// The commit message is what rollback and the audit trail read back.
func TestCommitMessage(t *testing.T) {
	d := "sha256:" + strings.Repeat("cd", 32)
	msg := commitMessage(Target{Env: "exttest"}, Release{App: "api", ChartVersion: "3.2.0"},
		desiredstate.Image{Repository: "h/v/api", Tag: "1", Digest: d}, Audit{Actor: "alice", PipelineURL: "https://gl/p/7"})
	if msg.Subject != "deploy api to exttest: cdcdcdcdcdcd" {
		t.Errorf("subject %q", msg.Subject)
	}
	got := map[string]string{}
	for _, tr := range msg.Trailers {
		got[tr.Key] = tr.Value
	}
	want := map[string]string{TrailerApp: "api", TrailerEnv: "exttest", TrailerImage: "h/v/api:1@" + d, TrailerDigest: d,
		TrailerChartVersion: "3.2.0", TrailerPipeline: "https://gl/p/7", TrailerActor: "alice"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("trailer %s = %q, want %q", k, got[k], v)
		}
	}
}
