package desiredstate

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// helm --set paths with list indexes become real YAML sequences in nested
// formats, stay as they are in Helmsman, and read back as set.
func TestSetValuesWithListIndexes(t *testing.T) {
	set := map[string]string{
		"ingress.hosts[0]":            "shop.example",
		"ingress.hosts[1]":            "www.shop.example",
		"sidecars[0].name":            "proxy",
		"sidecars[0].ports[0]":        "8080",
		"sidecars[0].env[0].value":    "1.10",
		"sidecars[1].name":            "yes",
		"tolerations[0].operator":     "Exists",
		"podAnnotations.checksum\\.x": "010",
	}
	for _, tc := range []struct {
		format Format
		files  map[string][]byte
		file   string
		want   []string
	}{
		{Flux, map[string][]byte{"hr.yaml": []byte(hrHead + "      version: 1.0.0\n  values:\n    # hosts come from the deploy\n    ingress:\n      enabled: true\n")}, "hr.yaml",
			[]string{"      enabled: true\n      hosts: [shop.example, www.shop.example]\n",
				`    sidecars: [{env: [{value: "1.10"}], name: proxy, ports: [8080]}, {name: "yes"}]`}},
		{Helmfile, map[string][]byte{
			"helmfile.yaml": []byte("releases:\n  - name: api\n    chart: charts/api\n    values:\n      - api.yaml\n"),
			"api.yaml":      []byte("# api\nreplicaCount: 2\n")}, "api.yaml",
			[]string{"ingress:\n  hosts: [shop.example, www.shop.example]", "tolerations: [{operator: Exists}]"}},
		{HelmsmanYAML, map[string][]byte{"dev.yaml": []byte("apps:\n  api:\n    chart: charts/api\n    version: 1.0.0\n    set:\n      replicaCount: 2 # two\n")}, "dev.yaml",
			[]string{"      ingress.hosts[0]: shop.example\n", `sidecars[0].env[0].value: "1.10"`}},
		{HelmsmanTOML, map[string][]byte{"dev.toml": []byte("[apps.api]\nchart = \"charts/api\"\nversion = \"1.0.0\"\n[apps.api.set]\nreplicaCount = \"2\"\n")}, "dev.toml",
			[]string{`"ingress.hosts[1]" = "www.shop.example"`}},
	} {
		t.Run(string(tc.format), func(t *testing.T) {
			doc := mustOpenFiles(t, tc.format, tc.files)
			if changed, err := doc.SetValues("api", set); err != nil || !changed {
				t.Fatalf("set: %v %v", changed, err)
			}
			out := string(doc.Files()[tc.file])
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("file lacks %q:\n%s", w, out)
				}
			}
			again := mustOpenFiles(t, tc.format, doc.Files())
			a, _ := again.App("api")
			for k, v := range set {
				if a.Values()[k] != v {
					t.Errorf("%s reads back as %q, want %q", k, a.Values()[k], v)
				}
			}
			if changed, err := doc.SetValues("api", set); err != nil || changed {
				t.Errorf("repeat: %v %v", changed, err)
			}
		})
	}
}

func TestSetValuesListIndexesRefused(t *testing.T) {
	src := hrHead + "      version: 1.0.0\n  values:\n    hosts:\n      - a.example # the first\n"
	for _, tc := range []struct {
		values map[string]string
		err    string
	}{
		{map[string]string{"hosts[1]": "b.example"}, "hr.yaml:14:9"},
		{map[string]string{"extra[1]": "b"}, "extra[0] is missing"},
		{map[string]string{"extra[0]": "a", "extra[0].b": "c"}, "both as a value"},
		{map[string]string{"extra[x]": "a"}, "not a list index"},
		{map[string]string{"extra[0": "a"}, "never closed"},
	} {
		doc := mustOpenFiles(t, Flux, map[string][]byte{"hr.yaml": []byte(src)})
		changed, err := doc.SetValues("api", tc.values)
		if changed {
			t.Errorf("%v: changed", tc.values)
		}
		wantErr(t, err, tc.err)
	}
	// An existing item is set in place.
	doc := mustOpenFiles(t, Flux, map[string][]byte{"hr.yaml": []byte(src)})
	if changed, err := doc.SetValues("api", map[string]string{"hosts[0]": "c.example"}); err != nil || !changed ||
		!strings.Contains(string(doc.Files()["hr.yaml"]), "      - c.example # the first\n") {
		t.Errorf("in place: %v %v\n%s", changed, err, doc.Files()["hr.yaml"])
	}
}

func TestFlattenValues(t *testing.T) {
	src := `# values for the deploy
image:
  repository: r.example/api
  tag: "1.10"
replicaCount: 3
ingress:
  enabled: true
  hosts: [shop.example, www.shop.example]
  annotations:
    cert-manager.io/cluster-issuer: letsencrypt
sidecars:
  - name: proxy
    ports: [8080, 8443]
nothing: null
price: "$5"
`
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	got, err := FlattenValues(doc)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"image.repository": "r.example/api", "image.tag": "1.10", "replicaCount": "3", "ingress.enabled": "true",
		"ingress.hosts[0]": "shop.example", "ingress.hosts[1]": "www.shop.example",
		`ingress.annotations.cert-manager\.io/cluster-issuer`: "letsencrypt",
		"sidecars[0].name": "proxy", "sidecars[0].ports[0]": "8080", "sidecars[0].ports[1]": "8443", "nothing": "null", "price": "$5",
	}
	if len(got) != len(want) {
		t.Errorf("got %d keys, want %d: %v", len(got), len(want), got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	// The paths set back into a document give the same values.
	d := mustOpenFiles(t, Flux, map[string][]byte{"hr.yaml": []byte(hrHead + "      version: 1.0.0\n  values:\n    replicaCount: 1\n")})
	if _, err := d.SetValues("api", got); err != nil {
		t.Fatal(err)
	}
	a, _ := d.App("api")
	for k, v := range want {
		if a.Values()[k] != v {
			t.Errorf("round trip %s = %q, want %q", k, a.Values()[k], v)
		}
	}
	for _, bad := range []struct{ src, err string }{
		{"a:\n  b[0]: x\n", `key "b[0]"`},
		{"a:\n  list: []\n", "a.list: an empty list"},
		{"a: {}\n", "a: an empty mapping"},
	} {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(bad.src), &m); err != nil {
			t.Fatal(err)
		}
		_, err := FlattenValues(m)
		wantErr(t, err, bad.err)
	}
}
