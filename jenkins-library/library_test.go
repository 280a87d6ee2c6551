// Package jenkinslibrary holds the Go side of the Jenkins shared library's
// tests: `go test` (and so `make test`) runs the library's Groovy tests on
// Debian's Groovy 2.4, the language level Jenkins pipelines run, checks
// that every global variable has a help page and a test, and keeps the
// library's view of stepper (the configuration fixtures, the STEPPER_*
// variables its credentials set) true to the binary.
package jenkinslibrary

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/stepper-cd/stepper/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite test/fixtures/config-*.json from the stepper binary")

// groovyResult is one line test/run.groovy prints per test.
type groovyResult struct {
	Test    string `json:"test"`
	Status  string `json:"status"`
	Message string `json:"message"`
	Trace   string `json:"trace"`
}

// runGroovy runs the library's Groovy tests whose file names contain only
// ("" for all), one subtest per Groovy test.
func runGroovy(t *testing.T, only string, env ...string) {
	t.Helper()
	groovy := testenv.RequireTool(t, "groovy")
	cmd := exec.CommandContext(t.Context(), groovy, "test/run.groovy", ".", only)
	cmd.Env = append(append(os.Environ(), "JAVA_HOME="+javaHome()), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var results []groovyResult
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r groovyResult
		if json.Unmarshal(sc.Bytes(), &r) == nil && r.Test != "" {
			results = append(results, r)
		}
	}
	if len(results) == 0 {
		t.Fatalf("groovy test/run.groovy ran no test (%v)\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	failed := false
	for _, r := range results {
		t.Run(r.Test, func(t *testing.T) {
			switch r.Status {
			case "fail":
				failed = true
				t.Errorf("%s\n%s", r.Message, r.Trace)
			case "skip":
				t.Skip(r.Message)
			}
		})
	}
	if err != nil && !failed {
		t.Errorf("groovy test/run.groovy: %v, with no test failed\nstderr:\n%s", err, stderr.String())
	}
	if testing.Verbose() || t.Failed() {
		if s := strings.TrimSpace(stderr.String()); s != "" {
			t.Logf("groovy's stderr:\n%s", s)
		}
	}
}

// TestGroovy runs every unit and pipeline test of the library (the
// end-to-end run has its own test, TestPromotionJobEndToEnd).
func TestGroovy(t *testing.T) {
	runGroovy(t, "")
}

func javaHome() string {
	if h := os.Getenv("JAVA_HOME"); h != "" {
		return h
	}
	return "/usr/lib/jvm/java-17-openjdk-amd64"
}

// TestEveryGlobalVariableHasHelpAndATest: a vars/NAME.groovy without
// vars/NAME.txt is a step nobody can look up in Jenkins' snippet
// generator, and one that no test under test/vars calls is untested.
func TestEveryGlobalVariableHasHelpAndATest(t *testing.T) {
	vars, err := filepath.Glob("vars/*.groovy")
	if err != nil || len(vars) == 0 {
		t.Fatalf("no global variables under vars/: %v", err)
	}
	var tests []string
	err = filepath.WalkDir("test/vars", func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, "Test.groovy") {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			tests = append(tests, string(b))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vars {
		name := strings.TrimSuffix(filepath.Base(v), ".groovy")
		help, err := os.ReadFile(strings.TrimSuffix(v, ".groovy") + ".txt")
		switch {
		case err != nil:
			t.Errorf("%s has no help page vars/%s.txt: %v", name, name, err)
		case !strings.Contains(string(help), name):
			t.Errorf("vars/%s.txt does not name %s", name, name)
		}
		called := regexp.MustCompile(`\b` + name + `\(|'` + name + `'`)
		found := false
		for _, src := range tests {
			if called.MatchString(src) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("no test under test/vars calls %s", name)
		}
	}
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
	binOut  []byte
)

// stepperBinary is the stepper binary, built once for this package.
func stepperBinary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "stepper-jenkins-lib-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "stepper")
		binOut, binErr = exec.Command("go", "build", "-o", binPath, "github.com/stepper-cd/stepper/cmd/stepper").CombinedOutput()
	})
	if binErr != nil {
		t.Fatalf("go build: %v\n%s", binErr, binOut)
	}
	return binPath
}

