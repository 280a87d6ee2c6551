package desiredstate

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func TestFluxModel(t *testing.T) {
	doc := mustLoad(t, fluxData+"/prod")
	if doc.Format() != Flux {
		t.Fatalf("format %s", doc.Format())
	}
	apps, err := doc.Apps()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range apps {
		names = append(names, a.Name)
	}
	// Files in name order, documents in file order; the ImagePolicy is no app.
	if got := strings.Join(names, " "); got != "design-store apps blog-service news-service" {
		t.Errorf("apps: %s", got)
	}
	b, _ := doc.App("blog-service")
	if b.Namespace != "shop" || b.Chart != (Chart{Repo: "flux-system/shop-charts", Name: "service"}) || b.ChartVersion != "1.4.2" ||
		b.Image != (Image{Repository: "docker.io/hostedshop/blog-service", Tag: "master-4f2a9c1"}) || !b.Enabled ||
		b.Config.Replicas != "3" || b.Config.Env["LOG_LEVEL"] != "info" || b.Config.DNS["ingress.host"] != "blog.shop.example" {
		t.Errorf("blog-service: %+v", b)
	}
	n, _ := doc.App("news-service")
	if n.Values()["worker.resources.limits.memory"] != "256Mi" || n.Image.Tag != "master-77b1e02" {
		t.Errorf("news-service values through the merge key and flow mapping: %+v", n.Values())
	}
	ds, _ := doc.App("design-store")
	if len(ds.ValuesFiles) != 1 || ds.ValuesFiles[0] != "ConfigMap/design-store-values:values.yaml" || ds.ChartVersion != "" {
		t.Errorf("design-store: %+v", ds)
	}
	a, _ := doc.App("apps")
	if a.Chart != (Chart{Repo: "OCIRepository", Name: "apps-chart"}) {
		t.Errorf("apps chartRef: %+v", a.Chart)
	}
	if _, err := doc.SetChartVersion("apps", "1.0.0"); err == nil || !strings.Contains(err.Error(), "spec.chartRef") {
		t.Errorf("chartRef version: %v", err)
	}
	// Editing the anchored mapping through the alias is refused, not
	// applied to every user of the anchor.
	if _, err := doc.SetValues("news-service", map[string]string{"worker.resources.limits.memory": "1Gi"}); err == nil || !strings.Contains(err.Error(), "merge key") {
		t.Errorf("edit through a merge: %v", err)
	}
}

func TestFluxEdgeCases(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		edit      func(Document) (bool, error)
		want      string // in the result
		err       string // or in the error
	}{
		{"empty values", hrHead + "      version: 1.0.0\n  values:\n", setImage("api", Image{Tag: "1.10"}),
			"  values:\n    image:\n      tag: \"1.10\"\n", ""},
		{"crlf", strings.ReplaceAll("---\n"+hrHead+"  values:\n    image:\n      tag: a # pinned by hand\n", "\n", "\r\n"),
			setImage("api", Image{Tag: "b", Digest: digestA}),
			"      tag: b # pinned by hand\r\n      digest: " + digestA + "\r\n", ""},
		{"aliased values", "common: &c {image: {tag: a}}\n---\n" + hrHead + "  values: &v\n    image:\n      tag: a\n  other: *v\n",
			setImage("api", Image{Tag: "b"}), "", "anchor"},
		{"not a mapping", hrHead + "  values:\n    image: repo:a\n", setImage("api", Image{Tag: "b"}), "", "image is not a mapping"},
		{"yes stays a string", hrHead + "  values:\n    env:\n      A: \"1\"\n", setValues("api", map[string]string{"env.B": "yes", "enabled": "true"}),
			"  values:\n    enabled: true\n    env:\n      A: \"1\"\n      B: \"yes\"\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := mustOpenFiles(t, Flux, map[string][]byte{"hr.yaml": []byte(tc.src)})
			changed, err := tc.edit(doc)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || changed {
					t.Fatalf("want an error about %q, got changed=%v %v", tc.err, changed, err)
				}
				return
			}
			if err != nil || !changed {
				t.Fatalf("changed=%v err=%v", changed, err)
			}
			if out := string(doc.Files()["hr.yaml"]); !strings.Contains(out, tc.want) {
				t.Errorf("result lacks %q:\n%s", tc.want, out)
			}
		})
	}
}

func TestHelmfileModel(t *testing.T) {
	doc := mustLoadEnv(t, "prod")
	c, err := doc.App("casework-api")
	if err != nil {
		t.Fatal(err)
	}
	if c.Namespace != "hocs" || c.Chart.Name != "./charts/service" || c.Image.Tag != "3.1.0" || c.Config.Replicas != "3" ||
		len(c.ValuesFiles) != 1 || c.ValuesFiles[0] != "environments/prod/casework-api.yaml" {
		t.Errorf("casework-api: %+v", c)
	}
	a, err := doc.App("audit")
	if err != nil {
		t.Fatal(err)
	}
	if a.Image.Tag != "1.8.4" || a.Config.Replicas != `{{ .Values | get "auditReplicas" 1 }}` {
		t.Errorf("audit: %+v", a)
	}
	notprod := mustLoadEnv(t, "notprod")
	if n, _ := notprod.App("casework-api"); n.Image.Tag != "3.2.0" || n.Config.Env["LOG_LEVEL"] != "debug" {
		t.Errorf("notprod casework-api: %+v", n)
	}
}

