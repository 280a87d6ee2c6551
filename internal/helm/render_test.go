package helm_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/helm"
)

// rendered is one object as a test compares it: where it came from and the
// object normalised through JSON, so int, int64 and float64 compare equal.
type rendered struct {
	Template string
	Object   any
}

func normalise(t testing.TB, v any) any {
	t.Helper()
	js, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(js, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

var (
	docSeparator = regexp.MustCompile(`(?m)^---\s*$`)
	sourceLine   = regexp.MustCompile(`(?m)^# Source: (.+)$`)
)

// helmTemplate runs the real `helm template` and decodes its output with
// another YAML library than the one Render uses.
func helmTemplate(t testing.TB, args ...string) []rendered {
	t.Helper()
	out := helmCLI(t, append([]string{"template"}, args...)...)
	var objs []rendered
	source := ""
	for _, doc := range docSeparator.Split(out, -1) {
		// A file of several documents, such as a CRD file, has its
		// "# Source:" line only before the first.
		if m := sourceLine.FindStringSubmatch(doc); m != nil {
			source = m[1]
		}
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			t.Fatalf("helm template output: %v\n%s", err, doc)
		}
		if obj == nil {
			continue
		}
		if source == "" {
			t.Fatalf("helm template output has no # Source: line:\n%s", doc)
		}
		objs = append(objs, rendered{Template: source, Object: normalise(t, obj)})
	}
	return objs
}

func ours(t testing.TB, objs []helm.Object) []rendered {
	out := make([]rendered, len(objs))
	for i, o := range objs {
		out[i] = rendered{Template: o.Template, Object: normalise(t, o.Object)}
	}
	return out
}

func writeValues(t testing.TB, content string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(f, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// Render gives the same objects, in the same order and from the same
// templates, as `helm template` of the helm v4 CLI.
func TestRenderMatchesHelmTemplate(t *testing.T) {
	repo := serveRepo(t, packageWeb(t, webVersions...))
	c := newClient(t)
	envValues := writeValues(t, "cache:\n  enabled: true\nconfig:\n  EXTRA: x\n")
	// Values is the first values file; for the CLI it is one.
	baseValues := map[string]any{"pdb": map[string]any{"minAvailable": 2}, "replicaCount": 3}
	baseFile := writeValues(t, "pdb:\n  minAvailable: 2\nreplicaCount: 3\n")

	sources := []struct {
		name string
		ref  helm.ChartRef
		cli  string // the chart as the CLI is given it
	}{
		{"directory", helm.ChartRef{Path: "testdata/charts/web"}, "testdata/charts/web"},
		{"repository", helm.ChartRef{Repo: repo.URL, Name: "web", Version: "1.1.0"}, filepath.Join(repo.Dir, "web-1.1.0.tgz")},
	}
	cases := []struct {
		name string
		opts helm.RenderOptions
		cli  []string // release name, then flags
	}{
		// No --kube-version: DefaultKubeVersion must be what the CLI assumes.
		{"defaults", helm.RenderOptions{}, []string{"release-name", "--namespace", "default", "--skip-tests"}},
		{"values", helm.RenderOptions{
			Release: "shop", Namespace: "prod", KubeVersion: "1.30.2",
			Values:     baseValues,
			ValueFiles: []string{envValues},
			Set:        []string{"autoscaling.enabled=false", "replicaCount=5", "config.LOG_LEVEL=debug"},
			SetString:  []string{"image.tag=2.0"},
		}, []string{"shop", "--namespace", "prod", "--kube-version", "1.30.2", "--skip-tests",
			"-f", baseFile, "-f", envValues,
			"--set", "autoscaling.enabled=false", "--set", "replicaCount=5", "--set", "config.LOG_LEVEL=debug",
			"--set-string", "image.tag=2.0"}},
		{"tests and CRDs", helm.RenderOptions{Release: "web", IncludeTests: true, IncludeCRDs: true},
			[]string{"web", "--namespace", "default", "--include-crds"}},
	}
	for _, src := range sources {
		ch, err := c.Load(t.Context(), src.ref)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range cases {
			t.Run(src.name+"/"+tc.name, func(t *testing.T) {
				objs, err := c.Render(t.Context(), ch, tc.opts)
				if err != nil {
					t.Fatal(err)
				}
				got := ours(t, objs)
				want := helmTemplate(t, append([]string{tc.cli[0], src.cli}, tc.cli[1:]...)...)
				if len(got) < 7 {
					t.Errorf("only %d objects rendered", len(got))
				}
				if !reflect.DeepEqual(got, want) {
					g, _ := json.MarshalIndent(got, "", " ")
					w, _ := json.MarshalIndent(want, "", " ")
					t.Errorf("Render differs from helm template\n--- Render:\n%s\n--- helm template:\n%s", g, w)
				}
			})
		}
	}
}

func TestRenderObjects(t *testing.T) {
	c := newClient(t)
	ch, err := c.Load(t.Context(), helm.ChartRef{Path: "testdata/charts/web"})
	if err != nil {
		t.Fatal(err)
	}
	objs, err := c.Render(t.Context(), ch, helm.RenderOptions{Release: "web"})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, o := range objs {
		kinds = append(kinds, o.Object["kind"].(string))
		switch o.Object["kind"] {
		case "Job":
			if strings.Join(o.Hook, ",") != "pre-install,pre-upgrade" || o.Template != "web/templates/migrations-job.yaml" {
				t.Errorf("hook job: Hook %v, Template %s", o.Hook, o.Template)
			}
		case "Service":
			// Whole numbers decode as int64, as in unstructured objects.
			port := o.Object["spec"].(map[string]any)["ports"].([]any)[0].(map[string]any)["port"]
			if port != int64(80) {
				t.Errorf("service port = %#v, want int64(80)", port)
			}
		case "Pod":
			t.Error("the test hook is rendered without IncludeTests")
		}
	}
	// Install order, hooks last.
	want := "PodDisruptionBudget ServiceAccount ConfigMap Service Deployment HorizontalPodAutoscaler Job"
	if got := strings.Join(kinds, " "); got != want {
		t.Errorf("kinds = %s, want %s", got, want)
	}
}

// Helm drops disabled dependencies from the chart it renders; a cached
// chart must not remember that for the next render.
func TestRenderDependencyConditionsDoNotStick(t *testing.T) {
	c := newClient(t)
	ch, err := c.Load(t.Context(), helm.ChartRef{Path: "testdata/charts/web"})
	if err != nil {
		t.Fatal(err)
	}
	hasCache := func(opts helm.RenderOptions) bool {
		t.Helper()
		objs, err := c.Render(t.Context(), ch, opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			if o.Template == "web/charts/cache/templates/configmap.yaml" {
				return true
			}
		}
		return false
	}
	for i, tc := range []struct {
		set  []string
		want bool
	}{{nil, false}, {[]string{"cache.enabled=true"}, true}, {nil, false}, {[]string{"cache.enabled=true"}, true}} {
		if got := hasCache(helm.RenderOptions{Set: tc.set}); got != tc.want {
			t.Errorf("render %d with %v: cache subchart rendered = %v, want %v", i, tc.set, got, tc.want)
		}
	}

	// Many renders of one chart at once, each with its own values.
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			on := i%2 == 0
			objs, err := c.Render(t.Context(), ch, helm.RenderOptions{Set: []string{"cache.enabled=" + map[bool]string{true: "true", false: "false"}[on]}})
			if err != nil {
				t.Error(err)
				return
			}
			found := false
			for _, o := range objs {
				found = found || o.Template == "web/charts/cache/templates/configmap.yaml"
			}
			if found != on {
				t.Errorf("concurrent render %d: cache rendered = %v, want %v", i, found, on)
			}
		})
	}
	wg.Wait()
}

