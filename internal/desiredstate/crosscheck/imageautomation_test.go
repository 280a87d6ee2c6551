package crosscheck_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"k8s.io/kube-openapi/pkg/validation/spec"
	"sigs.k8s.io/kustomize/kyaml/fieldmeta"
	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/kio/kioutil"
	"sigs.k8s.io/kustomize/kyaml/openapi"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"

	ds "github.com/stepper-cd/stepper/internal/desiredstate"
)

// imageAutomation runs Flux image-automation-controller's setter update
// over a folder, the way the controller does in its working copy of the
// repository, with kyaml's own setter matcher (fieldmeta, openapi, kio:
// kyaml v0.21.2 here, whose fieldmeta is identical to the v0.21.1 the
// controller pins).
//
// The controller's package is internal and not on the module proxy, so its
// glue is rewritten here, step for step, from
// fluxcd/image-automation-controller 4e3c0e09d4408309a9ad2414dba80893c4ad45c3:
//   - internal/update/setters.go UpdateWithSetters: the shorthand
//     "$imagepolicy", one setter definition per policy and per ":tag",
//     ":name" and ":digest", a pipeline that writes back only changed files;
//   - internal/update/filereader.go ScreeningLocalReader: .yaml and .yml
//     files containing the token `"$imagepolicy"`, read with
//     PreserveSeqIndent;
//   - internal/update/filter.go: every scalar visited, its schema from
//     fieldmeta.FieldMeta.Read, a "$ref" resolved against the setter
//     definitions, the x-k8s-cli setter's value written.
//
// policies maps "namespace:name" to the latest image the policy selected.
// It returns, per changed file, the setters it applied.
func imageAutomation(t *testing.T, dir string, policies map[string]latestImage) map[string][]string {
	t.Helper()
	kyamlOnce.Do(func() {
		fieldmeta.SetShortHandRef("$imagepolicy")
		openapi.SuppressBuiltInSchemaUse()
	})
	defs := map[string]spec.Schema{}
	for policy, img := range policies {
		ref := img.name + ":" + img.tag
		if img.digest != "" {
			ref += "@" + img.digest
		}
		for suffix, value := range map[string]string{"": ref, ":tag": img.tag, ":name": img.name, ":digest": img.digest} {
			defs[fieldmeta.SetterDefinitionPrefix+policy+suffix] = setterDefinition(policy+suffix, value)
		}
	}
	schema := &spec.Schema{}
	schema.Definitions = defs

	applied := map[string][]string{}
	var visit func(file string, n *kyaml.RNode) error
	visit = func(file string, n *kyaml.RNode) error {
		switch n.YNode().Kind {
		case kyaml.DocumentNode:
			return visit(file, kyaml.NewRNode(n.YNode()))
		case kyaml.MappingNode:
			return n.VisitFields(func(f *kyaml.MapNode) error { return visit(file, f.Value) })
		case kyaml.SequenceNode:
			return n.VisitElements(func(e *kyaml.RNode) error { return visit(file, e) })
		case kyaml.ScalarNode:
			fm := fieldmeta.FieldMeta{SettersSchema: schema}
			if err := fm.Read(n); err != nil || fm.IsEmpty() {
				return nil
			}
			s := fm.Schema
			if s.Ref.String() != "" {
				if r, err := openapi.Resolve(&s.Ref, schema); err == nil && r != nil {
					s = *r
				}
			}
			ext, ok := s.Extensions["x-k8s-cli"]
			if !ok {
				return nil
			}
			var x struct {
				Setter *struct{ Name, Value string } `json:"setter"`
			}
			b, err := json.Marshal(ext)
			if err != nil {
				return err
			}
			if err := json.Unmarshal(b, &x); err != nil || x.Setter == nil {
				return err
			}
			if old := n.YNode().Value; old != x.Setter.Value {
				n.YNode().Value = x.Setter.Value
				if len(s.Type) > 0 {
					kyaml.FormatNonStringStyle(n.YNode(), s)
				}
				applied[file] = append(applied[file], x.Setter.Name)
			}
		}
		return nil
	}
	err := kio.Pipeline{
		Inputs: []kio.Reader{screeningReader{dir}},
		Filters: []kio.Filter{kio.FilterFunc(func(nodes []*kyaml.RNode) ([]*kyaml.RNode, error) {
			for _, n := range nodes {
				file, _, err := kioutil.GetFileAnnotations(n)
				if err != nil {
					return nil, err
				}
				if err := visit(file, n); err != nil {
					return nil, err
				}
			}
			var out []*kyaml.RNode
			for _, n := range nodes {
				if file, _, _ := kioutil.GetFileAnnotations(n); applied[file] != nil {
					out = append(out, n)
				}
			}
			return out, nil
		})},
		Outputs: []kio.Writer{&kio.LocalPackageWriter{PackagePath: dir}},
	}.Execute()
	if err != nil {
		t.Fatalf("image automation over %s: %v", dir, err)
	}
	return applied
}

