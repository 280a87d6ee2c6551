package desiredstate

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/desiredstate")

const helmsmanData = "../../testdata/desiredstate/helmsman"

const (
	digestA = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	digestB = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)

type editCase struct {
	name  string // golden file stem
	input string // file under testdata/desiredstate/helmsman
	app   string
	edit  func(Document) (bool, error)
}

func setImage(app string, img Image) func(Document) (bool, error) {
	return func(d Document) (bool, error) { return d.SetImage(app, img) }
}

func setVersion(app, v string) func(Document) (bool, error) {
	return func(d Document) (bool, error) { return d.SetChartVersion(app, v) }
}

func setValues(app string, kv map[string]string) func(Document) (bool, error) {
	return func(d Document) (bool, error) { return d.SetValues(app, kv) }
}

func unset(app string, keys ...string) func(Document) (bool, error) {
	return func(d Document) (bool, error) { return d.UnsetValues(app, keys...) }
}

var editCases = []editCase{
	// Removing keys: whole lines in block style, one entry and its comma
	// in flow mappings and inline tables.
	{"yaml-unset-block", "spec-style.yaml", "patient-api", unset("patient-api", "env.DB_HOST", "service.port")},
	{"yaml-unset-flow", "anchors.yaml", "flow-style", unset("flow-style", "image.repository")},
	{"toml-unset-lines", "spec-style.toml", "patient-api", unset("patient-api", "image.tag", "env.DB_HOST")},
	{"toml-unset-inline", "inline-dotted.toml", "orders", unset("orders", "image.tag")},
	{"toml-unset-dotted", "inline-dotted.toml", "invoices", unset("invoices", "image.tag")},
	// The spec's own examples.
	{"spec-yaml-version", "spec-example.yaml", "jenkins", setVersion("jenkins", "0.10.1")},
	{"spec-yaml-image", "spec-example.yaml", "jenkins",
		setImage("jenkins", Image{Repository: "jenkins/jenkins", Tag: "2.440.1-lts", Digest: digestA})},
	{"spec-toml-version", "spec-example.toml", "jenkins", setVersion("jenkins", "0.10.1")},
	{"spec-toml-image", "spec-example.toml", "jenkins",
		setImage("jenkins", Image{Repository: "jenkins/jenkins", Tag: "2.440.1-lts", Digest: digestA})},
	{"spec-toml-set-no-spaces", "spec-example.toml", "jenkins", setValues("jenkins", map[string]string{"secret2": "$OTHER_VAR"})},
	// YAML in the spec's style: quoted, single-quoted and plain values.
	{"yaml-image-tag-and-digest", "spec-style.yaml", "patient-api",
		setImage("patient-api", Image{Repository: "registry.ehealth.example/supplier-a/patient-api", Tag: "2.8.0", Digest: digestA})},
	{"yaml-chart-version-keeps-comment", "spec-style.yaml", "patient-api", setVersion("patient-api", "1.5.0")},
	{"yaml-single-quoted", "spec-style.yaml", "booking-ui",
		setImage("booking-ui", Image{Repository: "registry.ehealth.example/supplier-b/booking-ui", Tag: "1.11"})},
	{"yaml-plain-values", "spec-style.yaml", "patient-api",
		setValues("patient-api", map[string]string{"replicaCount": "4", "resources.limits.memory": "1Gi", "env.LOG_LEVEL": "debug"})},
	{"yaml-plain-version", "spec-style.yaml", "booking-ui", setVersion("booking-ui", "0.10.0")},
	{"yaml-new-setstring", "spec-style.yaml", "audit-worker",
		setImage("audit-worker", Image{Repository: "registry.ehealth.example/platform/audit-worker", Tag: "1.0.0", Digest: digestB})},
	{"yaml-empty-set", "empty-set.yaml", "api", setValues("api", map[string]string{"replicaCount": "2"})},
	// YAML anchors and merge keys: shared values are overridden, never
	// edited at the anchor.
	{"yaml-merge-override-version", "anchors.yaml", "orders", setVersion("orders", "2.3.0")},
	{"yaml-merge-override-set", "anchors.yaml", "orders",
		setImage("orders", Image{Repository: "registry.ehealth.example/platform/service", Tag: "5.1.0"})},
	{"yaml-alias-set-becomes-merge", "anchors.yaml", "invoices",
		setImage("invoices", Image{Repository: "registry.ehealth.example/platform/service", Tag: "5.1.0", Digest: digestA})},
	{"yaml-own-version-next-to-merge", "anchors.yaml", "invoices", setVersion("invoices", "2.2.1")},
	{"yaml-flow-mapping", "anchors.yaml", "flow-style",
		setImage("flow-style", Image{Repository: "registry.ehealth.example/flow", Tag: "1.0.1", Digest: digestB})},
	// TOML in the spec's style, inline tables and dotted keys.
	{"toml-image-tag-and-digest", "spec-style.toml", "patient-api",
		setImage("patient-api", Image{Repository: "registry.ehealth.example/supplier-a/patient-api", Tag: "2.8.0", Digest: digestA})},
	{"toml-chart-version-keeps-comment", "spec-style.toml", "patient-api", setVersion("patient-api", "1.5.0")},
	{"toml-literal-strings", "spec-style.toml", "booking-ui",
		setImage("booking-ui", Image{Repository: "registry.ehealth.example/supplier-b/booking-ui", Tag: "1.11", Digest: digestB})},
	{"toml-new-setstring-table", "spec-style.toml", "audit-worker",
		setImage("audit-worker", Image{Repository: "registry.ehealth.example/platform/audit-worker", Tag: "1.0.0"})},
	{"toml-inline-table", "inline-dotted.toml", "orders",
		setImage("orders", Image{Repository: "registry.ehealth.example/orders", Tag: "5.1.0", Digest: digestA})},
	{"toml-dotted-keys", "inline-dotted.toml", "invoices",
		setImage("invoices", Image{Repository: "registry.ehealth.example/invoices", Tag: "4.2.0", Digest: digestA})},
	{"toml-dotted-new-map", "inline-dotted.toml", "ledger",
		setImage("ledger", Image{Repository: "registry.ehealth.example/ledger", Tag: "1.0.0"})},
	{"toml-dotted-in-table", "inline-dotted.toml", "reports",
		setValues("reports", map[string]string{"image.digest": digestB, "replicaCount": "2"})},
}

