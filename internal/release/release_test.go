package release

import (
	"strings"
	"testing"
	"time"

	"github.com/stepper-cd/stepper/internal/gitrepo"
	"github.com/stepper-cd/stepper/internal/report"
)

var d1 = "sha256:" + strings.Repeat("ab", 32)

func TestParseRef(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Ref
		err  string
	}{
		{in: "harbor.example/vendor/api:1.4.2@" + d1, want: Ref{"harbor.example/vendor/api", "1.4.2", d1}},
		{in: "127.0.0.1:5000/vendor/api@" + d1, want: Ref{"127.0.0.1:5000/vendor/api", "", d1}},
		{in: "127.0.0.1:5000/vendor/api:2", want: Ref{"127.0.0.1:5000/vendor/api", "2", ""}},
		{in: "hostedshop/api:stag-1", want: Ref{"hostedshop/api", "stag-1", ""}},
		{in: "harbor.example/vendor/api", err: "give a tag, a digest or both"},
		{in: "harbor.example/vendor/api@sha256:abc", err: "digest"},
		{in: "harbor.example/vendor/api:-bad", err: "tag"},
		{in: "Harbor!/x@" + d1, err: "repository"},
		{in: "", err: "repository"},
	} {
		got, err := ParseRef(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseRef(%q) err = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want || got.String() != tc.in {
			t.Errorf("ParseRef(%q) = %+v (%s), %v; want %+v", tc.in, got, got, err, tc.want)
		}
	}
	if _, err := ParsePinned("harbor.example/vendor/api:1"); err == nil || !strings.Contains(err.Error(), "no digest") {
		t.Errorf("ParsePinned of a tag: %v", err)
	}
}

// Trailers written on a commit read back as the same release.
func TestTrailersRoundTrip(t *testing.T) {
	started := time.Date(2026, 12, 4, 21, 40, 12, 500, time.UTC)
	in := Trailers{Action: ActionRollback, App: "api", Env: "exttest", Image: Ref{"h/v/api", "1", d1}, ChartVersion: "3.2.0",
		Started: started, Hold: true, Reverts: "abc123", Reason: "500s on /login", Pipeline: "https://gl/p/7", Actor: "alice"}
	c := gitrepo.Commit{SHA: "f00", Trailers: map[string]string{}}
	for _, tr := range in.List() {
		c.Trailers[tr.Key] = tr.Value
	}
	out, ok := ReadTrailers(c)
	if !ok || out != in {
		t.Errorf("read back %+v, want %+v", out, in)
	}
	if _, ok := ReadTrailers(gitrepo.Commit{Trailers: map[string]string{"Signed-off-by": "x"}}); ok {
		t.Error("a commit stepper did not write reads as a release")
	}
}

