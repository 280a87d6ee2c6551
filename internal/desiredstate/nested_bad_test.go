package desiredstate

import (
	"errors"
	"strings"
	"testing"
)

const hrHead = "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: api\n  namespace: shop\nspec:\n  interval: 5m\n  chart:\n    spec:\n      chart: service\n"

const miniHelmfile = "environments:\n  prod:\n    values:\n      - versions.yaml\n---\nreleases:\n  - name: api\n    chart: ./charts/service\n    values:\n      - image:\n          tag: {{ .Values.versions.api | quote }}\n        replicaCount: {{ .Values.replicas | default 1 }}\n"

// Bad Flux and helmfile input gives an *Error at file:line:col that says
// what is wrong.
func TestNestedBadInput(t *testing.T) {
	cases := []struct {
		name   string
		format Format
		files  map[string]string
		app    string // when set, the error comes from reading this app
		file   string
		line   int
		want   string
	}{
		{"flux broken yaml", Flux, map[string]string{"hr.yaml": hrHead + "  values:\n    image: [x\n"}, "", "hr.yaml", 11, "invalid YAML"},
		{"flux app twice", Flux, map[string]string{"a.yaml": hrHead, "b.yaml": "---\n" + hrHead}, "", "b.yaml", 5, `app "api" is declared twice (first at a.yaml:1:1)`},
		{"flux no name", Flux, map[string]string{"hr.yaml": strings.Replace(hrHead, "  name: api\n", "", 1)}, "", "hr.yaml", 1, "HelmRelease has no name"},
		{"flux no chart", Flux, map[string]string{"hr.yaml": hrHead[:strings.Index(hrHead, "  chart:")]}, "", "hr.yaml", 7, "names no chart"},
		{"flux not semver", Flux, map[string]string{"hr.yaml": hrHead + "      version: \"1.0\"\n"}, "api", "hr.yaml", 11, `chart version "1.0" is not semver`},
		{"flux bad digest", Flux, map[string]string{"hr.yaml": hrHead + "  values:\n    image:\n      tag: master-1\n      digest: sha256:abc\n"}, "api", "hr.yaml", 14, "is not sha256: followed by 64"},
		{"flux no tag no digest", Flux, map[string]string{"hr.yaml": hrHead + "  values:\n    image:\n      repository: r/api\n"}, "api", "hr.yaml", 13, "neither tag nor digest"},
		{"flux duplicate key", Flux, map[string]string{"hr.yaml": hrHead + "  values:\n    a: 1\n    a: 2\n"}, "", "hr.yaml", 13, `key "a" is declared twice`},
		{"helmfile broken yaml", Helmfile, map[string]string{"helmfile.yaml": "releases:\n  - name: api\n   chart: x\n", "versions.yaml": ""}, "", "helmfile.yaml", 1, "invalid YAML"},
		{"helmfile app twice", Helmfile, map[string]string{"helmfile.yaml": "releases:\n  - name: api\n    chart: x\n  - name: api\n    chart: y\n"}, "", "helmfile.yaml", 4, `app "api" is declared twice`},
		{"helmfile unclosed template", Helmfile, map[string]string{"helmfile.yaml.gotmpl": "releases:\n  - name: {{ .x\n"}, "", "helmfile.yaml.gotmpl", 2, "never closed"},
		{"helmfile undefined version", Helmfile, map[string]string{"helmfile.yaml.gotmpl": miniHelmfile, "versions.yaml": "versions:\n  web: \"1\"\n"}, "", "helmfile.yaml.gotmpl", 11, "which no values file of the environment sets"},
		{"helmfile bad tag in versions", Helmfile, map[string]string{"helmfile.yaml.gotmpl": miniHelmfile, "versions.yaml": "versions:\n  api: \"-bad\"\n"}, "api", "versions.yaml", 2, "is not a valid tag"},
		{"helmfile not semver", Helmfile, map[string]string{"helmfile.yaml": "releases:\n  - name: api\n    chart: x\n    version: latest\n"}, "api", "helmfile.yaml", 4, "is not semver"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string][]byte{}
			for k, v := range tc.files {
				files[k] = []byte(v)
			}
			doc, err := Open(tc.format, files)
			if err == nil && tc.app != "" {
				_, err = doc.App(tc.app)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error is %T, not *Error: %v", err, err)
			}
			if e.File != tc.file || e.Line != tc.line || e.Column == 0 {
				t.Errorf("at %s:%d:%d, want %s:%d: %v", e.File, e.Line, e.Column, tc.file, tc.line, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

func TestNestedEditsRefused(t *testing.T) {
	files := map[string][]byte{"helmfile.yaml.gotmpl": []byte(miniHelmfile), "versions.yaml": []byte("versions:\n  api: \"1.0.0\"\n")}
	doc, err := Open(Helmfile, files)
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		edit func() (bool, error)
		want string
	}{
		"templated value":  {func() (bool, error) { return doc.SetValues("api", map[string]string{"replicaCount": "2"}) }, "helmfile.yaml.gotmpl:12:23: replicaCount of app \"api\" is templated"},
		"app missing":      {func() (bool, error) { return doc.SetImage("apj", Image{Tag: "1"}) }, `did you mean "api"?`},
		"not semver":       {func() (bool, error) { return doc.SetChartVersion("api", "1.2") }, "not semver"},
		"short digest":     {func() (bool, error) { return doc.SetImage("api", Image{Tag: "1", Digest: "sha256:abc"}) }, "not sha256"},
		"no tag no digest": {func() (bool, error) { return doc.SetImage("api", Image{Repository: "r/api"}) }, "neither tag nor digest"},
	} {
		changed, err := tc.edit()
		if err == nil || changed || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: changed=%v err=%v, want %q", name, changed, err, tc.want)
		}
	}
	if string(doc.Files()["versions.yaml"]) != string(files["versions.yaml"]) || string(doc.Files()["helmfile.yaml.gotmpl"]) != miniHelmfile {
		t.Fatal("a refused edit changed a file")
	}
	// The versions file entry is what the release reads: edit it there.
	if changed, err := doc.SetImage("api", Image{Tag: "1.1.0"}); err != nil || !changed {
		t.Fatalf("set tag: changed=%v err=%v", changed, err)
	}
	if got := string(doc.Files()["versions.yaml"]); got != "versions:\n  api: \"1.1.0\"\n" {
		t.Errorf("versions file: %q", got)
	}
	// A release version read from the versions file is edited there too.
	hf := "environments:\n  prod:\n    values: [versions.yaml]\n---\nreleases:\n  - name: api\n    chart: repo/service\n    version: {{ .Values.charts.api }}\n"
	doc, err = Open("", map[string][]byte{"helmfile.yaml.gotmpl": []byte(hf), "versions.yaml": []byte("charts:\n  api: 1.0.0 # chart\n")})
	if err != nil {
		t.Fatal(err)
	}
	if changed, err := doc.SetChartVersion("api", "1.2.0"); err != nil || !changed {
		t.Fatalf("set version: changed=%v err=%v", changed, err)
	}
	if got := string(doc.Files()["versions.yaml"]); got != "charts:\n  api: 1.2.0 # chart\n" {
		t.Errorf("versions file: %q", got)
	}
	if a, _ := doc.App("api"); a.ChartVersion != "1.2.0" || a.Chart != (Chart{Repo: "repo", Name: "service"}) {
		t.Errorf("app: %+v", a)
	}
}