func TestRenderErrors(t *testing.T) {
	c := newClient(t)
	ctx := t.Context()
	web, err := c.Load(ctx, helm.ChartRef{Path: "testdata/charts/web"})
	if err != nil {
		t.Fatal(err)
	}
	broken, err := c.Load(ctx, helm.ChartRef{Path: "testdata/charts/broken"})
	if err != nil {
		t.Fatal(err)
	}
	badDir := t.TempDir()
	writeChart(t, badDir, "bad", map[string]string{
		"templates/ok.yaml":       "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ok\n",
		"templates/unclosed.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name\n",
	})
	notYAMLDir := t.TempDir()
	writeChart(t, notYAMLDir, "notyaml", map[string]string{
		"templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  labels: {{ .Release.Name }}: [\n",
	})
	libDir := t.TempDir()
	writeChart(t, libDir, "lib", map[string]string{"templates/_x.tpl": `{{ define "x" }}{{ end }}`})
	if err := os.WriteFile(filepath.Join(libDir, "Chart.yaml"), []byte("apiVersion: v2\nname: lib\nversion: 0.1.0\ntype: library\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	load := func(dir string) *helm.LoadedChart {
		ch, err := c.Load(ctx, helm.ChartRef{Path: dir})
		if err != nil {
			t.Fatal(err)
		}
		return ch
	}

	for _, tc := range []struct {
		name     string
		ch       *helm.LoadedChart
		opts     helm.RenderOptions
		class    exit.Class
		template string
		line     int
		want     string
		cli      []string // when set, `helm template` must fail with the same message
	}{
		{"required value", broken, helm.RenderOptions{}, exit.Failed, "broken/templates/configmap.yaml", 6,
			"execution error at (broken/templates/configmap.yaml:6:10): image.tag is required", []string{"x", "testdata/charts/broken"}},
		{"parse error", load(badDir), helm.RenderOptions{}, exit.Failed, "bad/templates/unclosed.yaml", 5,
			"parse error at (bad/templates/unclosed.yaml:5): unclosed action", []string{"x", badDir}},
		{"not YAML", load(notYAMLDir), helm.RenderOptions{}, exit.Failed, "", 0,
			"YAML parse error on notyaml/templates/cm.yaml", []string{"x", notYAMLDir}},
		{"schema", web, helm.RenderOptions{Set: []string{"replicaCount=-1"}}, exit.Failed, "", 0,
			"replicaCount", nil},
		{"kube version", web, helm.RenderOptions{KubeVersion: "1.20.0"}, exit.Failed, "", 0,
			"chart requires kubeVersion >=1.25.0-0", nil},
		{"library chart", load(libDir), helm.RenderOptions{}, exit.Failed, "", 0, "library chart", nil},
		{"bad --set", web, helm.RenderOptions{Set: []string{"a[x]=1"}}, exit.Usage, "", 0, `set "a[x]=1"`, nil},
		{"missing values file", web, helm.RenderOptions{ValueFiles: []string{"nope.yaml"}}, exit.Usage, "", 0,
			"nope.yaml", nil},
		{"bad kube version", web, helm.RenderOptions{KubeVersion: "one"}, exit.Usage, "", 0, `kube version "one"`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Render(ctx, tc.ch, tc.opts)
			if err == nil {
				t.Fatal("Render succeeded")
			}
			if got := exit.ClassOf(err); got != tc.class {
				t.Errorf("class = %v, want %v: %v", got, tc.class, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			var re *helm.RenderError
			if tc.class == exit.Failed {
				if !errors.As(err, &re) {
					t.Fatalf("%v is not a RenderError", err)
				}
				if re.Template != tc.template || re.Line != tc.line {
					t.Errorf("RenderError at %s:%d, want %s:%d", re.Template, re.Line, tc.template, tc.line)
				}
			}
			if tc.cli != nil {
				_, stderr, err := runHelm(t, append([]string{"template"}, tc.cli...)...)
				if err == nil || !strings.Contains(stderr, tc.want) {
					t.Errorf("helm template says %q, want it to contain %q like Render", stderr, tc.want)
				}
			}
		})
	}
}

// writeChart writes a minimal chart named name into dir.
func writeChart(t testing.TB, dir, name string, files map[string]string) {
	t.Helper()
	files["Chart.yaml"] = "apiVersion: v2\nname: " + name + "\nversion: 0.1.0\n"
	for p, content := range files {
		p = filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