func TestOpenDetectsNestedFormats(t *testing.T) {
	flux := map[string][]byte{"hr.yaml": []byte(hrHead)}
	if d, err := Open("", flux); err != nil || d.Format() != Flux {
		t.Errorf("flux: %v", err)
	}
	// Only prod's files: the environment is prod.
	all := mustLoadEnv(t, "prod").Files()
	prod := map[string][]byte{}
	for name, src := range all {
		if !strings.Contains(name, "notprod") {
			prod[name] = src
		}
	}
	d, err := Open("", prod)
	if err != nil || d.Format() != Helmfile {
		t.Fatalf("helmfile: %v", err)
	}
	if c, _ := d.App("casework-api"); c.Image.Tag != "3.1.0" {
		t.Errorf("not prod's view: %+v", c.Image)
	}
	// Both environments' files: which one is meant must be said.
	if _, err := Load(helmfileData); err == nil || !strings.Contains(err.Error(), "WithEnvironment") {
		t.Errorf("ambiguous environment: %v", err)
	}
	if _, err := Load(helmfileData, WithEnvironment("stag")); err == nil || !strings.Contains(err.Error(), `"stag" is not declared`) {
		t.Errorf("unknown environment: %v", err)
	}
	if f, err := DetectFormat("deploy/helmfile.yaml.gotmpl"); err != nil || f != Helmfile {
		t.Errorf("DetectFormat: %s %v", f, err)
	}
	if _, err := Open(Helmfile, map[string][]byte{"a.yaml": nil}); err == nil || !strings.Contains(err.Error(), "one helmfile") {
		t.Errorf("no helmfile: %v", err)
	}
}

// A plain helmfile.yaml (not a template) with no environments is the
// default environment; literal values are edited where they are.
func TestPlainHelmfile(t *testing.T) {
	src := "releases:\n  - name: web # the shop front\n    chart: stable/web\n    version: 2.0.0\n    values:\n      - image: {repository: r/web, tag: '1'}\n    set:\n      - name: replicaCount\n        value: 2\n"
	doc := mustOpenFiles(t, "", map[string][]byte{"helmfile.yaml": []byte(src)})
	w, err := doc.App("web")
	if err != nil || w.Chart != (Chart{Repo: "stable", Name: "web"}) || w.ChartVersion != "2.0.0" || w.Config.Replicas != "2" {
		t.Fatalf("web: %+v %v", w, err)
	}
	for _, edit := range []func(Document) (bool, error){
		setVersion("web", "2.1.0"),
		setImage("web", Image{Repository: "r/web", Tag: "2", Digest: digestB}),
		setValues("web", map[string]string{"replicaCount": "3"}),
	} {
		if changed, err := edit(doc); err != nil || !changed {
			t.Fatalf("changed=%v err=%v", changed, err)
		}
	}
	want := "releases:\n  - name: web # the shop front\n    chart: stable/web\n    version: 2.1.0\n    values:\n      - image: {repository: r/web, tag: '2', digest: '" + digestB + "'}\n    set:\n      - name: replicaCount\n        value: 3\n"
	if got := string(doc.Files()["helmfile.yaml"]); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	if _, err := doc.UnsetValues("web", "replicaCount"); err == nil || !strings.Contains(err.Error(), "list item") {
		t.Errorf("unset of a set entry: %v", err)
	}
	if _, err := doc.App("wbe"); !errors.Is(err, ErrAppNotFound) || !strings.Contains(err.Error(), `did you mean "web"?`) {
		t.Errorf("missing app: %v", err)
	}
}

func mustOpenFiles(t *testing.T, f Format, files map[string][]byte, opts ...Option) Document {
	t.Helper()
	d, err := Open(f, files, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestFuzzSeedsRead(t *testing.T) {
	d := mustLoad(t, "../../testdata/desiredstate/fuzz-seeds/flux-anchors.yaml")
	w, err := d.App("web")
	if err != nil || w.Enabled || w.Config.Replicas != "2" || w.Values()["list[1].b"] != "c" || w.Image.Tag != "master-1" {
		t.Errorf("web: %+v %v", w, err)
	}
	src, err := os.ReadFile("../../testdata/desiredstate/fuzz-seeds/helmfile-control.gotmpl")
	if err != nil {
		t.Fatal(err)
	}
	doc := mustOpenFiles(t, Helmfile, helmfileFiles(src))
	api, err := doc.App("api")
	if err != nil || api.ChartVersion != "1.0.0" || api.Image.Tag != "1.0.0" || !api.Enabled {
		t.Fatalf("api: %+v %v", api, err)
	}
	// Version and tag both read the one versions entry: setting the chart
	// version would move the image too, so the edit is refused.
	if _, err := doc.SetChartVersion("api", "1.1.0"); err == nil || !strings.Contains(err.Error(), "also change what the app reads elsewhere") {
		t.Errorf("shared entry: %v", err)
	}
}
