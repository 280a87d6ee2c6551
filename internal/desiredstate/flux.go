package desiredstate

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// fluxLayout reads Flux HelmRelease manifests: any number of files, each
// of any number of YAML documents. Documents of other kinds (the
// ImagePolicy next to a release, a Namespace, a Kustomization) are left
// exactly as they are.
//
// An app is a HelmRelease: its name is metadata.name; the chart version
// is spec.chart.spec.version; the values are spec.values, read as dotted
// keys through Keys. spec.valuesFrom is listed in ValuesFiles as
// "Kind/name[:key]" and never edited. A release using spec.chartRef has
// its version in the referenced object, so its chart version cannot be
// set here. spec.suspend: true reads as not enabled.
//
// Image automation marks values with setter comments such as
// `tag: master-1a2b3c # {"$imagepolicy": "shop:blog:tag"}`; edits splice
// only the value, so the marker stays on its line. A digest is never
// written under a tag automation owns unless the digest has its own
// `...:digest` setter (see automatedTag).
type fluxLayout struct{}

func (fluxLayout) read(files map[string][]byte, o options) (*view, error) {
	v := newView()
	repos := map[string]string{} // "namespace/name" and "name" -> HelmRepository spec.url
	for _, name := range sortedFiles(files) {
		f, err := parseYAMLFile(name, files[name], nil, o.limits)
		if err != nil {
			return nil, err
		}
		v.files[name] = f
		for _, root := range f.docs {
			if err := readHelmRelease(v, f, root, o.keys); err != nil {
				return nil, err
			}
			readHelmRepository(f, root, repos)
		}
	}
	// A release's sourceRef names a HelmRepository; when the manifests hold
	// it, the chart's repository URL is known.
	for _, a := range v.apps {
		if url, ok := repos[a.app.Chart.Repo]; ok {
			a.app.Chart.RepoURL = url
		}
	}
	return v, nil
}

func (fluxLayout) none(files map[string][]byte) (string, string) {
	names := sortedFiles(files)
	return strings.Join(names, ", "), fmt.Sprintf("no HelmRelease (%s) in %d files", fluxAPIGroup+"*", len(names))
}

// readHelmRepository records a Flux HelmRepository's URL under its name and
// namespace/name. It never fails: other kinds, or a repository without a
// URL, just add nothing.
func readHelmRepository(f *yamlFile, root *yaml.Node, repos map[string]string) {
	p := f.p
	if root == nil || root.Kind != yaml.MappingNode {
		return
	}
	kind, err1 := p.text(root, "kind")
	api, err2 := p.text(root, "apiVersion")
	if err1 != nil || err2 != nil || kind == nil || api == nil || kind.value != "HelmRepository" || !strings.HasPrefix(api.value, "source.toolkit.fluxcd.io/") {
		return
	}
	meta, err := p.child(root, "metadata")
	if err != nil {
		return
	}
	name, err := p.text(meta, "name")
	if err != nil || name == nil {
		return
	}
	spec, err := p.child(root, "spec")
	if err != nil {
		return
	}
	url, err := p.text(spec, "url")
	if err != nil || url == nil || url.value == "" {
		return
	}
	repos[name.value] = url.value
	if ns, err := p.text(meta, "namespace"); err == nil && ns != nil {
		repos[ns.value+"/"+name.value] = url.value
	}
}

// fluxAPIGroup is the API group of HelmRelease, any version of it.
const fluxAPIGroup = "helm.toolkit.fluxcd.io/"

