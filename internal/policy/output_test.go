package policy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"github.com/stepper-cd/stepper/internal/testenv"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// outputRules is a fixed rule list, so the golden files do not change with
// the built-in rules.
var outputRules = []Rule{
	{ID: "image-non-root", Category: CategoryImage, Severity: Error},
	{ID: "image-signed", Category: CategoryImage, Severity: Error},
	{ID: "manifest-probes", Category: CategoryManifest, Severity: Error},
	{ID: "manifest-replicas", Category: CategoryManifest, Severity: Warning},
	{ID: "manifest-resources", Category: CategoryManifest, Severity: Error},
	{ID: "state-chart-version-pinned", Category: CategoryDesiredState, Severity: Warning},
	{ID: "docs-component", Category: CategoryDocs, Severity: Info},
}

// outputReport has several apps, errors, warnings, an info, a waived
// finding, one under an expired waiver, a finding of no app, an app
// without findings, and text that needs escaping in every format.
func outputReport() *Report {
	holds := &Waiver{App: "api", Rule: "manifest-probes", Reason: "probes come with the <v2> chart & \"soon\"",
		Expires: time.Date(2026, 9, 30, 0, 0, 0, 0, time.UTC)}
	expired := &Waiver{App: "web", Rule: "image-signed", Reason: "signing key rotation",
		Expires: time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC), Expired: true}
	return &Report{
		Findings: []Finding{
			{Rule: "manifest-replicas", Category: CategoryManifest, Severity: Warning, Env: "exttest", App: "api",
				Message: "Deployment/api runs 1 replica; the platform wants at least 2", Fix: "set replicaCount: 2",
				Object: "Deployment/api", File: "api/templates/deployment.yaml", Line: 7},
			{Rule: "image-non-root", Category: CategoryImage, Severity: Error, Env: "exttest", App: "api",
				Message: "the image runs as root (USER is empty)", Fix: "set USER 10001 in the Dockerfile",
				Link:   "https://github.com/stepper-cd/stepper#rule-image-non-root",
				Object: "registry.ehealth.example/vendor/api:1.2.3@sha256:aaaa"},
			{Rule: "manifest-probes", Category: CategoryManifest, Severity: Error, Env: "exttest", App: "api",
				Message: "container api has no readinessProbe", Fix: "add a readinessProbe on /healthz",
				Object: "Deployment/api", File: "api/templates/deployment.yaml", Line: 31, Waiver: holds},
			{Rule: "manifest-resources", Category: CategoryManifest, Severity: Error, Env: "exttest", App: "api",
				Message: "container sidecar has no memory limit", Fix: "set resources.limits.memory",
				Object: "Deployment/api"},
			{Rule: "manifest-resources", Category: CategoryManifest, Severity: Error, Env: "exttest", App: "api",
				Message: "container api has no cpu request", Fix: "set resources.requests.cpu",
				Object: "Deployment/api"},
			{Rule: "image-signed", Category: CategoryImage, Severity: Error, Env: "exttest", App: "web",
				Message: "no signature verifies with key \"ehealth-2026\"", Fix: "sign the image with stepper sign",
				Object: "registry.ehealth.example/web@sha256:bbbb", Waiver: expired},
			{Rule: "no-hostpath", Category: CategoryCustom, Severity: Warning, Env: "exttest", App: "web",
				Message: "volume <data> & \"cache\" uses hostPath ]]> 'tmp'\nsecond line\twith a tab \x1b[31mred\x1b[0m, grüße",
				Fix:     "use an emptyDir", Object: "Deployment/web", File: "policy.yaml", Line: 3},
			{Rule: "docs-component", Category: CategoryDocs, Severity: Info, Env: "exttest", App: "web",
				Message: "README.md has no \"Monitoring\" section", Fix: "add a Monitoring section", Object: "chart web"},
			{Rule: "state-chart-version-pinned", Category: CategoryDesiredState, Severity: Warning, Env: "exttest",
				Message: "release cron pins no chart version", Fix: "set version: 1.0.0",
				Object: "apps.cron", File: "exttest/dsf.yaml", Line: 42},
		},
		Checked: map[string][]string{
			"api":   {"manifest-resources", "image-non-root", "image-signed", "manifest-probes", "manifest-replicas"},
			"web":   {"image-non-root", "image-signed", "manifest-replicas", "docs-component"},
			"batch": {"image-non-root", "image-signed"},
		},
	}
}

