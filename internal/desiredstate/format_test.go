package desiredstate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const govData = helmfileData + "/gov"

// copyGov copies the government layout into a fresh checkout (with .git)
// and returns its root.
func copyGov(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	if err := os.CopyFS(root, os.DirFS(govData)); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(root, ".git"), 0o755); err != nil {
		t.Fatal(err)
	}
	return root
}

func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want one with %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("error %q lacks %q", err, p)
		}
	}
}

func TestParseFormat(t *testing.T) {
	for _, tc := range []struct {
		word, path string
		want       Format
	}{
		{"helmsman", "envs/prod.yaml", HelmsmanYAML},
		{"Helmsman", "envs/prod.toml", HelmsmanTOML},
		{"helmfile", "environments/dev/versions.yaml", Helmfile},
		{"flux", "clusters/prod", Flux},
		{"", "x.yaml", ""},
		{"helmsman-toml", "x.toml", HelmsmanTOML},
	} {
		got, err := ParseFormat(tc.word, tc.path)
		if err != nil || got != tc.want {
			t.Errorf("ParseFormat(%q, %q) = %q, %v; want %q", tc.word, tc.path, got, err, tc.want)
		}
	}
	_, err := ParseFormat("helmsman", "envs/prod.json")
	wantErr(t, err, "envs/prod.json", ".toml")
	_, err = ParseFormat("kustomize", "x")
	wantErr(t, err, `"kustomize"`, "helmsman, helmfile or flux")
}