func TestLate(t *testing.T) {
	now := time.Now()
	ours := Ref{"h/v/api", "2", "sha256:" + strings.Repeat("2", 64)}
	theirs := Ref{"h/v/api", "3", "sha256:" + strings.Repeat("3", 64)}
	entry := func(tr Trailers) *Entry { return &Entry{Commit: gitrepo.Commit{SHA: "0123456789abcdef"}, Trailers: tr} }
	for _, tc := range []struct {
		name string
		head *Entry
		want string
	}{
		{"no history", nil, ""},
		{"an older release", entry(Trailers{Image: theirs, Started: now.Add(-time.Minute)}), ""},
		{"a newer release", entry(Trailers{Image: theirs, Started: now.Add(time.Minute)}), "a newer release"},
		{"the same image, newer", entry(Trailers{Image: ours, Started: now.Add(time.Minute)}), ""},
		{"a hold", entry(Trailers{Image: theirs, Hold: true, Reason: "INC-1"}), "held at"},
		{"a hold on our image", entry(Trailers{Image: ours, Hold: true}), ""},
		{"no start time", entry(Trailers{Image: theirs}), ""},
	} {
		if got := Late(tc.head, ours, now); (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: Late = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// A build record survives the result file: the keys CI templates read
// stay the same.
func TestBuiltRoundTrip(t *testing.T) {
	b := Built{Image: Ref{"h/v/api", "1.4.2", d1}, Tags: []string{"1.4.2", "sha-1"}, Signature: "h/v/api:sha256-ab.sig",
		Builder: "layers", Parameters: map[string]string{"a": "b"}, Started: time.Unix(100, 0).UTC(), Tagged: true}
	r := &report.Result{Step: "build-sign-push", Status: report.Succeeded}
	b.Encode(r)
	if r.Outputs[OutImageRef] != "h/v/api@"+d1 || r.Outputs[OutTags] != "1.4.2,sha-1" {
		t.Fatalf("outputs %v", r.Outputs)
	}
	got, err := DecodeBuilt("build.json", r)
	if err != nil || got.Image != b.Image || got.Signature != b.Signature || !got.Tagged || got.Parameters["a"] != "b" || !got.Started.Equal(b.Started) {
		t.Fatalf("decoded %+v, %v", got, err)
	}
	img, err := ImageFromResult("build.json", r)
	if err != nil || img.String() != "h/v/api:1.4.2@"+d1 {
		t.Errorf("ImageFromResult = %s, %v", img, err)
	}
	r.Status = report.Failed
	if _, err := ImageFromResult("build.json", r); err == nil {
		t.Error("a failed step's image was taken")
	}
}

func TestEvidenceProves(t *testing.T) {
	deployed := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	e := SmokeEvidence{Environment: "exttest", App: "api", Digest: d1, TestedAt: deployed.Add(time.Hour), DesiredStateCommit: "c1",
		Checks: []CheckRecord{{Name: "rollout", Kind: CheckRollout, Passed: true}, {Name: "GET /healthz", Kind: CheckHealth, Passed: true}}}
	want := Want{Env: "exttest", App: "api", Digest: d1, After: deployed, DesiredStateCommit: "c1"}
	if err := e.Proves(want); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		w    func(*Want)
		e    func(*SmokeEvidence)
		err  string
	}{
		{"other env", func(w *Want) { w.Env = "inttest" }, nil, "of exttest"},
		{"other app", func(w *Want) { w.App = "web" }, nil, "app api"},
		{"other digest", func(w *Want) { w.Digest = "sha256:" + strings.Repeat("0", 64) }, nil, "is about"},
		{"before the deploy", func(w *Want) { w.After = deployed.Add(2 * time.Hour) }, nil, "before the last deploy"},
		{"other commit", func(w *Want) { w.DesiredStateCommit = "c2" }, nil, "desired-state commit"},
		{"a failed check", nil, func(e *SmokeEvidence) { e.Checks[1].Passed = false }, "failed"},
	} {
		w, ev := want, e
		ev.Checks = append([]CheckRecord(nil), e.Checks...)
		if tc.w != nil {
			tc.w(&w)
		}
		if tc.e != nil {
			tc.e(&ev)
		}
		if err := ev.Proves(w); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.err)
		}
	}
	if !e.RanHTTPChecks() || (SmokeEvidence{Checks: []CheckRecord{{Kind: CheckRollout}}}).RanHTTPChecks() {
		t.Error("RanHTTPChecks")
	}
}

// A promotion of a whole environment lands several releases in one commit;
// each reads back on its own, with the shared trailers.
func TestManyReleasesInOneCommit(t *testing.T) {
	started := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	a, _ := ParseRef("harbor.example/v/a:1@sha256:" + strings.Repeat("a", 64))
	b, _ := ParseRef("harbor.example/v/b:2@sha256:" + strings.Repeat("b", 64))
	in := []Trailers{
		{Action: ActionPromote, App: "a", Env: "prod", From: "preprod", Image: a, ChartVersion: "1.0.0", Started: started, Actor: "alice", Evidence: "att-a"},
		{Action: ActionPromote, App: "b", Env: "prod", From: "preprod", Image: b, Started: started, Actor: "alice"},
	}
	c := gitrepo.Commit{SHA: "f00", Trailers: map[string]string{}}
	for _, tr := range ListAll(in) {
		c.Trailers[tr.Key] = tr.Value
		c.TrailerList = append(c.TrailerList, tr)
	}
	got := ReadReleases(c)
	if len(got) != 2 || got[0].App != "a" || got[1].App != "b" || got[0].Image != a || got[1].Image != b ||
		got[0].ChartVersion != "1.0.0" || got[1].ChartVersion != "" || got[0].Evidence != "att-a" || got[1].Evidence != "" ||
		got[1].From != "preprod" || got[1].Actor != "alice" || !got[1].Started.Equal(started) {
		t.Fatalf("ReadReleases = %+v", got)
	}
	if h := History([]gitrepo.Commit{c}, "prod", "b"); len(h) != 1 || h[0].Image != b {
		t.Errorf("History of b = %+v", h)
	}
	if h := History([]gitrepo.Commit{c}, "prod", ""); len(h) != 2 {
		t.Errorf("History of every app = %d entries, want 2", len(h))
	}
}