var kyamlOnce sync.Once

type latestImage struct{ name, tag, digest string }

func setterDefinition(name, value string) spec.Schema {
	s := spec.StringProperty()
	s.Extensions = spec.Extensions{}
	s.Extensions.Add("x-k8s-cli", map[string]any{"setter": map[string]string{"name": name, "value": value}})
	return *s
}

// screeningReader is the controller's ScreeningLocalReader: only YAML
// files holding the shorthand token are parsed at all.
type screeningReader struct{ dir string }

func (r screeningReader) Read() ([]*kyaml.RNode, error) {
	var out []*kyaml.RNode
	var files []string
	err := filepath.WalkDir(r.dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		if ext := filepath.Ext(p); ext == ".yaml" || ext == ".yml" {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	for _, p := range files {
		src, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		if !bytes.Contains(src, []byte(`"$imagepolicy"`)) {
			continue
		}
		rel, err := filepath.Rel(r.dir, p)
		if err != nil {
			return nil, err
		}
		nodes, err := (&kio.ByteReader{Reader: bytes.NewReader(src), SetAnnotations: map[string]string{kioutil.PathAnnotation: rel}, PreserveSeqIndent: true}).Read()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", rel, err)
		}
		out = append(out, nodes...)
	}
	return out, nil
}

const shopProduction = "../../../testdata/samples/shop/flux/clusters/production"

// The shop's image automation run over production: a live setter moves
// blog-service to the newest master- tag, a held one leaves the rolled
// back tag and the whole file alone, and once released it moves again.
func TestImageAutomationLeavesHeldImageAlone(t *testing.T) {
	const file = "apps/blog-service.yaml"
	newest := map[string]latestImage{
		"flux-system:blog-service-master": {name: "docker.io/hostedshop/blog-service", tag: "master-9f8e7d6-1763500000"},
		"flux-system:news-service-master": {name: "docker.io/hostedshop/news-service", tag: "master-5678def-1763500000"},
	}
	const movedTag = "\n      tag: master-9f8e7d6-1763500000 # {\"$imagepolicy\": \"flux-system:blog-service-master:tag\"}\n"

	live := t.TempDir()
	writeDoc(t, live, loadFlux(t, shopProduction))
	applied := imageAutomation(t, live, newest)
	if got := readFile(t, live, file); !strings.Contains(got, movedTag) {
		t.Fatalf("automation did not move the live tag (applied %v):\n%s", applied, got)
	}

	held := t.TempDir()
	doc := loadFlux(t, shopProduction)
	if _, err := doc.SetImage("blog-service", ds.Image{Tag: "master-1a2b3c4-1763300000"}); err != nil {
		t.Fatal(err)
	}
	if changed, err := ds.HoldImage(doc, "blog-service"); err != nil || !changed {
		t.Fatalf("hold: %v %v", changed, err)
	}
	writeDoc(t, held, doc)
	rolledBack := readFile(t, held, file)
	applied = imageAutomation(t, held, newest)
	if got := readFile(t, held, file); got != rolledBack {
		t.Errorf("automation changed the held file (applied %v):\n%s", applied, got)
	}
	if applied[file] != nil {
		t.Errorf("setters applied to the held file: %v", applied[file])
	}
	if applied["apps/news-service.yaml"] == nil {
		t.Errorf("automation did not run: news-service's live tag was not moved (applied %v)", applied)
	}

	doc = loadFlux(t, held)
	if changed, err := ds.ReleaseImage(doc, "blog-service"); err != nil || !changed {
		t.Fatalf("release: %v %v", changed, err)
	}
	writeDoc(t, held, doc)
	imageAutomation(t, held, newest)
	if got := readFile(t, held, file); !strings.Contains(got, movedTag) {
		t.Errorf("automation did not move the released tag:\n%s", got)
	}
}

// For each form a setter comment takes in a file, what kyaml's matcher
// does agrees with stepper: a setter automation applies is held (or the
// hold refuses it at its line), one it ignores is left as it is, and
// after a hold automation applies nothing to the image lines. Every file
// also carries a live setter for another policy, so automation always
// reads it.
func TestHoldSilencesEverySetterAutomationReads(t *testing.T) {
	const head = "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: api\nspec:\n  chart:\n    spec:\n      chart: service\n      version: 1.0.0\n  values:\n    sidecar: r.example/side:v1 # {\"$imagepolicy\": \"ns:side\"}\n"
	const setter = `{"$imagepolicy": "ns:api:tag"}`
	for _, tc := range []struct {
		name    string
		values  string // the image, under spec.values
		applies bool   // kyaml applies ns:api:tag before any hold
		hold    string // "held", "none" or "refused"
	}{
		{"documented form", "    image:\n      tag: v1 # " + setter + "\n", true, "held"},
		{"no space after #", "    image:\n      tag: v1 #" + setter + "\n", true, "held"},
		{"two #", "    image:\n      tag: v1 ## " + setter + "\n", true, "held"},
		{"spaces inside", "    image:\n      tag: v1 # { \"$imagepolicy\" : \"ns:api:tag\" }\n", true, "held"},
		{"another key too", "    image:\n      tag: v1 # {\"$imagepolicy\": \"ns:api:tag\", \"by\": \"flux\"}\n", true, "held"},
		{"quoted value", "    image:\n      tag: \"v1\" # " + setter + "\n", true, "held"},
		{"whole image with a name setter", "    image:\n      repository: r.example/api # {\"$imagepolicy\": \"ns:api:name\"}\n      tag: v1 # " + setter + "\n", true, "held"},
		{"digest setter", "    image:\n      tag: v1 # " + setter + "\n      digest: sha256:" + strings.Repeat("b", 64) + " # {\"$imagepolicy\": \"ns:api:digest\"}\n", true, "held"},
		{"anchored value", "    image:\n      tag: &tag v1 # " + setter + "\n    worker:\n      tag: *tag\n", true, "held"},
		{"flow mapping, comma", "    image: {\n      repository: r.example/api,\n      tag: v1, # " + setter + "\n    }\n", true, "held"},
		{"flow mapping, last entry", "    image: {\n      repository: r.example/api,\n      tag: v1 # " + setter + "\n    }\n", true, "held"},
		{"trailing text", "    image:\n      tag: v1 # " + setter + " # note\n", false, "none"},
		{"a value that is no string", "    image:\n      tag: v1 # {\"$imagepolicy\": \"ns:api:tag\", \"n\": 1}\n", false, "none"},
		{"above the key", "    image:\n      # " + setter + "\n      tag: v1\n", false, "none"},
		{"on an alias", "    base: &tag v1\n    image:\n      tag: *tag # " + setter + "\n", false, "none"},
		{"other case", "    image:\n      tag: v1 # {\"$ImagePolicy\": \"ns:api:tag\"}\n", false, "none"},
		{"already held", "    image:\n      tag: v1 # {\"$imagepolicy-held-by-stepper\": \"ns:api:tag\"}\n", false, "none"},
		{"comment line between key and value", "    image:\n      tag:\n        # " + setter + "\n        v1\n", true, "refused"},
		{"anchor, comment line, value", "    image:\n      tag: &tag\n        # " + setter + "\n        v1\n", true, "refused"},
		{"comment after the key", "    image:\n      tag: # " + setter + "\n        v1\n", false, "none"},
		{"key with JSON escapes", "    image:\n      tag: v1 # {\"\\u0024imagepolicy\": \"ns:api:tag\"}\n", true, "refused"},
		{"long $ref form", "    image:\n      tag: v1 # {\"$ref\": \"#/definitions/io.k8s.cli.setters.ns:api:tag\"}\n", true, "refused"},
		{"after a flow mapping", "    image: {repository: r.example/api, tag: v1} # " + setter + "\n", false, "refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := head + tc.values
			policies := map[string]latestImage{
				"ns:api":  {name: "r.example/api", tag: "v2", digest: "sha256:" + strings.Repeat("a", 64)},
				"ns:side": {name: "r.example/side", tag: "v2"},
			}
			if got := applies(t, src, policies); got != tc.applies {
				t.Fatalf("kyaml applies ns:api: %v, want %v", got, tc.applies)
			}
			doc, err := ds.Open(ds.Flux, map[string][]byte{"hr.yaml": []byte(src)})
			if err != nil {
				t.Fatal(err)
			}
			changed, err := ds.HoldImage(doc, "api")
			switch {
			case tc.hold == "refused":
				if err == nil {
					t.Fatalf("hold: changed=%v, want it refused", changed)
				}
				return
			case err != nil || changed != (tc.hold == "held"):
				t.Fatalf("hold: changed=%v err=%v, want %s", changed, err, tc.hold)
			}
			if applies(t, string(doc.Files()["hr.yaml"]), policies) {
				t.Errorf("kyaml applies ns:api after the hold:\n%s", doc.Files()["hr.yaml"])
			}
		})
	}
}

// applies reports whether automation applies any ns:api setter to src,
// failing when it did not read the file at all.
func applies(t *testing.T, src string, policies map[string]latestImage) bool {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hr.yaml"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	set := imageAutomation(t, dir, policies)["hr.yaml"]
	if !slices.Contains(set, "ns:side") {
		t.Fatalf("automation did not read the file (applied %v)", set)
	}
	return slices.ContainsFunc(set, func(s string) bool { return strings.HasPrefix(s, "ns:api") })
}

func loadFlux(t *testing.T, dir string) ds.Document {
	t.Helper()
	doc, err := ds.Load(dir, ds.WithFormat(ds.Flux))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func writeDoc(t *testing.T, dir string, doc ds.Document) {
	t.Helper()
	for name := range doc.Files() {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := ds.WriteFiles(dir, doc.Files()); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