func TestOutputGolden(t *testing.T) {
	writers := []struct {
		file  string
		write func(io.Writer, *Report) error
	}{
		{"table.txt", func(w io.Writer, r *Report) error { return WriteTable(w, r, false) }},
		{"table-color.txt", func(w io.Writer, r *Report) error { return WriteTable(w, r, true) }},
		{"report.json", WriteJSON},
		{"junit.xml", func(w io.Writer, r *Report) error { return WriteJUnit(w, r, outputRules) }},
		{"codequality.json", WriteCodeQuality},
	}
	for _, tt := range writers {
		t.Run(tt.file, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tt.write(&buf, outputReport()); err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join(testdata, "golden", tt.file), buf.String())
			if tt.file == "junit.xml" {
				testenv.ValidateJUnit(t, filepath.Join(testdata, "golden", tt.file))
			}
		})
	}
}

func TestOutputEmptyReport(t *testing.T) {
	empty := &Report{}
	var table, js, junit, cq bytes.Buffer
	if err := WriteTable(&table, empty, false); err != nil {
		t.Fatal(err)
	}
	if got, want := table.String(), "0 errors, 0 warnings, 0 waived in 0 apps\n"; got != want {
		t.Errorf("table = %q, want %q", got, want)
	}
	if err := WriteJSON(&js, empty); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(js.String(), `"findings": []`) {
		t.Errorf("JSON of an empty report has no empty findings array:\n%s", js.String())
	}
	if err := WriteJUnit(&junit, empty, nil); err != nil {
		t.Fatal(err)
	}
	if err := WriteCodeQuality(&cq, empty); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(cq.String()); got != "[]" {
		t.Errorf("code quality of an empty report = %s, want []", got)
	}
}

func TestTableMarksWaiversAndCountsThem(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteTable(&buf, outputReport(), false); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"error waived until 2026-09-30: probes come with the <v2> chart & \"soon\"",
		"waiver expired on 2026-01-31 (signing key rotation): fix it or renew the waiver",
		// an expired waiver leaves the finding an error; a holding one makes it waived
		"  waived    manifest-probes",
		"  error     image-signed",
		// control characters stay visible and on one line
		`'tmp'\nsecond line with a tab \x1b[31mred\x1b[0m, grüße`,
		"4 errors, 3 warnings, 1 info, 1 waived in 4 apps\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b") {
		t.Error("the table without color holds an escape character")
	}
}