// The library reads `stepper config show --output json` for the chain, the
// routes and the promoters; its tests answer with fixtures. They must be
// what this stepper prints for the samples.
func TestConfigFixturesAreTheBinarysOutput(t *testing.T) {
	bin := stepperBinary(t)
	for name, args := range map[string][]string{
		"ehealth-vendor": {"-c", "ehealth-helmsman.yaml", "--platform-config", "ehealth-platform.yaml"},
		"shop":           {"-c", "shop-flux.yaml"},
	} {
		cmd := exec.CommandContext(t.Context(), bin, append(args, "config", "show", "--output", "json")...)
		cmd.Dir = filepath.Join("..", "testdata", "config")
		cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
		got, err := cmd.Output()
		if err != nil {
			t.Fatalf("stepper config show for %s: %v", name, err)
		}
		// Key files print as absolute paths: the fixture holds them
		// relative to the checkout, wherever it was cloned.
		root, err := filepath.Abs("..")
		if err != nil {
			t.Fatal(err)
		}
		got = bytes.ReplaceAll(got, []byte(root+"/"), []byte("$CHECKOUT/"))
		file := filepath.Join("test", "fixtures", "config-"+name+".json")
		if *update {
			if err := os.WriteFile(file, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(bytes.TrimSpace(got), bytes.TrimSpace(want)) {
			t.Errorf("%s is not what stepper config show prints now; run go test ./jenkins-library -run ConfigFixtures -update and review the diff", file)
		}
	}
}

// Every STEPPER_* variable the library sets for a bound credential must
// name a configuration key stepper knows (one that names none is only
// warned about and ignored, and the credential would silently not be
// used), and its env:// or file:// reference must reach the key.
func TestCredentialVariablesAreStepperKeys(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("src", "dev", "stepper", "jenkins", "Credentials.groovy"))
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, m := range regexp.MustCompile(`\b(STEPPER_[A-Z_]+)\s*:`).FindAllStringSubmatch(string(src), -1) {
		names[m[1]] = true
	}
	if len(names) < 8 {
		t.Fatalf("found only %d STEPPER_* variables in Credentials.groovy: %v", len(names), names)
	}
	keyFile := filepath.Join(t.TempDir(), "cosign.key")
	if err := os.WriteFile(keyFile, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	// One run per credential: some keys exclude each other (a Docker config
	// or a username and password), and a user goes with its password.
	groups := map[string][]string{}
	for n := range names {
		g := n
		for _, pair := range []string{"STEPPER_REGISTRY_CREDENTIALS_", "STEPPER_JENKINS_"} {
			if strings.HasPrefix(n, pair) && !strings.HasSuffix(n, "_DOCKER_CONFIG") {
				g = pair
			}
		}
		groups[g] = append(groups[g], n)
	}
	for _, group := range groups {
		sort.Strings(group)
		env := []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
		for _, n := range group {
			value := "env://CANARY_VARIABLE"
			switch {
			case strings.HasSuffix(n, "_KEY"):
				value = "file://" + keyFile
			case strings.HasSuffix(n, "_DOCKER_CONFIG"):
				value = keyFile // a path, not a reference
			}
			env = append(env, n+"="+value)
		}
		cmd := exec.CommandContext(t.Context(), stepperBinary(t), "config", "show", "--sources", "--log-format", "json")
		cmd.Dir, cmd.Env = t.TempDir(), env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("stepper config show with %v: %v\n%s", group, err, out)
			continue
		}
		for _, n := range group {
			if !strings.Contains(string(out), "env "+n) {
				t.Errorf("stepper config show --sources does not show a key set by %s:\n%s", n, out)
			}
		}
		if strings.Contains(string(out), "names no key") {
			t.Errorf("stepper warns about a variable of %v, which the library sets:\n%s", group, out)
		}
	}
}
