package local

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"k8s.io/kube-openapi/pkg/validation/spec"
	"sigs.k8s.io/kustomize/kyaml/fieldmeta"
	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/kio/kioutil"
	"sigs.k8s.io/kustomize/kyaml/openapi"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
)

// LatestImage is the image an image policy selected: name, tag and, when
// the policy reflects digests, digest.
type LatestImage struct{ Name, Tag, Digest string }

// UpdateWithSetters runs Flux image-automation-controller's setter update
// over dir, the way the controller does in its working copy of the
// repository, with kyaml's own setter matcher (fieldmeta, openapi, kio).
// policies maps "namespace:name" to the latest image the policy selected.
// It writes back only the files it changed and returns, per changed file
// (relative to dir), the setters it applied.
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
// A setter stepper holds ("$imagepolicy-held-by-stepper") is no setter to
// it, as to the controller.
func UpdateWithSetters(dir string, policies map[string]LatestImage) (map[string][]string, error) {
	kyamlOnce.Do(func() {
		fieldmeta.SetShortHandRef("$imagepolicy")
		openapi.SuppressBuiltInSchemaUse()
	})
	defs := map[string]spec.Schema{}
	for policy, img := range policies {
		ref := img.Name + ":" + img.Tag
		if img.Digest != "" {
			ref += "@" + img.Digest
		}
		for suffix, value := range map[string]string{"": ref, ":tag": img.Tag, ":name": img.Name, ":digest": img.Digest} {
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
		return nil, fmt.Errorf("image automation over %s: %w", dir, err)
	}
	return applied, nil
}

var kyamlOnce sync.Once

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
		if err != nil {
			return err
		}
		if e.IsDir() {
			if e.Name() == ".git" {
				return filepath.SkipDir
			}
			return nil
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
