package desiredstate

import (
	"os"
	"path/filepath"
	"testing"
)

// seeds adds every Helmsman fixture with the given extension, plus the
// small hand-written cases under testdata/desiredstate/fuzz-seeds.
func seeds(f *testing.F, ext string) {
	for _, dir := range []string{helmsmanData, "../../testdata/desiredstate/fuzz-seeds"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*"+ext))
		for _, name := range files {
			src, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(src)
		}
	}
}

func FuzzParseYAML(f *testing.F) {
	seeds(f, ".yaml")
	f.Fuzz(func(t *testing.T, src []byte) { parseAll(t, HelmsmanYAML, src) })
}

func FuzzParseTOML(f *testing.F) {
	seeds(f, ".toml")
	f.Fuzz(func(t *testing.T, src []byte) { parseAll(t, HelmsmanTOML, src) })
}

func parseAll(t *testing.T, format Format, src []byte) {
	doc, err := Open(format, map[string][]byte{"f": src})
	if err != nil {
		return
	}
	apps, _ := doc.Apps()
	for _, a := range apps {
		if _, err := doc.App(a.Name); err != nil {
			t.Fatalf("Apps listed %q but App fails: %v", a.Name, err)
		}
	}
}

func FuzzEditYAML(f *testing.F) {
	seeds(f, ".yaml")
	f.Fuzz(func(t *testing.T, src []byte) { editRoundTrip(t, HelmsmanYAML, src) })
}

func FuzzEditTOML(f *testing.F) {
	seeds(f, ".toml")
	f.Fuzz(func(t *testing.T, src []byte) { editRoundTrip(t, HelmsmanTOML, src) })
}

// editRoundTrip edits every app of any input that parses. An edit may be
// refused, but an accepted one must parse again, read back as set, and be
// a no-op when repeated.
func editRoundTrip(t *testing.T, format Format, src []byte) {
	doc, err := Open(format, map[string][]byte{"f": src})
	if err != nil {
		return
	}
	edits := []func(Document, string) (bool, error){
		func(d Document, app string) (bool, error) {
			return d.SetImage(app, Image{Repository: "r.example/x", Tag: "1.10", Digest: digestA})
		},
		func(d Document, app string) (bool, error) { return d.SetChartVersion(app, "2.0.0-rc.1") },
		func(d Document, app string) (bool, error) {
			return d.SetValues(app, map[string]string{"env.QUOTE": `it's "quoted" # not a comment`, "replicaCount": "3"})
		},
		func(d Document, app string) (bool, error) { return d.UnsetValues(app, "image.tag", "env.QUOTE") },
	}
	for _, name := range appNames(doc) {
		for _, edit := range edits {
			changed, err := edit(doc, name)
			if err != nil || !changed {
				continue
			}
			out := doc.Files()["f"]
			again, err := Open(format, map[string][]byte{"f": out})
			if err != nil {
				t.Fatalf("accepted edit does not parse: %v\n--- in:\n%s\n--- out:\n%s", err, src, out)
			}
			if changed, err := edit(again, name); err != nil || changed {
				t.Fatalf("repeat edit on reopened file: changed=%v err=%v\n%s", changed, err, out)
			}
			if changed, err := edit(doc, name); err != nil || changed || string(doc.Files()["f"]) != string(out) {
				t.Fatalf("repeat edit: changed=%v err=%v", changed, err)
			}
		}
	}
}

func appNames(d Document) []string {
	h, ok := d.(*helmsmanDoc)
	if !ok {
		return nil
	}
	return append([]string(nil), h.t.order...)
}
