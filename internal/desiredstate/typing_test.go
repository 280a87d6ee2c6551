package desiredstate

import (
	"encoding/json"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// typedValuesEdit is what the platform's tools get to read after a
// SetValues with values that look like numbers: Kubernetes and Helm read
// the file as YAML (sigs.k8s.io/yaml, as kubectl does).
var typedValues = map[string]string{
	"config.ratio":   "1.10",
	"config.code":    "010",
	"config.limit":   ".inf",
	"config.count":   "3",
	"config.offset":  "-7",
	"config.plus":    "+5",
	"config.enabled": "true",
	"config.answer":  "yes",
	"config.none":    "null",
	"config.price":   "$5 # not a comment",
	"config.big":     "1e3",
	"weight":         "1.10", // replaces a plain float in place
}

// wantTyped is the JSON each of typedValues must reach Kubernetes as.
var wantTyped = map[string]string{
	"ratio": `"1.10"`, "code": `"010"`, "limit": `".inf"`, "count": `3`, "offset": `-7`, "plus": `"+5"`,
	"enabled": `true`, "answer": `"yes"`, "none": `"null"`, "price": `"$5 # not a comment"`, "big": `"1e3"`,
}

const typedRelease = `apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: api
  namespace: shop
spec:
  interval: 5m
  chart:
    spec:
      chart: service
      version: 1.0.0
      sourceRef: {kind: HelmRepository, name: charts}
  values:
    weight: 1.5 # a float the chart reads
    image:
      repository: r.example/api
      tag: "1.0"
`

// CheckTypedValues asserts that spec.values as JSON holds every typed
// value as wantTyped says. It is shared with the kube-apiserver check.
func checkTypedValues(t *testing.T, values map[string]any) {
	t.Helper()
	config, _ := values["config"].(map[string]any)
	for k, want := range wantTyped {
		got, _ := json.Marshal(config[k])
		if string(got) != want {
			t.Errorf("config.%s reads as %s, want %s", k, got, want)
		}
	}
	if got, _ := json.Marshal(values["weight"]); string(got) != `"1.10"` {
		t.Errorf("weight reads as %s, want \"1.10\"", got)
	}
}

func TestNewValuesTypedAsYAML(t *testing.T) {
	for _, format := range []Format{Flux, Helmfile} {
		t.Run(string(format), func(t *testing.T) {
			files := map[string][]byte{"hr.yaml": []byte(typedRelease)}
			name := "hr.yaml"
			if format == Helmfile {
				name = "values.yaml"
				files = map[string][]byte{
					"helmfile.yaml": []byte("releases:\n  - name: api\n    chart: charts/api\n    values:\n      - values.yaml\n"),
					name:            []byte("# api values\nweight: 1.5\nimage:\n  repository: r.example/api\n  tag: \"1.0\"\n"),
				}
			}
			doc := mustOpenFiles(t, format, files)
			if changed, err := doc.SetValues("api", typedValues); err != nil || !changed {
				t.Fatalf("set values: %v %v", changed, err)
			}
			out := doc.Files()[name]
			j, err := yaml.YAMLToJSON(out)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			var obj map[string]any
			if err := json.Unmarshal(j, &obj); err != nil {
				t.Fatal(err)
			}
			values := obj
			if format == Flux {
				values = obj["spec"].(map[string]any)["values"].(map[string]any)
			}
			checkTypedValues(t, values)
			if !strings.Contains(string(out), "weight: \"1.10\" # a float the chart reads") && format == Flux {
				t.Errorf("the comment did not stay:\n%s", out)
			}
			// Reading back gives what the user gave.
			a, _ := doc.App("api")
			for k, v := range typedValues {
				if a.Values()[k] != v {
					t.Errorf("%s reads back as %q, want %q", k, a.Values()[k], v)
				}
			}
		})
	}
}