func readHelmRelease(v *view, f *yamlFile, root *yaml.Node, keys Keys) error {
	p := f.p
	if root == nil || root.Kind != yaml.MappingNode {
		return nil
	}
	kind, err := p.text(root, "kind")
	if err != nil {
		return err
	}
	api, err := p.text(root, "apiVersion")
	if err != nil {
		return err
	}
	if kind == nil || api == nil || kind.value != "HelmRelease" || !strings.HasPrefix(api.value, fluxAPIGroup) {
		return nil
	}
	meta, err := p.child(root, "metadata")
	if err != nil {
		return err
	}
	name, err := p.text(meta, "name")
	if err != nil {
		return err
	}
	if name == nil || name.value == "" {
		return errorAt(p.nodePos(root), "give the HelmRelease a metadata.name", "HelmRelease has no name")
	}
	if first := v.apps[name.value]; first != nil {
		return errorAt(name.pos, "remove or rename one of them", "app %q is declared twice (first at %s)", name.value, first.app.Pos)
	}
	spec, err := p.child(root, "spec")
	if err != nil {
		return err
	}
	if spec == nil || spec.Kind != yaml.MappingNode {
		return errorAt(p.nodePos(root), "give the HelmRelease a spec with chart or chartRef", "HelmRelease %q has no spec mapping", name.value)
	}
	a := &appView{values: map[string]*loc{}}
	a.app = App{Name: name.value, Enabled: true, Pos: p.nodePos(root)}
	if ns, err := p.text(meta, "namespace"); err != nil {
		return err
	} else if ns != nil {
		a.app.Namespace = ns.value
	}
	if s, err := p.text(spec, "suspend"); err != nil {
		return err
	} else if s != nil && s.value == "true" {
		a.app.Enabled = false
	}
	versionPos := a.app.Pos
	chart, err := p.child(spec, "chart")
	if err != nil {
		return err
	}
	chartSpec, err := p.child(chart, "spec")
	if err != nil {
		return err
	}
	switch {
	case chartSpec != nil && chartSpec.Kind == yaml.MappingNode:
		strs, err := textsOf(p, chartSpec, "chart")
		if err != nil {
			return err
		}
		version, err := p.text(chartSpec, "version")
		if err != nil {
			return err
		}
		src, err := p.child(chartSpec, "sourceRef")
		if err != nil {
			return err
		}
		ref, err := textsOf(p, src, "name", "namespace")
		if err != nil {
			return err
		}
		a.app.Chart = Chart{Repo: joinNonEmpty("/", ref["namespace"].value, ref["name"].value), Name: strs["chart"].value}
		a.version = &loc{file: f.name, root: spec, path: []string{"chart", "spec", "version"}, s: version}
		if version != nil {
			a.app.ChartVersion, versionPos = version.value, version.pos
		}
	default:
		ref, err := p.child(spec, "chartRef")
		if err != nil {
			return err
		}
		if ref == nil {
			return errorAt(p.nodePos(spec), "set spec.chart.spec or spec.chartRef", "HelmRelease %q names no chart", name.value)
		}
		strs, err := textsOf(p, ref, "kind", "name")
		if err != nil {
			return err
		}
		a.app.Chart = Chart{Repo: strs["kind"].value, Name: strs["name"].value}
		a.versionWhy = "it uses spec.chartRef, so the version is set in the referenced " + strs["kind"].value
	}
	if vf, err := p.child(spec, "valuesFrom"); err != nil {
		return err
	} else if vf != nil && vf.Kind == yaml.SequenceNode {
		for _, item := range vf.Content {
			strs, err := textsOf(p, item, "kind", "name", "valuesKey")
			if err != nil {
				return err
			}
			ref := strs["kind"].value + "/" + strs["name"].value
			if k := strs["valuesKey"].value; k != "" {
				ref += ":" + k
			}
			a.app.ValuesFiles = append(a.app.ValuesFiles, ref)
		}
	}
	a.newValues = &loc{file: f.name, root: spec, path: []string{"values"}}
	values, err := p.child(spec, "values")
	if err != nil {
		return err
	}
	if values != nil && values.Kind == yaml.MappingNode {
		fields, err := p.fields(spec)
		if err != nil {
			return err
		}
		e := fields["values"]
		var leaves []leaf
		if err := p.flattenValue(e.val, "", []string{"values"}, false, false, 0, &leaves); err != nil {
			return err
		}
		for _, l := range leaves {
			a.values[l.key] = &loc{file: f.name, root: spec, path: l.path, s: l.s}
		}
	}
	a.finish(keys, versionPos)
	v.apps[a.app.Name] = a
	v.order = append(v.order, a.app.Name)
	return nil
}

// textsOf reads scalar children of m; a missing one reads as an empty
// value, so callers can use .value without checking.
func textsOf(p *yamlParser, m *yaml.Node, keys ...string) (map[string]*scalar, error) {
	out := map[string]*scalar{}
	for _, k := range keys {
		s, err := p.text(m, k)
		if err != nil {
			return nil, err
		}
		if s == nil {
			s = &scalar{start: -1}
		}
		out[k] = s
	}
	return out, nil
}

func joinNonEmpty(sep string, parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, sep)
}