// The government sample: format helmfile, path environments/dev/versions.yaml
// in a checkout whose helmfile is at the root.
func TestLoadHelmfileFromVersionsFile(t *testing.T) {
	root := copyGov(t)
	versions := filepath.Join(root, "environments", "dev", "versions.yaml")
	format, err := ParseFormat("helmfile", versions)
	if err != nil {
		t.Fatal(err)
	}
	for name, opts := range map[string][]Option{
		"named environment":         {WithFormat(format), WithEnvironment("dev"), WithRoot(root)},
		"environment from the path": {WithFormat(format), WithRoot(root)},
		"root from .git":            {WithFormat(format), WithEnvironment("dev")},
	} {
		t.Run(name, func(t *testing.T) {
			doc, err := Load(versions, opts...)
			if err != nil {
				t.Fatal(err)
			}
			apps, err := doc.Apps()
			if err != nil || len(apps) != 2 {
				t.Fatalf("apps %+v, %v", apps, err)
			}
			cw, _ := doc.App("hocs-casework")
			if cw.Image != (Image{Repository: "quay.io/ukhomeofficedigital/hocs-casework", Tag: "3.2.0"}) || cw.ChartVersion != "7.1.0" ||
				cw.Chart.RepoURL != "https://ukhomeofficedigital.github.io/hocs-helm-charts" || cw.Config.Replicas != "1" || cw.Config.Env["SCHEMA_VERSION"] != "010" {
				t.Errorf("hocs-casework: %+v", cw)
			}
			fe, _ := doc.App("hocs-frontend")
			if fe.Image.Tag != "5.1.0" || fe.ChartVersion != "7.0.3" {
				t.Errorf("hocs-frontend: %+v", fe)
			}
			// A release edits the dev versions file and nothing else.
			if changed, err := doc.SetImage("hocs-casework", Image{Repository: "quay.io/ukhomeofficedigital/hocs-casework", Tag: "3.3.0"}); err != nil || !changed {
				t.Fatalf("set image: %v %v", changed, err)
			}
			if changed, err := doc.SetChartVersion("hocs-frontend", "7.0.4"); err != nil || !changed {
				t.Fatalf("set chart version: %v %v", changed, err)
			}
			if err := WriteFiles(root, doc.Files()); err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(versions)
			want, _ := os.ReadFile(filepath.Join(govData, "environments", "dev", "versions.yaml"))
			wantText := strings.Replace(strings.Replace(string(want), `casework: "3.2.0"`, `casework: "3.3.0"`, 1), `hocs-frontend: "7.0.3"`, `hocs-frontend: "7.0.4"`, 1)
			if string(got) != wantText {
				t.Errorf("versions file:\n%s\nwant:\n%s", got, wantText)
			}
			for _, env := range []string{"qa", "prod"} {
				a, _ := os.ReadFile(filepath.Join(root, "environments", env, "versions.yaml"))
				b, _ := os.ReadFile(filepath.Join(govData, "environments", env, "versions.yaml"))
				if string(a) != string(b) {
					t.Errorf("%s versions file changed", env)
				}
			}
			// Put the file back for the next case.
			if err := os.WriteFile(versions, want, 0o644); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestLoadHelmfileFromVersionsFileRefuses(t *testing.T) {
	root := copyGov(t)
	dev := filepath.Join(root, "environments", "dev", "versions.yaml")
	// Read as Helmsman, as it was before the format was honoured: no apps.
	_, err := Load(dev)
	wantErr(t, err, dev, "has no apps")
	// The environment and the file disagree.
	_, err = Load(dev, WithFormat(Helmfile), WithEnvironment("qa"), WithRoot(root))
	wantErr(t, err, dev, `environment "qa"`, "does not read this file")
	// The walk never goes above the root.
	_, err = Load(dev, WithFormat(Helmfile), WithRoot(filepath.Join(root, "environments")))
	wantErr(t, err, "no helmfile", filepath.Join(root, "environments"))
	_, err = Load(dev, WithFormat(Helmfile), WithRoot(t.TempDir()))
	wantErr(t, err, "is not inside the checkout root")
	// Without .git and without a root, how far to walk is unknown.
	bare := t.TempDir()
	if err := os.CopyFS(bare, os.DirFS(govData)); err != nil {
		t.Fatal(err)
	}
	_, err = Load(filepath.Join(bare, "environments", "dev", "versions.yaml"), WithFormat(Helmfile))
	wantErr(t, err, "WithRoot")
	// A values file the environment lists is missing.
	if err := os.Remove(filepath.Join(root, "environments", "dev", "settings.yaml")); err != nil {
		t.Fatal(err)
	}
	_, err = Load(dev, WithFormat(Helmfile), WithEnvironment("dev"), WithRoot(root))
	wantErr(t, err, "helmfile.yaml.gotmpl:12:9", "environments/dev/settings.yaml", "not in the desired state")
}

// helmfile v1 renders a whole helmfile as a Go template only when it is
// named .gotmpl; a plain helmfile.yaml is YAML whose release fields it
// renders one by one (chart, namespace, version, values file paths,
// valuesTemplate). Such a helmfile is read as helmfile renders it (see
// TestPlainHelmfileReleaseTemplates); a template helmfile leaves as
// written, or one that breaks the YAML, is refused at its line.
func TestTemplatedHelmfileYAMLRefused(t *testing.T) {
	for _, tc := range []struct {
		name, src, where, want string
	}{
		{"inline values", `environments:
  dev:
    values:
      - "versions.yaml"
releases:
  - name: api # {{ also fine }}
    chart: charts/api
    values:
      - environments/{{ .Environment.Name }}/api.yaml
      - image:
          tag: "{{ .Values.v }}"
`, "helmfile.yaml:11:16", "does not render a release's inline values"},
		{"environment values path", `environments:
  dev:
    values:
      - "{{ .Environment.Name }}.yaml"
releases:
  - name: api
    chart: charts/api
`, "helmfile.yaml:4:9", "does not render an environment's values file paths"},
		{"whole-file template", `# a {{ comment }} is fine
environments:
  dev:
    values:
      - versions.yaml
releases:
{{- range .Values.apps }}
  - name: {{ . }}
    chart: charts/api
{{- end }}
`, "helmfile.yaml:7:1", "rename it to helmfile.yaml.gotmpl"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string][]byte{"helmfile.yaml": []byte(tc.src), "versions.yaml": []byte("v: 1\napps: [api]\n"),
				"environments/dev/api.yaml": []byte("image:\n  repository: r/api\n  tag: \"1.0\"\n")}
			_, err := Open(Helmfile, files, WithEnvironment("dev"))
			wantErr(t, err, tc.where, tc.want)
		})
	}
}

// A plain helmfile.yaml the way users write it: one environment per
// folder, the namespace, the chart version and the image tag rendered per
// release from the environment's versions file, the digest in the app's
// own values file. Read and edited as helmfile 1.8 renders it (helmfile
// -e ENV build prints hocs-dev, 7.1.0 and the tag from these files).
func TestPlainHelmfileReleaseTemplates(t *testing.T) {
	helmfile := `# {{ .Environment.Name }} in a comment is no template
environments:
  dev:
    values: [environments/dev/versions.yaml]
  qa:
    values: [environments/qa/versions.yaml]
---
templates:
  service: &service
    chart: hocs/hocs-generic-service
    namespace: hocs-{{ .Environment.Name }}
releases:
  - name: hocs-casework
    <<: *service
    version: '{{ index .Values "charts" "hocs-casework" }}'
    values:
      - environments/{{ .Environment.Name }}/values/hocs-casework.yaml
    valuesTemplate:
      - image:
          tag: '{{ index .Values "versions" "hocs-casework" }}'
`
	files := map[string][]byte{
		"helmfile.yaml":                              []byte(helmfile),
		"environments/dev/versions.yaml":             []byte("versions:\n  hocs-casework: \"010\" # a string\ncharts:\n  hocs-casework: 7.1.0\n"),
		"environments/qa/versions.yaml":              []byte("versions:\n  hocs-casework: \"\"\ncharts:\n  hocs-casework: 7.0.3\n"),
		"environments/dev/values/hocs-casework.yaml": []byte("env:\n  LOG_LEVEL: debug\n"),
		"environments/qa/values/hocs-casework.yaml":  []byte("env:\n  LOG_LEVEL: info\n"),
	}
	for env, want := range map[string]App{
		"dev": {Namespace: "hocs-dev", ChartVersion: "7.1.0", Image: Image{Tag: "010"}},
		"qa":  {Namespace: "hocs-qa", ChartVersion: "7.0.3"},
	} {
		doc, err := Open(Helmfile, files, WithEnvironment(env))
		if err != nil {
			t.Fatalf("%s: %v", env, err)
		}
		a, err := doc.App("hocs-casework")
		if err != nil {
			t.Fatalf("%s: %v", env, err)
		}
		if a.Namespace != want.Namespace || a.ChartVersion != want.ChartVersion || a.Image != want.Image {
			t.Errorf("%s: namespace %q, chart version %q, image %+v; want %q, %q, %+v", env, a.Namespace, a.ChartVersion, a.Image, want.Namespace, want.ChartVersion, want.Image)
		}
	}
	doc, err := Open(Helmfile, files, WithEnvironment("qa"))
	if err != nil {
		t.Fatal(err)
	}
	digest := "sha256:" + strings.Repeat("a", 64)
	if _, err := doc.SetImage("hocs-casework", Image{Repository: "registry.example/hocs/hocs-casework", Tag: "1.0.0", Digest: digest}); err != nil {
		t.Fatal(err)
	}
	out := doc.Files()
	if v := string(out["environments/qa/versions.yaml"]); !strings.Contains(v, `hocs-casework: "1.0.0"`) || !strings.Contains(v, "hocs-casework: 7.0.3") {
		t.Errorf("qa's versions file:\n%s", v)
	}
	if v := string(out["environments/qa/values/hocs-casework.yaml"]); !strings.Contains(v, "digest: "+digest) || !strings.Contains(v, "LOG_LEVEL: info") {
		t.Errorf("qa's values file:\n%s", v)
	}
	if string(out["helmfile.yaml"]) != helmfile {
		t.Errorf("the helmfile changed:\n%s", out["helmfile.yaml"])
	}
}

// A desired state with no apps is an error in every format.
func TestNoAppsIsAnError(t *testing.T) {
	for _, tc := range []struct {
		format Format
		files  map[string][]byte
		where  string
	}{
		{HelmsmanYAML, map[string][]byte{"dev.yaml": []byte("# nothing yet\nnamespaces:\n  dev: {}\n")}, "dev.yaml"},
		{HelmsmanTOML, map[string][]byte{"dev.toml": []byte("[namespaces.dev]\n")}, "dev.toml"},
		{Flux, map[string][]byte{"ns.yaml": []byte("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n")}, "ns.yaml"},
		{Helmfile, map[string][]byte{"helmfile.yaml": []byte("environments:\n  dev: {}\nreleases: []\n")}, "helmfile.yaml"},
	} {
		_, err := Open(tc.format, tc.files, WithEnvironment("dev"))
		wantErr(t, err, tc.where+": ", "has no apps")
	}
}

// Releases or environments in other helmfiles cannot be read here.
func TestHelmfileBasesRefused(t *testing.T) {
	src := "bases:\n  - common.yaml\nreleases:\n  - name: api\n    chart: r/api\n"
	_, err := Open(Helmfile, map[string][]byte{"helmfile.yaml": []byte(src)})
	wantErr(t, err, "helmfile.yaml:1:1", "bases")
}