// The JUnit report must be well-formed XML that reads back to the counts
// GitLab shows.
func TestJUnitIsWellFormed(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteJUnit(&buf, outputReport(), outputRules); err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(bytes.NewReader(buf.Bytes()))
	dec.Strict = true
	for {
		_, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, buf.String())
		}
	}
	var got junitSuites
	if err := xml.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	type counts struct{ tests, failures, skipped int }
	want := map[string]counts{"api": {5, 2, 1}, "batch": {2, 0, 0}, "web": {5, 1, 0}, noApp: {1, 0, 0}}
	var names []string
	for _, s := range got.Suites {
		names = append(names, s.Name)
		if c := (counts{s.Tests, s.Fails, s.Skipped}); c != want[s.Name] || len(s.Cases) != s.Tests {
			t.Errorf("suite %s: %+v with %d cases, want %+v", s.Name, c, len(s.Cases), want[s.Name])
		}
	}
	if strings.Join(names, ",") != "api,batch,web,"+noApp {
		t.Errorf("suites %v, want api, batch, web, then %s", names, noApp)
	}
	if got.Tests != 13 || got.Fails != 3 || got.Skipped != 1 {
		t.Errorf("totals: %d tests, %d failures, %d skipped", got.Tests, got.Fails, got.Skipped)
	}
	// Cases follow the rule list, whatever order Checked gives.
	var api []string
	for _, c := range got.Suites[0].Cases {
		api = append(api, c.Name)
	}
	if strings.Join(api, ",") != "image-non-root,image-signed,manifest-probes,manifest-replicas,manifest-resources" {
		t.Errorf("api cases in order %v", api)
	}
	web := got.Suites[2]
	for _, c := range web.Cases {
		if c.Name == "no-hostpath" && !strings.Contains(c.SystemOut, "volume <data> & \"cache\" uses hostPath ]]> 'tmp'\nsecond line") {
			t.Errorf("the warning did not survive escaping: %q", c.SystemOut)
		}
	}
}

func TestJSONReadsBack(t *testing.T) {
	var buf bytes.Buffer
	r := outputReport()
	if err := WriteJSON(&buf, r); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Report
		Failed  bool
		Summary struct{ Errors, Warnings, Infos, Waived int }
	}
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Findings) != len(r.Findings) || back.Report.Failed() != r.Failed() || !back.Failed {
		t.Errorf("read back %d findings, failed %v", len(back.Findings), back.Failed)
	}
	if s := back.Summary; s.Errors != 4 || s.Warnings != 3 || s.Infos != 1 || s.Waived != 1 {
		t.Errorf("summary %+v", s)
	}
	if back.Findings[0].Rule != "image-non-root" || back.Findings[0].App != "api" {
		t.Errorf("findings not in output order: first is %s of %s", back.Findings[0].Rule, back.Findings[0].App)
	}
}

func TestCodeQualityFields(t *testing.T) {
	var first, second bytes.Buffer
	if err := WriteCodeQuality(&first, outputReport()); err != nil {
		t.Fatal(err)
	}
	if err := WriteCodeQuality(&second, outputReport()); err != nil {
		t.Fatal(err)
	}
	if first.String() != second.String() {
		t.Error("two runs over the same report differ")
	}
	var issues []codeQualityIssue
	if err := json.Unmarshal(first.Bytes(), &issues); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, is := range issues {
		if seen[is.Fingerprint] {
			t.Errorf("fingerprint %s twice", is.Fingerprint)
		}
		seen[is.Fingerprint] = true
		if is.Location.Path == "" || is.Location.Lines.Begin < 1 || is.CheckName == "" || is.Description == "" {
			t.Errorf("incomplete entry %+v", is)
		}
		if !strings.Contains("blocker critical major minor info", is.Severity) {
			t.Errorf("severity %q is not GitLab's", is.Severity)
		}
	}
	byCheck := map[string]codeQualityIssue{}
	for _, is := range issues {
		byCheck[is.CheckName] = is
	}
	probes := byCheck["manifest-probes"]
	if probes.Severity != "info" || probes.Location.Path != "api/templates/deployment.yaml" || probes.Location.Lines.Begin != 31 {
		t.Errorf("waived finding: %+v", probes)
	}
	if signed := byCheck["image-signed"]; signed.Severity != "critical" || signed.Location.Path != CodeQualityDefaultPath {
		t.Errorf("expired waiver: %+v", signed)
	}
	sum := sha256.Sum256([]byte("image-non-root\x00exttest\x00api\x00registry.ehealth.example/vendor/api:1.2.3@sha256:aaaa\x00the image runs as root (USER is empty)"))
	if got := byCheck["image-non-root"].Fingerprint; got != hex.EncodeToString(sum[:]) {
		t.Errorf("fingerprint %s is not the sha256 of rule, env, app, object and message", got)
	}
}
