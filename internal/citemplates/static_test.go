package citemplates

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// templatesDir holds the components, laid out as the CI/CD catalog wants
// them: templates/<name>.yml at the root of the components project.
var templatesDir = filepath.Join("..", "..", "ci-templates", "templates")

// verbs are the components that each run one stepper verb; four-phase
// wires them together.
var verbs = []string{"build-sign-push", "validate", "deploy", "smoke-test", "promote", "rollback"}

// template is one component file: its spec header and its jobs.
type template struct {
	name   string
	inputs map[string]input
	body   string         // the text after the header, where inputs are used
	jobs   map[string]job // by name as written, interpolations and all
	// include is four-phase's: the components it includes, with inputs.
	include []include
}

type input struct {
	Type        string `yaml:"type"`
	Description string `yaml:"description"`
	Default     any    `yaml:"default"`
	Regex       string `yaml:"regex"`
	Options     []any  `yaml:"options"`
}

type job struct {
	Stage         string         `yaml:"stage"`
	Image         map[string]any `yaml:"image"`
	Variables     map[string]any `yaml:"variables"`
	Environment   *environment   `yaml:"environment"`
	ResourceGroup string         `yaml:"resource_group"`
	Needs         any            `yaml:"needs"`
	Dependencies  []string       `yaml:"dependencies"`
	Rules         any            `yaml:"rules"`
	Interruptible *bool          `yaml:"interruptible"`
	Script        []string       `yaml:"script"`
	Artifacts     struct {
		When    string            `yaml:"when"`
		Paths   []string          `yaml:"paths"`
		Reports map[string]string `yaml:"reports"`
	} `yaml:"artifacts"`
	Other map[string]any `yaml:",inline"`
}

type environment struct {
	Name           string `yaml:"name"`
	URL            string `yaml:"url"`
	DeploymentTier string `yaml:"deployment_tier"`
	Action         string `yaml:"action"`
}

type include struct {
	Local  string           `yaml:"local"`
	Inputs map[string]any   `yaml:"inputs"`
	Rules  []map[string]any `yaml:"rules"`
}

func loadTemplate(t *testing.T, name string) *template {
	t.Helper()
	path := filepath.Join(templatesDir, name+".yml")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	header, body, ok := bytes.Cut(raw, []byte("\n---\n"))
	if !ok {
		t.Fatalf("%s: no spec header: a component is a spec:inputs document, ---, then its jobs", path)
	}
	var spec struct {
		Spec struct {
			Inputs map[string]input `yaml:"inputs"`
		} `yaml:"spec"`
	}
	if err := strictYAML(header, &spec); err != nil {
		t.Fatalf("%s: header: %v", path, err)
	}
	tpl := &template{name: name, inputs: spec.Spec.Inputs, body: string(body), jobs: map[string]job{}}
	var top map[string]yaml.Node
	if err := yaml.Unmarshal(body, &top); err != nil {
		t.Fatalf("%s: jobs: %v", path, err)
	}
	for key, node := range top {
		switch {
		case key == "include":
			if err := node.Decode(&tpl.include); err != nil {
				t.Fatalf("%s: include: %v", path, err)
			}
		case slices.Contains(globalKeywords, key):
			t.Errorf("%s: the global keyword %s: a component leaves the pipeline's globals to the project that includes it", path, key)
		default:
			var j job
			if err := node.Decode(&j); err != nil {
				t.Fatalf("%s: job %s: %v", path, key, err)
			}
			tpl.jobs[key] = j
		}
	}
	return tpl
}

// globalKeywords are the top-level keywords that are not jobs.
var globalKeywords = []string{"default", "workflow", "stages", "variables", "image", "services", "cache", "before_script", "after_script", "spec"}

