package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stepper-cd/stepper/internal/report"
)

var update = flag.Bool("update", false, "rewrite golden files")

// canary is a test secret, made for the tests: it must never appear in any output.
const canary = "canary-cli-token-5d2b9e"

type run struct {
	code           int
	stdout, stderr string
}

func runCLI(t testing.TB, environ []string, args ...string) run {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(context.Background(), IO{Args: args, Environ: environ, Stdout: &out, Stderr: &errb})
	return run{code, out.String(), errb.String()}
}

// writeConfig writes a stepper.yaml for a test and returns its path.
func writeConfig(t testing.TB, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "stepper.yaml")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

const shopConfig = `
chain: main
chains:
  main: [staging, production]
registry:
  host: 127.0.0.1:5000
  insecure: true
environments:
  - name: staging
    desiredState: {repo: "https://deploy:` + canary + `@git.example/flux.git", branch: master, path: clusters/staging/api.yaml, format: flux}
    land: {via: commit}
  - name: production
    desiredState: {repo: "https://git.example/flux.git", branch: master, path: clusters/production/api.yaml, format: flux}
    land: {via: commit}
`

func TestHelpEveryCommand(t *testing.T) {
	commands := [][]string{
		{}, {"build-sign-push"}, {"validate"}, {"deploy"}, {"smoke-test"}, {"promote"}, {"rollback"}, {"status"},
		{"local", "up"}, {"local", "status"}, {"local", "down"},
		{"config", "show"}, {"config", "reference"}, {"version"},
	}
	for _, cmd := range commands {
		name := strings.Join(cmd, "-")
		if name == "" {
			name = "stepper"
		}
		t.Run(name, func(t *testing.T) {
			r := runCLI(t, nil, append(cmd, "--help")...)
			if r.code != 0 {
				t.Fatalf("exit %d, stderr: %s", r.code, r.stderr)
			}
			if len(cmd) > 0 && strings.Count(r.stdout, "    stepper ") < 2 {
				t.Errorf("help of %v has fewer than two examples:\n%s", cmd, r.stdout)
			}
			golden(t, filepath.Join("testdata", "help", name+".txt"), r.stdout)
		})
	}
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/cli -update)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run go test ./internal/cli -update if intended):\n%s", path, got)
	}
}

func TestVersion(t *testing.T) {
	r := runCLI(t, nil, "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "stepper ") {
		t.Fatalf("version: %+v", r)
	}
	r = runCLI(t, nil, "version", "--output", "json")
	var v map[string]string
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || v["version"] == "" {
		t.Fatalf("version --output json: %v: %s", err, r.stdout)
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	cfg := writeConfig(t, shopConfig)
	tests := []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"unknown command", []string{"deplo"}, "unexpected argument deplo"},
		{"unknown flag", []string{"version", "--verbose"}, "unknown flag --verbose"},
		{"bad log format", []string{"--log-format", "xml", "version"}, "--log-format"},
		{"missing required env", []string{"deploy", "--app", "api"}, "missing flags: --env"},
		{"rollback targets are exclusive", []string{"rollback", "--env", "staging", "--to-commit", "abc1234", "--previous", "--reason", "x"}, "can't be used together"},
		{"rollback needs a reason", []string{"rollback", "--env", "staging"}, "--reason"},
		{"deploy image without digest", []string{"--config", cfg, "deploy", "--env", "staging", "--image", "api:1.2"}, "has no digest"},
		{"sign phase needs a digest", []string{"build-sign-push", "--phase", "sign"}, "--phase sign needs the image"},
		{"digest outside sign phase", []string{"build-sign-push", "--digest", "x@sha256:ab"}, "only go with --phase sign"},
		{"validate needs something", []string{"validate"}, "nothing to validate"},
		{"promote to itself", []string{"promote", "--from", "staging", "--to", "staging"}, "a promotion goes to another environment"},
		{"bad smoke url", []string{"smoke-test", "--env", "staging", "--url", "ftp://x"}, "want an http"},
		{"bad rollback commit", []string{"rollback", "--env", "staging", "--to-commit", "HEAD~1", "--reason", "x"}, "want a git commit SHA"},
		{"unknown environment", []string{"--config", cfg, "deploy", "--env", "stagin", "--app", "api", "--image", "a:1@sha256:ab"}, "stagin"},
		{"explicit config missing", []string{"--config", filepath.Join(t.TempDir(), "nope.yaml"), "config", "show"}, "nope.yaml"},
		{"no app outside CI", []string{"--config", cfg, "smoke-test", "--env", "staging"}, "--app"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, nil, tt.args...)
			if r.code != 2 {
				t.Errorf("exit %d, want 2; stderr:\n%s", r.code, r.stderr)
			}
			if !strings.Contains(r.stderr, tt.want) {
				t.Errorf("stderr does not say %q:\n%s", tt.want, r.stderr)
			}
		})
	}
}