func TestGoldenEdits(t *testing.T) {
	for _, tc := range editCases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(helmsmanData, tc.input)
			before, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			doc := mustLoad(t, path)
			beforeApp, err := doc.App(tc.app)
			if err != nil {
				t.Fatal(err)
			}
			changed, err := tc.edit(doc)
			if err != nil {
				t.Fatalf("edit: %v", err)
			}
			if !changed {
				t.Fatal("edit reported no change")
			}
			after := doc.Files()[path]
			diff, touched := unifiedDiff("a/"+tc.input, "b/"+tc.input, before, after)

			ext := filepath.Ext(tc.input)
			checkGolden(t, filepath.Join(helmsmanData, "golden", tc.name+".after"+ext), after)
			checkGolden(t, filepath.Join(helmsmanData, "golden", tc.name+".diff"), []byte(diff))

			lo, hi := appLines(t, doc, beforeApp, before)
			for _, line := range touched {
				if line < lo || line > hi {
					t.Errorf("diff touches line %d, outside %s (lines %d-%d):\n%s", line, tc.app, lo, hi, diff)
				}
			}

			// Re-applying is a no-op: no change reported, same bytes.
			again, err := tc.edit(doc)
			if err != nil || again {
				t.Fatalf("re-apply: changed=%v err=%v", again, err)
			}
			if !bytes.Equal(doc.Files()[path], after) {
				t.Fatal("re-apply changed the bytes")
			}
			// The edited file parses again from scratch, and the same edit
			// on it is a no-op too.
			reopened, err := Open(doc.Format(), map[string][]byte{path: after})
			if err != nil {
				t.Fatalf("edited file does not parse: %v", err)
			}
			if again, err := tc.edit(reopened); err != nil || again {
				t.Fatalf("edit on the reopened file: changed=%v err=%v", again, err)
			}
			// Every other app reads exactly as before.
			others(t, mustOpen(t, doc.Format(), path, before), reopened, tc.app)
		})
	}
}

// appLines is the range of lines that belong to app in the original file:
// from its declaration to the line before the next app's.
func appLines(t *testing.T, doc Document, app App, src []byte) (int, int) {
	t.Helper()
	orig := mustOpen(t, doc.Format(), app.Pos.File, src)
	apps, err := orig.Apps()
	if err != nil {
		t.Fatal(err)
	}
	var starts []int
	for _, a := range apps {
		starts = append(starts, a.Pos.Line)
	}
	sort.Ints(starts)
	hi := strings.Count(string(src), "\n")
	for _, s := range starts {
		if s > app.Pos.Line {
			hi = s - 1
			break
		}
	}
	return app.Pos.Line, hi
}

func others(t *testing.T, before, after Document, app string) {
	t.Helper()
	ab, _ := before.Apps()
	for _, a := range ab {
		if a.Name == app {
			continue
		}
		b, err := after.App(a.Name)
		if err != nil {
			t.Fatalf("app %s after the edit: %v", a.Name, err)
		}
		if diff := diffApp(a, b); len(diff) > 0 {
			t.Errorf("app %s changed: %+v", a.Name, diff)
		}
	}
}

func mustLoad(t testing.TB, path string) Document {
	t.Helper()
	d, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func mustOpen(t testing.TB, f Format, name string, src []byte) Document {
	t.Helper()
	d, err := Open(f, map[string][]byte{name: src})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it):\n%s", path, got)
	}
}