// strictYAML decodes b into v and fails on unknown keys.
func strictYAML(b []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

func allTemplates(t *testing.T) []*template {
	t.Helper()
	var out []*template
	for _, name := range append(slices.Clone(verbs), "four-phase") {
		out = append(out, loadTemplate(t, name))
	}
	files, _ := filepath.Glob(filepath.Join(templatesDir, "*"))
	if len(files) != len(out) {
		t.Errorf("%s holds %d entries, want the %d components %v and nothing else", templatesDir, len(files), len(out), append(slices.Clone(verbs), "four-phase"))
	}
	return out
}

var interpolation = regexp.MustCompile(`\$\[\[\s*inputs\.([A-Za-z0-9_-]+)\s*\]\]`)

// Every input is typed, described and used, and every use names a
// declared input.
func TestInputsAreTypedDescribedAndUsed(t *testing.T) {
	for _, tpl := range allTemplates(t) {
		used := map[string]bool{}
		for _, m := range interpolation.FindAllStringSubmatch(tpl.body, -1) {
			used[m[1]] = true
			if _, ok := tpl.inputs[m[1]]; !ok {
				t.Errorf("%s uses inputs.%s, which its spec does not declare", tpl.name, m[1])
			}
		}
		if strings.Contains(strings.ReplaceAll(tpl.body, "$[[ inputs.", ""), "$[[") {
			t.Errorf("%s interpolates something other than a plain input (functions are not checked here)", tpl.name)
		}
		for _, name := range slices.Sorted(maps.Keys(tpl.inputs)) {
			in := tpl.inputs[name]
			if !slices.Contains([]string{"string", "boolean", "number", "array"}, in.Type) {
				t.Errorf("%s: input %s has type %q; give string, boolean, number or array", tpl.name, name, in.Type)
			}
			if len(strings.Fields(in.Description)) < 3 {
				t.Errorf("%s: input %s has no description worth the name: %q", tpl.name, name, in.Description)
			}
			if !used[name] {
				t.Errorf("%s: input %s is declared but never used", tpl.name, name)
			}
			if in.Regex != "" && in.Default != nil {
				re, err := regexp.Compile(in.Regex)
				if err != nil {
					t.Errorf("%s: input %s: regex: %v", tpl.name, name, err)
				} else if s, ok := in.Default.(string); ok && !re.MatchString(s) {
					t.Errorf("%s: input %s: its default %q fails its own regex %s", tpl.name, name, s, in.Regex)
				}
			}
			if len(in.Options) > 0 && in.Default != nil && !slices.Contains(in.Options, in.Default) {
				t.Errorf("%s: input %s: its default %v is not one of its options %v", tpl.name, name, in.Default, in.Options)
			}
		}
	}
}

// The image is stepper's, by version (never latest) and optionally by
// digest; the version a template names by default is the same everywhere.
func TestImagesArePinned(t *testing.T) {
	const image = "$[[ inputs.stepper-image ]]:$[[ inputs.stepper-version ]]$[[ inputs.stepper-digest ]]"
	versions := map[any]bool{}
	for _, tpl := range allTemplates(t) {
		for name, j := range tpl.jobs {
			if j.Image["name"] != image {
				t.Errorf("%s: job %s runs image %v, want %s", tpl.name, name, j.Image["name"], image)
			}
		}
		v, d := tpl.inputs["stepper-version"], tpl.inputs["stepper-digest"]
		versions[v.Default] = true
		re, err := regexp.Compile(v.Regex)
		if err != nil || v.Regex == "" {
			t.Errorf("%s: stepper-version needs a regex that refuses moving tags (%v)", tpl.name, err)
			continue
		}
		for _, moving := range []string{"latest", "main", "1", "1.2", ""} {
			if re.MatchString(moving) {
				t.Errorf("%s: stepper-version accepts %q", tpl.name, moving)
			}
		}
		digest, err := regexp.Compile(d.Regex)
		if err != nil || d.Default != "" || !digest.MatchString("@sha256:"+strings.Repeat("0a", 32)) || digest.MatchString("sha256:") || digest.MatchString("@sha256:abc") {
			t.Errorf("%s: stepper-digest must default to empty and take only @sha256:<64 hex> (regex %q)", tpl.name, d.Regex)
		}
	}
	if len(versions) != 1 {
		t.Errorf("the templates name different default stepper versions: %v", slices.Collect(maps.Keys(versions)))
	}
}

// Every job runs exactly one stepper command, of its component's verb, with
// flags the verb has; everything else is GitLab wiring.
func TestEachJobRunsOneStepperCommand(t *testing.T) {
	bin := stepperBinary(t)
	flags := map[string][]string{}
	for _, verb := range verbs {
		out, err := exec.Command(bin, verb, "--help").CombinedOutput()
		if err != nil {
			t.Fatalf("stepper %s --help: %v\n%s", verb, err, out)
		}
		flags[verb] = regexp.MustCompile(`--\[?(?:no-\])?([a-z0-9-]+)`).FindAllString(string(out), -1)
	}
	for _, tpl := range allTemplates(t) {
		if tpl.name == "four-phase" {
			if len(tpl.jobs) != 0 {
				t.Errorf("four-phase defines jobs %v; it only wires the per-verb components", slices.Collect(maps.Keys(tpl.jobs)))
			}
			continue
		}
		if len(tpl.jobs) == 0 {
			t.Errorf("%s defines no job", tpl.name)
		}
		for name, j := range tpl.jobs {
			if len(j.Script) != 1 {
				t.Errorf("%s: job %s has %d script lines, want the one stepper command", tpl.name, name, len(j.Script))
				continue
			}
			for _, k := range []string{"before_script", "after_script", "extends", "trigger"} {
				if _, ok := j.Other[k]; ok {
					t.Errorf("%s: job %s sets %s: a job is its one stepper command", tpl.name, name, k)
				}
			}
			words := strings.Fields(j.Script[0])
			if len(words) < 2 || words[0] != "stepper" || words[1] != tpl.name {
				t.Errorf("%s: job %s runs %q, want stepper %s", tpl.name, name, j.Script[0], tpl.name)
				continue
			}
			for _, w := range words[2:] {
				if !strings.HasPrefix(w, "--") {
					continue
				}
				flag, _, _ := strings.Cut(w, "=")
				if !slices.ContainsFunc(flags[tpl.name], func(f string) bool { return strings.ReplaceAll(strings.ReplaceAll(f, "[", ""), "]", "") == flag }) {
					t.Errorf("%s: job %s passes %s, which `stepper %s --help` does not list", tpl.name, name, flag, tpl.name)
				}
			}
			for _, shell := range []string{"&&", "||", ";", "|", "`", "$("} {
				if strings.Contains(j.Script[0], shell) {
					t.Errorf("%s: job %s: %q holds shell logic (%s); decisions belong in stepper", tpl.name, name, j.Script[0], shell)
				}
			}
		}
	}
}

// The GitLab wiring of every job: a result file and its reports kept even
// when the step fails; a job that changes an environment is an environment
// deployment with its tier, in the environment's resource group, and never
// interrupted; no stepper job takes another stepper job's dotenv report,
// whose STEPPER_* names are stepper's own flags, except promote, which
// takes the sign job's STEPPER_DIGEST for --digest.
func TestJobWiring(t *testing.T) {
	for _, tpl := range allTemplates(t) {
		for name, j := range tpl.jobs {
			where := fmt.Sprintf("%s: job %s", tpl.name, name)
			if j.Interruptible == nil {
				t.Errorf("%s: interruptible is not set", where)
			}
			// The result file first, then the JUnit and Code Quality reports,
			// kept to be browsed; when: always, since a failure's result is
			// its audit record.
			cmd := j.Script[0]
			want := []string{""}
			if len(j.Artifacts.Paths) > 0 {
				want[0] = j.Artifacts.Paths[0]
			}
			for _, report := range []string{"junit", "codequality"} {
				if file, ok := j.Artifacts.Reports[report]; ok {
					want = append(want, file)
				}
			}
			if j.Artifacts.When != "always" || !strings.HasSuffix(want[0], ".json") || !slices.Equal(j.Artifacts.Paths, want) {
				t.Errorf("%s: artifacts %+v; want paths %v, when: always", where, j.Artifacts, want)
			}
			for report, file := range j.Artifacts.Reports {
				flag := map[string]string{"dotenv": "--dotenv ", "junit": "--junit ", "codequality": "--code-quality "}[report]
				if flag == "" || !strings.Contains(cmd, flag+file) {
					t.Errorf("%s: the %s report %s is not what the command writes", where, report, file)
				}
			}
			if !strings.Contains(cmd, "--result "+j.Artifacts.Paths[0]) {
				t.Errorf("%s: artifact %v is not the command's --result", where, j.Artifacts.Paths)
			}
			for _, v := range []string{"STEPPER_CONFIG", "STEPPER_PLATFORM_CONFIG", "STEPPER_CHAIN", "STEPPER_APP"} {
				if _, ok := j.Variables[v]; !ok {
					t.Errorf("%s: variable %s is not set from its input", where, v)
				}
			}
			changes := j.Environment != nil && (j.Environment.Action == "" || j.Environment.Action == "start")
			switch {
			case changes:
				if j.Interruptible == nil || *j.Interruptible {
					t.Errorf("%s changes %s: it must not be interruptible", where, j.Environment.Name)
				}
				if j.Environment.DeploymentTier != "$[[ inputs.tier ]]" || j.Environment.URL != "$[[ inputs.url ]]" {
					t.Errorf("%s: environment %+v lacks the url and deployment_tier inputs", where, j.Environment)
				}
			case j.Environment != nil && !slices.Contains([]string{"access", "verify", "prepare"}, j.Environment.Action):
				t.Errorf("%s: environment action %q", where, j.Environment.Action)
			}
			if j.Environment != nil && j.Environment.Name == "$[[ inputs.environment ]]" && j.ResourceGroup != "$[[ inputs.job-prefix ]]$[[ inputs.environment ]]" {
				t.Errorf("%s: resource_group %q; every job on an environment shares its resource group", where, j.ResourceGroup)
			}
			if !strings.Contains(name, "build") && j.Needs == nil && j.Dependencies == nil {
				t.Errorf("%s takes every earlier job's artifacts, dotenv reports included; name the ones it reads", where)
			}
			for _, d := range j.Dependencies {
				if d != "$[[ inputs.job-prefix ]]build" {
					t.Errorf("%s takes the artifacts of %s; only the build job's result carries no dotenv report", where, d)
				}
			}
		}
	}
	build := loadTemplate(t, "build-sign-push").jobs["$[[ inputs.job-prefix ]]build"]
	if len(build.Artifacts.Reports) != 0 || build.Environment != nil {
		t.Errorf("the build job has reports %v and environment %+v: it hands its result to stepper jobs (no dotenv) and sees no scoped variable (no environment)", build.Artifacts.Reports, build.Environment)
	}
}

// four-phase includes each per-verb component from this project, passes
// only inputs those declare, and forwards every input it has.
func TestFourPhaseWiresTheComponents(t *testing.T) {
	fp := loadTemplate(t, "four-phase")
	seen := map[string]bool{}
	for _, inc := range fp.include {
		name := strings.TrimSuffix(strings.TrimPrefix(inc.Local, "/templates/"), ".yml")
		if !slices.Contains(verbs, name) || inc.Local != "/templates/"+name+".yml" {
			t.Errorf("four-phase includes %q; want /templates/<verb>.yml of this project", inc.Local)
			continue
		}
		seen[name] = true
		sub := loadTemplate(t, name)
		for k := range inc.Inputs {
			if _, ok := sub.inputs[k]; !ok {
				t.Errorf("four-phase passes %s to %s, which does not declare it", k, name)
			}
		}
		for k, in := range sub.inputs {
			if _, ok := inc.Inputs[k]; !ok && in.Default == nil {
				t.Errorf("four-phase does not pass %s's required input %s", name, k)
			}
		}
	}
	if len(seen) != len(verbs) {
		t.Errorf("four-phase includes %v, want every verb %v", slices.Sorted(maps.Keys(seen)), verbs)
	}
}

var update = flag.Bool("update", false, "rewrite the inputs tables of ci-templates/README.md from the templates")

// The README's inputs tables are the templates' spec headers: every input
// with its type, default and description. `go test -run
// TestReadmeListsEveryInput -update` rewrites them.
func TestReadmeListsEveryInput(t *testing.T) {
	var b strings.Builder
	for _, name := range append(slices.Clone(verbs), "four-phase") {
		tpl := loadTemplate(t, name)
		fmt.Fprintf(&b, "\n### `%s`\n\n| input | type | default | description |\n|---|---|---|---|\n", name)
		for _, in := range inputOrder(t, name) {
			i := tpl.inputs[in]
			def := "required"
			if i.Default != nil {
				j, _ := json.Marshal(i.Default)
				def = "`" + strings.Trim(string(j), `"`) + "`"
				if s, ok := i.Default.(string); ok {
					def = "`" + s + "`"
					if s == "" {
						def = "empty"
					}
				}
			}
			typ := i.Type
			if len(i.Options) > 0 {
				typ += fmt.Sprintf(" (%v)", i.Options)
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", in, typ, strings.ReplaceAll(def, "|", `\|`), strings.ReplaceAll(i.Description, "|", `\|`))
		}
	}
	path := filepath.Join("..", "..", "ci-templates", "README.md")
	readme, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const begin, end = "<!-- inputs:begin -->\n", "<!-- inputs:end -->"
	head, rest, ok1 := strings.Cut(string(readme), begin)
	_, tail, ok2 := strings.Cut(rest, end)
	if !ok1 || !ok2 {
		t.Fatalf("%s has no %q ... %q section", path, begin, end)
	}
	want := head + begin + strings.TrimPrefix(b.String(), "\n") + "\n" + end + tail
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if want != string(readme) {
		t.Errorf("the inputs tables of %s differ from the templates; run go test ./internal/citemplates -run TestReadmeListsEveryInput -update", path)
	}
}

// inputOrder is the order the template's spec declares its inputs in.
func inputOrder(t *testing.T, name string) []string {
	t.Helper()
	raw, _ := os.ReadFile(filepath.Join(templatesDir, name+".yml"))
	header, _, _ := bytes.Cut(raw, []byte("\n---\n"))
	var doc yaml.Node
	if err := yaml.Unmarshal(header, &doc); err != nil {
		t.Fatal(err)
	}
	inputs := doc.Content[0].Content[1].Content[1] // spec: {inputs: {...}}
	var names []string
	for i := 0; i < len(inputs.Content); i += 2 {
		names = append(names, inputs.Content[i].Value)
	}
	return names
}
