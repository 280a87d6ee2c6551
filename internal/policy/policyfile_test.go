package policy

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stepper-cd/stepper/internal/exit"
)

// TestBadFiles loads every file under testdata/policy/bad and compares the
// error with the golden message next to it (name.yaml -> name.err).
func TestBadFiles(t *testing.T) {
	dir := filepath.Join(testdata, "bad")
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no bad fixtures in %s: %v", dir, err)
	}
	lineless := map[string]bool{"empty": true, "comments-only": true}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			_, err := Load(file)
			fe := fileError(t, err)
			if fe.File != file {
				t.Errorf("File = %q, want %q", fe.File, file)
			}
			if fe.Line == 0 && !lineless[name] {
				t.Errorf("no line in %q", err)
			}
			msg := strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), "")
			golden(t, strings.TrimSuffix(file, ".yaml")+".err", msg)
		})
	}
}

func fileError(t testing.TB, err error) *FileError {
	t.Helper()
	var fe *FileError
	if !errors.As(err, &fe) {
		t.Fatalf("want a *FileError, got %v", err)
	}
	if exit.ClassOf(err) != exit.Usage {
		t.Errorf("class = %v, want usage", exit.ClassOf(err))
	}
	return fe
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "policy.yaml"))
	fe := fileError(t, err)
	if !strings.Contains(fe.Problem, "no such file") {
		t.Errorf("got %q", err)
	}
}

func TestLoadDirectory(t *testing.T) {
	_, err := Load(t.TempDir())
	fileError(t, err)
}

func TestHugeValuesAreCutShort(t *testing.T) {
	huge := strings.Repeat("a", 100_000)
	for _, text := range []string{
		"rules:\n  " + huge + ": {severity: off}\n",
		"thresholds:\n  minReplicas: " + huge + "\n",
		"waivers:\n  - {app: a, rule: " + huge + ", reason: r, expires: 2027-01-01}\n",
	} {
		_, err := parse("p.yaml", []byte(text))
		fileError(t, err)
		if len(err.Error()) > 600 {
			t.Errorf("message is %d bytes long: %.200s", len(err.Error()), err)
		}
	}
}

func TestLoadEmptyPathIsBuiltin(t *testing.T) {
	p, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.RuleIDs(), (*Policy)(nil).RuleIDs()) || len(p.RuleIDs()) != len(builtin) {
		t.Errorf("RuleIDs = %v", p.RuleIDs())
	}
}

func loadGood(t *testing.T) *Policy {
	t.Helper()
	p, err := Load(filepath.Join(testdata, "good", "policy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestGoodPolicyFile(t *testing.T) {
	p := loadGood(t)
	ids := p.RuleIDs()
	if n := len(ids); n != len(builtin)+2 || ids[n-2] != "no-debug-port" || ids[n-1] != "image-has-version-label" {
		t.Errorf("RuleIDs = %v", ids)
	}
	severity := map[string]Severity{}
	for _, r := range p.Rules() {
		severity[r.ID] = r.Severity
	}
	for id, want := range map[string]Severity{
		"image-base-annotation": Error, "docs-component": Off, "no-debug-port": Warning,
		"image-has-version-label": Info, "image-signed": Error,
	} {
		if severity[id] != want {
			t.Errorf("%s: severity %q, want %q", id, severity[id], want)
		}
	}
	if ws := p.Waivers(); len(ws) != 2 || ws[0].Expires.Format(dateLayout) != "2027-01-31" || ws[1].App != "api" {
		t.Errorf("waivers = %+v", ws)
	}

	// The thresholds reach the checks: 3 replicas, 5 seconds, another path.
	cfg, in := passing(t)
	in.Chart.README = "" // docs-component is off
	got := map[string]string{}
	for _, f := range p.Check(cfg, in, now) {
		got[f.Rule] = f.Message
	}
	want := map[string]string{
		ruleReplicas:    "replicas is 2; at least 3 are needed",
		ruleGracePeriod: "terminationGracePeriodSeconds is 10; the platform kills pods after 5s",
		ruleProbes:      "checks /healthz/ready, not /actuator/health",
	}
	if len(got) != len(want) {
		t.Errorf("findings %v, want rules of %v", got, want)
	}
	for rule, msg := range want {
		if !strings.Contains(got[rule], msg) {
			t.Errorf("%s: %q does not contain %q", rule, got[rule], msg)
		}
	}
}

func TestPolicyThresholdsWinOverConfig(t *testing.T) {
	p := loadGood(t)
	cfg := p.settle(Config{MinReplicas: 4, MaxGracePeriod: 20, HealthPath: "/health"})
	if cfg.MinReplicas != 3 || cfg.MaxGracePeriod != 5 || cfg.HealthPath != "/actuator/health" {
		t.Errorf("settled %+v", cfg)
	}
	cfg = (*Policy)(nil).settle(Config{MinReplicas: 4})
	if cfg.MinReplicas != 4 || cfg.MaxGracePeriod != DefaultMaxGracePeriod || cfg.HealthPath != DefaultHealthPath {
		t.Errorf("settled %+v", cfg)
	}
}

func TestSeverityOff(t *testing.T) {
	p := mustParse(t, "rules:\n  image-signed: {severity: off}\n  image-non-root: {severity: warning}\n")
	cfg, in := passing(t)
	in.Image.Signature.Verified = false
	in.Image.User = "root"
	fs := p.Check(cfg, in, now)
	if got := ruleIDs(fs); !slices.Equal(got, []string{ruleImageNonRoot}) || fs[0].Severity != Warning {
		t.Errorf("findings %+v", fs)
	}
	if slices.Contains(p.Checked(in), ruleImageSigned) {
		t.Error("Checked lists a rule that is off")
	}
	r := Report{Findings: fs}
	if r.Failed() {
		t.Error("a warning failed the report")
	}
}

func mustParse(t testing.TB, text string) *Policy {
	t.Helper()
	p, err := parse("policy.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// FuzzParse feeds the parser arbitrary files: it must return a policy or a
// *FileError marked as a usage error, never panic, and a policy it returns
// must check an input without panicking.
func FuzzParse(f *testing.F) {
	for _, dir := range []string{"bad", "good"} {
		files, _ := filepath.Glob(filepath.Join(testdata, dir, "*.yaml"))
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	cfg, in := passing(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := parse("fuzz.yaml", data)
		if err != nil {
			var fe *FileError
			if !errors.As(err, &fe) || exit.ClassOf(err) != exit.Usage {
				t.Fatalf("not a usage *FileError: %v", err)
			}
			return
		}
		p.Check(cfg, in, now)
	})
}
