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
	appsReadBack(t, doc)
}

func FuzzEditYAML(f *testing.F) {
	seeds(f, ".yaml")
	f.Fuzz(func(t *testing.T, src []byte) { editRoundTrip(t, HelmsmanYAML, src) })
}

func FuzzEditTOML(f *testing.F) {
	seeds(f, ".toml")
	f.Fuzz(func(t *testing.T, src []byte) { editRoundTrip(t, HelmsmanTOML, src) })
}

// fuzzEdits are the edits the round-trip fuzzers make on every app: an
// image whose tag must stay a string, a pre-release chart version, values
// that need quoting, and removals.
var fuzzEdits = []func(Document, string) (bool, error){
	func(d Document, app string) (bool, error) {
		return d.SetImage(app, Image{Repository: "r.example/x", Tag: "1.10", Digest: digestA})
	},
	func(d Document, app string) (bool, error) { return d.SetChartVersion(app, "2.0.0-rc.1") },
	func(d Document, app string) (bool, error) {
		return d.SetValues(app, map[string]string{"env.QUOTE": `it's "quoted" # not a comment`, "replicaCount": "3"})
	},
	func(d Document, app string) (bool, error) { return d.UnsetValues(app, "image.tag", "env.QUOTE") },
}

// editRoundTrip edits every app of any input that parses. An edit may be
// refused, but an accepted one must parse again, read back as set, and be
// a no-op when repeated.
func editRoundTrip(t *testing.T, format Format, src []byte) {
	doc, err := Open(format, map[string][]byte{"f": src})
	if err != nil {
		return
	}
	for _, name := range appNames(doc) {
		for _, edit := range fuzzEdits {
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

// nestedSeeds adds every file under a nested format's testdata.
func nestedSeeds(f *testing.F, dir string) {
	files, _ := filepath.Glob(filepath.Join(dir, "*", "*.yaml"))
	more, _ := filepath.Glob(filepath.Join(dir, "*.gotmpl"))
	for _, name := range append(files, more...) {
		src, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	seeds, _ := filepath.Glob(filepath.Join("../../testdata/desiredstate/fuzz-seeds", filepath.Base(dir)+"-*"))
	for _, name := range seeds {
		src, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	f.Add([]byte(miniHelmfile))
}

func FuzzParseFlux(f *testing.F) {
	nestedSeeds(f, fluxData)
	f.Fuzz(func(t *testing.T, src []byte) { nestedRoundTrip(t, Flux, map[string][]byte{"f": src}, "f", false) })
}

func FuzzEditFlux(f *testing.F) {
	nestedSeeds(f, fluxData)
	f.Fuzz(func(t *testing.T, src []byte) { nestedRoundTrip(t, Flux, map[string][]byte{"f": src}, "f", true) })
}

// The helmfile fuzzers vary the helmfile; its environment's versions file
// stays fixed.
func helmfileFiles(src []byte) map[string][]byte {
	return map[string][]byte{"helmfile.yaml.gotmpl": src, "versions.yaml": []byte("versions:\n  api: \"1.0.0\"\n  casework: 3.1.0\n")}
}

func FuzzParseHelmfile(f *testing.F) {
	nestedSeeds(f, helmfileData)
	f.Fuzz(func(t *testing.T, src []byte) {
		nestedRoundTrip(t, Helmfile, helmfileFiles(src), "helmfile.yaml.gotmpl", false)
	})
}

func FuzzEditHelmfile(f *testing.F) {
	nestedSeeds(f, helmfileData)
	f.Fuzz(func(t *testing.T, src []byte) {
		nestedRoundTrip(t, Helmfile, helmfileFiles(src), "helmfile.yaml.gotmpl", true)
	})
}

// nestedRoundTrip parses, and with edit set edits every app: an accepted
// edit must parse again and be a no-op when repeated.
func nestedRoundTrip(t *testing.T, format Format, files map[string][]byte, main string, edit bool) {
	doc, err := Open(format, files, WithEnvironment(map[Format]string{Helmfile: "prod"}[format]))
	if err != nil {
		return
	}
	appsReadBack(t, doc)
	if !edit {
		return
	}
	for _, name := range doc.(*nestedDoc).v.order {
		for _, e := range fuzzEdits {
			changed, err := e(doc, name)
			if err != nil || !changed {
				continue
			}
			out := doc.Files()
			again, err := Open(format, out, WithEnvironment(map[Format]string{Helmfile: "prod"}[format]))
			if err != nil {
				t.Fatalf("accepted edit does not parse: %v\n--- out:\n%s", err, out[main])
			}
			if changed, err := e(again, name); err != nil || changed {
				t.Fatalf("repeat edit on reopened files: changed=%v err=%v\n%s", changed, err, out[main])
			}
		}
	}
}

// appsReadBack checks that every app Apps lists reads on its own too.
func appsReadBack(t *testing.T, doc Document) {
	apps, _ := doc.Apps()
	for _, a := range apps {
		if _, err := doc.App(a.Name); err != nil {
			t.Fatalf("Apps listed %q but App fails: %v", a.Name, err)
		}
	}
}