func TestBadConfigFileSaysWhere(t *testing.T) {
	cfg := writeConfig(t, "registry:\n  host: 127.0.0.1:5000\n  insecure: maybe\n")
	r := runCLI(t, nil, "--config", cfg, "config", "show")
	if r.code != 2 {
		t.Fatalf("exit %d, want 2: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "stepper.yaml:3") || !strings.Contains(r.stderr, "registry.insecure") {
		t.Errorf("error must name file:line and key path:\n%s", r.stderr)
	}
}

func TestPromoteOutOfOrderIsRefused(t *testing.T) {
	cfg := writeConfig(t, `
profile: ehealth
environments:
  - name: inttest
    desiredState: {repo: "https://gitlab.example/dsf.git"}
`)
	r := runCLI(t, nil, "--config", cfg, "promote", "--app", "api", "--from", "inttest", "--to", "preprod")
	if r.code != 1 || !strings.Contains(r.stderr, "inttest → exttest") {
		t.Fatalf("exit %d, want 1 with the chain named; stderr:\n%s", r.code, r.stderr)
	}
}

func TestResultFilesOnFailureAreMaskedAndAudited(t *testing.T) {
	cfg := writeConfig(t, shopConfig)
	dir := t.TempDir()
	result, dotenv, junit := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.env"), filepath.Join(dir, "r.xml")
	environ := []string{"GITLAB_CI=true", "CI_COMMIT_SHA=0123456789abcdef", "CI_COMMIT_REF_NAME=master",
		"GITLAB_USER_LOGIN=alice", "CI_PROJECT_PATH=shop/api", "CI_PROJECT_NAME=api", "CI_JOB_TOKEN=" + canary + "-job"}
	r := runCLI(t, environ, "--config", cfg, "--result", result, "--dotenv", dotenv, "--junit", junit,
		"--log-format", "json", "--log-level", "debug",
		"deploy", "--env", "staging", "--image", "127.0.0.1:5000/shop/api:stag-1@sha256:"+strings.Repeat("a", 64))
	if r.code == 0 {
		t.Fatalf("deploy succeeded without a deploy step: %+v", r)
	}
	if !strings.Contains(r.stderr, `"message":"step started"`) || !strings.Contains(r.stderr, `"user":"alice"`) {
		t.Errorf("no audit log line with the CI user:\n%s", r.stderr)
	}
	for name, text := range map[string]string{"stdout": r.stdout, "stderr": r.stderr} {
		if strings.Contains(text, canary) {
			t.Errorf("%s leaked the secret:\n%s", name, text)
		}
	}
	for _, f := range []string{result, dotenv, junit} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("%s not written on failure: %v", f, err)
		}
		if strings.Contains(string(b), canary) {
			t.Errorf("%s leaked the secret:\n%s", f, b)
		}
	}
	got, err := report.ReadJSON(result)
	if err != nil {
		t.Fatal(err)
	}
	if got.Step != "deploy" || got.Env != "staging" || got.App != "api" || got.ExitCode != r.code || got.Status != report.Errored {
		t.Errorf("result = %+v", got)
	}
	if got.CI.System != "gitlab" || got.CI.User != "alice" || got.CI.CommitSHA != "0123456789abcdef" {
		t.Errorf("result lacks the CI audit fields: %+v", got.CI)
	}
}

func TestConfigShowMasksSecrets(t *testing.T) {
	cfg := writeConfig(t, shopConfig)
	for _, format := range []string{"text", "json"} {
		r := runCLI(t, nil, "--config", cfg, "--output", format, "config", "show")
		if r.code != 0 {
			t.Fatalf("config show: exit %d: %s", r.code, r.stderr)
		}
		if strings.Contains(r.stdout, canary) || !strings.Contains(r.stdout, "staging") {
			t.Errorf("config show (%s) leaked or lost data:\n%s", format, r.stdout)
		}
	}
}

func TestFlagsFromEnvironment(t *testing.T) {
	t.Setenv("STEPPER_OUTPUT", "json")
	r := runCLI(t, nil, "version")
	if !strings.HasPrefix(strings.TrimSpace(r.stdout), "{") {
		t.Errorf("STEPPER_OUTPUT=json ignored: %s", r.stdout)
	}
}

func TestVerbPrintsItsResult(t *testing.T) {
	cfg := writeConfig(t, shopConfig)
	r := runCLI(t, nil, "--config", cfg, "-o", "json", "smoke-test", "--env", "staging", "--app", "api")
	var res report.Result
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("stdout is not the result as JSON: %v\n%s", err, r.stdout)
	}
	if res.Step != "smoke-test" || res.Env != "staging" || res.ExitCode != r.code {
		t.Errorf("result = %+v", res)
	}
	r = runCLI(t, nil, "--config", cfg, "smoke-test", "--env", "staging", "--app", "api")
	if !strings.HasPrefix(r.stdout, "smoke-test staging/api: error") {
		t.Errorf("text summary = %q", r.stdout)
	}
}
