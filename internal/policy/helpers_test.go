package policy

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/policy")

const testdata = "../../testdata/policy"

// now is the clock every test checks with.
var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// passing returns a configuration and an input that break no rule. Every
// call returns fresh values, so a test may change them.
func passing(t testing.TB) (Config, Input) {
	t.Helper()
	base := []string{"sha256:b1", "sha256:b2"}
	cfg := Config{
		ApprovedRegistry: "registry.ehealth.example",
		ApprovedBases: []ApprovedBase{
			{Name: "registry.ehealth.example/base/java", Digest: "sha256:javabase", DiffIDs: base},
			{Name: "registry.ehealth.example/base/node", Digest: "sha256:nodebase", DiffIDs: []string{"sha256:n1"}},
		},
		OfficialRepos: []string{"https://charts.ehealth.example/stable/"},
	}
	readme, err := os.ReadFile(filepath.Join(testdata, "good", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	in := Input{
		Env: "exttest", App: "api",
		Image: &Image{
			Ref:      "registry.ehealth.example/vendor/api:1.2.3@sha256:aaaa",
			Registry: "registry.ehealth.example", Tag: "1.2.3",
			Digest: "sha256:aaaa", ResolvedDigest: "sha256:aaaa",
			User:       "10001",
			Entrypoint: []string{"java", "-jar", "/app/api.jar"},
			Env:        []string{"JAVA_TOOL_OPTIONS=-XX:MaxRAMPercentage=75", "PATH=/usr/bin"},
			Labels:     map[string]string{"org.opencontainers.image.version": "1.2.3"},
			DiffIDs:    append(slices.Clone(base), "sha256:app"),
			Annotations: map[string]string{
				annotationBaseDigest: "sha256:javabase",
				annotationBaseName:   "registry.ehealth.example/base/java:21",
			},
			Signature: SignatureResult{Verified: true, KeyID: "ehealth-2026"},
		},
		Chart: &Chart{
			Name: "api", Version: "1.4.2", Repo: "https://charts.ehealth.example/stable", Latest: "1.4.2",
			README: string(readme),
		},
		Objects: loadObjects(t, filepath.Join(testdata, "good", "manifests.yaml")),
		State: &StateEntry{Found: true, File: "exttest/dsf.yaml", Line: 12,
			ChartVersion: "1.4.2", Image: "registry.ehealth.example/vendor/api:1.2.3", Chart: "ehealth/api"},
		Runtime: []RuntimeResult{{Check: "health", Passed: true}, {Check: "non-root-uid", Passed: true}, {Check: "sigterm", Passed: true}},
	}
	return cfg, in
}

// loadObjects reads a multi-document YAML file of rendered manifests.
func loadObjects(t testing.TB, name string) []Object {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []Object
	for {
		var m map[string]any
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			return out
		} else if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out = append(out, Object{Object: m, Template: "api/templates/" + strings.ToLower(kindOf(m)) + ".yaml"})
	}
}

// object returns the first object of kind.
func object(t testing.TB, in *Input, kind string) map[string]any {
	t.Helper()
	for _, o := range in.Objects {
		if kindOf(o.Object) == kind {
			return o.Object
		}
	}
	t.Fatalf("no %s in the input", kind)
	return nil
}

func podSpec(t testing.TB, in *Input) map[string]any {
	return mapAt(object(t, in, "Deployment"), "spec", "template", "spec")
}

func container(t testing.TB, in *Input) map[string]any {
	return listAt(podSpec(t, in), "containers")[0].(map[string]any)
}

// set sets the value at a path of keys, making maps on the way.
func set(m map[string]any, value any, keys ...string) {
	for _, k := range keys[:len(keys)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	m[keys[len(keys)-1]] = value
}

// del removes the value at a path of keys.
func del(m map[string]any, keys ...string) {
	if parent := mapAt(m, keys[:len(keys)-1]...); parent != nil {
		delete(parent, keys[len(keys)-1])
	}
}

func yamlMap(t testing.TB, text string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal([]byte(text), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func ruleIDs(fs []Finding) []string {
	var ids []string
	for _, f := range fs {
		ids = append(ids, f.Rule)
	}
	return ids
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(name, []byte(got+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(name)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if strings.TrimRight(string(want), "\n") != strings.TrimRight(got, "\n") {
		t.Errorf("%s differs (run go test -update to accept):\n got: %s\nwant: %s", name, got, want)
	}
}
