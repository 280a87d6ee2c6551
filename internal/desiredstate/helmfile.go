package desiredstate

import (
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// helmfileLayout reads one environment of a helmfile layout: the helmfile
// (helmfile.yaml, or helmfile.yaml.gotmpl rendered whole as a Go template), the values
// files its `environments:` entry lists for that environment (one of them
// the versions file mapping each service to its version), and the values
// files its releases list.
//
// Templates are never evaluated. Every {{ ... }} action is opaque: a value
// holding one is read as its template text and cannot be edited. Two forms
// are recognised because they are how a layout points into its versions
// file, and editing means following them:
//
//   - `{{ .Environment.Name }}` in a file path, replaced by the environment;
//   - a value that is exactly `{{ .Values.a.b }}` or
//     `{{ index .Values "a" "b" }}`, optionally piped to quote, squote or
//     toString: it reads as, and edits, key a.b of the environment's values
//     (the last listed file that has it, as helmfile merges them).
//
// So an app's chart version is the release's `version:`, or the versions
// file entry when `version:` points there; its image tag is wherever its
// values put it, the versions file when the inline values point there.
// The versions file wins whenever the release reads from it. A values key
// the app does not have yet goes into its last values file that was opened
// (its environment's own file), else into its last inline values mapping.
// Values written literally in the helmfile are shared by every
// environment; editing them edits the helmfile.
//
// A plain helmfile.yaml is YAML that helmfile v1 does not render as a
// whole, but whose release fields it renders one by one as release
// templates: chart, namespace, version, values file paths and the mappings
// under valuesTemplate: (e.g. namespace: hocs-{{ .Environment.Name }}).
// Those are read as above, a namespace with {{ .Environment.Name }} as
// the environment's; the inline mappings under values:, which helmfile
// hands to helm as written, are not.
//
// Whatever cannot be read fully is refused at its line rather than read
// as less than it is: a values file the environment lists that was not
// opened, `bases:` and `helmfiles:` (apps defined elsewhere), and Go
// templates in a plain helmfile.yaml where helmfile v1 does not render
// them (inline values, environments' values, anything that breaks the
// YAML).
//
// A chart version written literally in a release is shared by every
// environment, so SetChartVersion refuses it; it edits the version only
// where the layout keeps it per environment (a {{ .Values ... }} reference
// into the environment's versions or values file).
type helmfileLayout struct {
	env string // "" to infer it from the files opened
	// tie is a file (by name) the environment must read; with env empty,
	// the environment is the one that reads it.
	tie string
}

// helmfileNames are the file names helmfile looks for by default.
var helmfileNames = []string{"helmfile.yaml", "helmfile.yml", "helmfile.yaml.gotmpl", "helmfile.yml.gotmpl", "helmfile.gotmpl"}

func isHelmfileName(name string) bool {
	base := path.Base(slashed(name))
	for _, n := range helmfileNames {
		if base == n {
			return true
		}
	}
	return false
}

func slashed(name string) string { return strings.ReplaceAll(name, `\`, "/") }

type helmfileReader struct {
	files map[string][]byte
	o     options
	v     *view
	byKey map[string]string // cleaned slash path -> name as opened
	repos map[string]string // repositories: name -> URL (oci:// for OCI ones)
	// shared says the helmfile declares environments, so what it writes
	// literally in a release is shared by all of them.
	shared bool
}

func (l helmfileLayout) none(files map[string][]byte) (string, string) {
	if hf, err := mainHelmfile(files); err == nil {
		env := l.env
		if env == "" {
			env = "the one opened"
		}
		return hf, fmt.Sprintf("it declares no releases for environment %s", env)
	}
	return strings.Join(sortedFiles(files), ", "), "no helmfile"
}

// mainHelmfile picks the layout's helmfile: the least deep of the files
// named like one (sub-helmfiles deeper down are not this layout's).
func mainHelmfile(files map[string][]byte) (string, error) {
	var hf []string
	for _, name := range sortedFiles(files) {
		if isHelmfileName(name) {
			hf = append(hf, name)
		}
	}
	if len(hf) > 1 {
		// Sub-helmfiles deeper down are not this layout's helmfile.
		depth := func(n string) int { return strings.Count(path.Clean(slashed(n)), "/") }
		least := depth(hf[0])
		for _, n := range hf {
			least = min(least, depth(n))
		}
		var top []string
		for _, n := range hf {
			if depth(n) == least {
				top = append(top, n)
			}
		}
		hf = top
	}
	if len(hf) != 1 {
		return "", fmt.Errorf("a helmfile layout has one helmfile (named %s), got %d: %s",
			strings.Join(helmfileNames, ", "), len(hf), strings.Join(hf, ", "))
	}
	return hf[0], nil
}

func (l helmfileLayout) read(files map[string][]byte, o options) (*view, error) {
	r := &helmfileReader{files: files, o: o, v: newView(), byKey: map[string]string{}}
	for _, name := range sortedFiles(files) {
		r.byKey[path.Clean(slashed(name))] = name
	}
	hf, err := mainHelmfile(files)
	if err != nil {
		return nil, err
	}
	main, err := r.parse(hf)
	if err != nil {
		return nil, err
	}
	dir := path.Dir(path.Clean(slashed(hf)))
	envs, releases, err := r.sections(main)
	if err != nil {
		return nil, err
	}
	env := l.env
	if env == "" && l.tie != "" {
		if env, err = l.environmentReading(files, o, envs, main); err != nil {
			return nil, err
		}
	}
	if env, err = r.environment(env, envs, dir, main); err != nil {
		return nil, err
	}
	r.shared = len(envs) > 0
	envValues := map[string]*loc{}
	if item := envs[env]; item != nil {
		vals, err := main.p.child(item, "values")
		if err != nil {
			return nil, err
		}
		if vals != nil && vals.Kind == yaml.SequenceNode {
			for _, item := range vals.Content {
				if item.Kind == yaml.ScalarNode {
					if err := unrendered(main, main.p.scalar(item, false, false), "an environment's values file paths"); err != nil {
						return nil, err
					}
				}
				leaves, file, root, err := r.valuesSource(main, item, env, dir)
				if err != nil {
					return nil, err
				}
				for _, lf := range leaves {
					if err := unrendered(main, lf.s, "an environment's inline values"); err != nil {
						return nil, err
					}
					envValues[lf.key] = &loc{file: file, root: root, path: lf.path, s: lf.s}
				}
			}
		}
	}
	for _, rel := range releases {
		if err := r.release(main, rel, env, dir, envValues); err != nil {
			return nil, err
		}
	}
	if l.tie != "" && r.v.files[l.tie] == nil {
		return nil, &Error{File: l.tie, Msg: fmt.Sprintf("environment %q of %s does not read this file", env, main.name),
			Hint: "name the versions or values file of that environment, or the environment this file belongs to"}
	}
	return r.v, nil
}

// environmentReading is the one environment whose view reads l.tie.
func (l helmfileLayout) environmentReading(files map[string][]byte, o options, envs map[string]*yaml.Node, main *yamlFile) (string, error) {
	var found []string
	for _, name := range sortedNodeKeys(envs) {
		v, err := helmfileLayout{env: name}.read(files, o)
		if err == nil && v.files[l.tie] != nil {
			found = append(found, name)
		}
	}
	if len(found) != 1 {
		return "", &Error{File: l.tie, Msg: fmt.Sprintf("%d environments of %s read this file (%s)", len(found), main.name, strings.Join(found, ", ")),
			Hint: "name the environment (WithEnvironment)"}
	}
	return found[0], nil
}

func sortedNodeKeys(m map[string]*yaml.Node) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// parse reads a file once per view, masking templates in .gotmpl files.
func (r *helmfileReader) parse(name string) (*yamlFile, error) {
	if f := r.v.files[name]; f != nil {
		return f, nil
	}
	src := r.files[name]
	var masks [][2]int
	if strings.HasSuffix(name, ".gotmpl") {
		var err error
		if masks, err = maskTemplates(name, src); err != nil {
			return nil, err
		}
	}
	f, err := parseYAMLFile(name, src, masks, r.o.limits)
	if err != nil {
		if e, ok := err.(*Error); ok && len(masks) > 0 {
			e.Hint = "outside its {{ ... }} actions a .gotmpl helmfile must be YAML; keep control actions on lines of their own"
		}
		if off := firstTemplateAction(src); off >= 0 && isPlainHelmfile(name) {
			// helmfile v1 parses a plain helmfile.yaml as YAML before it
			// renders anything: a template that breaks the YAML is one
			// only a .gotmpl helmfile may hold.
			p := newLineIndex(src).pos(name, off)
			return nil, &Error{File: name, Line: p.Line, Column: p.Column,
				Msg:  "the helmfile is not YAML with its Go template actions in it; helmfile v1 renders a whole file as a template only when it is named .gotmpl",
				Hint: "rename it to " + path.Base(slashed(name)) + ".gotmpl, or quote the template as a release field's value", Err: err}
		}
		return nil, err
	}
	f.p.releaseTemplates = isPlainHelmfile(name)
	r.v.files[name] = f
	return f, nil
}

// isPlainHelmfile: a helmfile not named .gotmpl, which helmfile v1 reads
// as YAML and whose release fields it then renders one by one.
func isPlainHelmfile(name string) bool {
	return isHelmfileName(name) && !strings.HasSuffix(name, ".gotmpl")
}

// unrendered refuses a template where helmfile v1 leaves it as written: in
// a plain helmfile.yaml, outside the release fields it renders (chart,
// namespace, version, values file paths, valuesTemplate).
func unrendered(f *yamlFile, s *scalar, where string) error {
	if s == nil || !s.templated || !f.p.releaseTemplates {
		return nil
	}
	return errorAt(s.pos, "write it under the release's valuesTemplate:, which helmfile renders, or rename the helmfile to "+path.Base(slashed(f.name))+".gotmpl",
		"helmfile v1 does not render %s of a plain %s: %s would reach helm as written", where, path.Base(slashed(f.name)), s.value)
}

// firstTemplateAction is the offset of the first {{ outside a comment, or
// -1. A comment starts at a # at the start of a line or after a blank,
// outside quotes.
func firstTemplateAction(src []byte) int {
	for start := 0; start < len(src); {
		end := lineEnd(src, start)
		var quote byte
		for i := start; i < end; i++ {
			c := src[i]
			switch {
			case quote != 0:
				if c == quote {
					quote = 0
				}
			case c == '"' || c == '\'':
				quote = c
			case c == '#' && (i == start || src[i-1] == ' ' || src[i-1] == '\t'):
				i = end
			case c == '{' && i+1 < end && src[i+1] == '{':
				return i
			}
		}
		start = end + 1
	}
	return -1
}

// sections collects environments and releases from every document of the
// helmfile (a .gotmpl helmfile splits them with ---).
func (r *helmfileReader) sections(f *yamlFile) (map[string]*yaml.Node, []*yaml.Node, error) {
	p := f.p
	envs := map[string]*yaml.Node{}
	var releases []*yaml.Node
	for _, root := range f.docs {
		if root == nil {
			continue
		}
		if root.Kind != yaml.MappingNode {
			return nil, nil, errorAt(p.nodePos(root), "a helmfile starts with keys such as environments and releases", "the top level is not a mapping")
		}
		for _, key := range []string{"bases", "helmfiles"} {
			fields, err := p.fields(root)
			if err != nil {
				return nil, nil, err
			}
			if e, ok := fields[key]; ok {
				return nil, nil, errorAt(p.nodePos(e.key), "point the desired state at the helmfile that declares the releases, with its environments in the same file",
					"%s: is not supported: releases or environments defined in other helmfiles cannot be read", key)
			}
		}
		if e, err := p.child(root, "environments"); err != nil {
			return nil, nil, err
		} else if e != nil && e.Kind == yaml.MappingNode {
			ents, err := p.entries(e, false, 0)
			if err != nil {
				return nil, nil, err
			}
			for _, ent := range ents {
				v, _, err := p.deref(ent.val)
				if err != nil {
					return nil, nil, err
				}
				envs[ent.key.Value] = v
			}
		}
		if err := r.repositories(p, root); err != nil {
			return nil, nil, err
		}
		rels, err := p.child(root, "releases")
		if err != nil {
			return nil, nil, err
		}
		if rels == nil {
			continue
		}
		if rels.Kind != yaml.SequenceNode {
			return nil, nil, errorAt(p.nodePos(rels), "list releases as - name: ...", "releases is not a list")
		}
		for _, item := range rels.Content {
			m, _, err := p.deref(item)
			if err != nil {
				return nil, nil, err
			}
			if m.Kind != yaml.MappingNode {
				return nil, nil, errorAt(p.nodePos(item), "give each release a name, chart and values", "release is not a mapping")
			}
			releases = append(releases, m)
		}
	}
	return envs, releases, nil
}

// repositories reads the helmfile's repositories: list, so a release's
// chart "repo/name" knows its repository's URL. Entries it cannot read are
// skipped: the list only adds URLs, and helmfile itself checks it.
func (r *helmfileReader) repositories(p *yamlParser, root *yaml.Node) error {
	list, err := p.child(root, "repositories")
	if err != nil || list == nil || list.Kind != yaml.SequenceNode {
		return err
	}
	if r.repos == nil {
		r.repos = map[string]string{}
	}
	for _, item := range list.Content {
		m, _, err := p.deref(item)
		if err != nil {
			return err
		}
		if m.Kind != yaml.MappingNode {
			continue
		}
		var name, url string
		oci := false
		for i := 0; i+1 < len(m.Content); i += 2 {
			switch m.Content[i].Value {
			case "name":
				name = m.Content[i+1].Value
			case "url":
				url = m.Content[i+1].Value
			case "oci":
				oci = m.Content[i+1].Value == "true"
			}
		}
		if name == "" || url == "" {
			continue
		}
		if oci && !strings.Contains(url, "://") {
			url = "oci://" + url
		}
		r.repos[name] = url
	}
	return nil
}

// environment picks the environment this view is of: the one asked for,
// else the only one whose values files were all opened.
func (r *helmfileReader) environment(want string, envs map[string]*yaml.Node, dir string, f *yamlFile) (string, error) {
	names := make([]string, 0, len(envs))
	for n := range envs {
		names = append(names, n)
	}
	sort.Strings(names)
	if want != "" {
		if envs[want] == nil && !(want == "default" && len(envs) == 0) {
			return "", fmt.Errorf("%s: environment %q is not declared (declared: %s)", f.name, want, strings.Join(names, ", "))
		}
		return want, nil
	}
	if len(envs) == 0 {
		return "default", nil
	}
	var candidates []string
	for _, n := range names {
		vals, err := f.p.child(envs[n], "values")
		if err != nil {
			return "", err
		}
		opened, missing := 0, 0
		if vals != nil && vals.Kind == yaml.SequenceNode {
			for _, item := range vals.Content {
				if item.Kind != yaml.ScalarNode {
					continue
				}
				if _, ok := r.resolve(dir, f.p.scalar(item, false, false), n); ok {
					opened++
				} else {
					missing++
				}
			}
		}
		if opened > 0 && missing == 0 {
			candidates = append(candidates, n)
		}
	}
	if len(candidates) != 1 {
		return "", fmt.Errorf("%s: cannot tell which environment the files are of (candidates: %s); name it with WithEnvironment",
			f.name, strings.Join(candidates, ", "))
	}
	return candidates[0], nil
}

// renderEnvName is a value as helmfile renders it for env when its only
// template is {{ .Environment.Name }} (namespace: hocs-{{ .Environment.Name }});
// any other template stays as written.
func renderEnvName(s *scalar, env string) string {
	if !s.templated {
		return s.value
	}
	t := strings.TrimSpace(s.value)
	if len(t) >= 2 && (t[0] == '"' || t[0] == '\'') && t[len(t)-1] == t[0] {
		t = t[1 : len(t)-1]
	}
	if t = envNameRE.ReplaceAllString(t, env); strings.Contains(t, "{{") {
		return s.value
	}
	return t
}

var envNameRE = regexp.MustCompile(`\{\{-?\s*\.Environment\.Name\s*-?\}\}`)

// resolve turns a values path as written into the name of an opened file.
func (r *helmfileReader) resolve(dir string, s *scalar, env string) (string, bool) {
	p := envNameRE.ReplaceAllString(s.value, env)
	if strings.Contains(p, "{{") {
		return "", false
	}
	if !path.IsAbs(p) {
		p = path.Join(dir, p)
	}
	name, ok := r.byKey[path.Clean(p)]
	return name, ok
}

// valuesSource reads one entry of a values list: a file path (read when
// opened) or an inline mapping of the helmfile.
func (r *helmfileReader) valuesSource(main *yamlFile, item *yaml.Node, env, dir string) ([]leaf, string, *yaml.Node, error) {
	p := main.p
	item, _, err := p.deref(item)
	if err != nil {
		return nil, "", nil, err
	}
	var leaves []leaf
	switch item.Kind {
	case yaml.MappingNode:
		err := p.flatten(item, "", []string{}, false, 0, &leaves)
		return leaves, main.name, item, err
	case yaml.ScalarNode:
		s := p.scalar(item, false, false)
		name, ok := r.resolve(dir, s, env)
		if !ok {
			want := envNameRE.ReplaceAllString(s.value, env)
			if strings.Contains(want, "{{") {
				return nil, "", nil, errorAt(s.pos, "write the path literally, or with {{ .Environment.Name }} only",
					"values path %s of environment %q cannot be followed: its template is not one stepper reads", s.value, env)
			}
			return nil, "", nil, errorAt(s.pos, "add the file, or remove it from the list",
				"values file %s of environment %q is not in the desired state (looked for %s)", s.value, env, path.Join(dir, want))
		}
		f, err := r.parse(name)
		if err != nil {
			return nil, "", nil, err
		}
		var root *yaml.Node
		if len(f.docs) > 0 {
			root = f.docs[0]
		}
		if root == nil {
			return nil, name, nil, nil
		}
		if root.Kind != yaml.MappingNode {
			return nil, "", nil, errorAt(f.p.nodePos(root), "a values file is a mapping of values", "the top level is not a mapping")
		}
		err = f.p.flatten(root, "", []string{}, false, 0, &leaves)
		return leaves, name, root, err
	}
	return nil, "", nil, nil
}

var (
	valuesRefRE = regexp.MustCompile(`^\{\{-?\s*\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)\s*(?:\|\s*(?:quote|squote|toString)\s*)?-?\}\}$`)
	indexRefRE  = regexp.MustCompile(`^\{\{-?\s*index\s+\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)*)((?:\s+"[^"\\{}]*")+)\s*(?:\|\s*(?:quote|squote|toString)\s*)?-?\}\}$`)
	quotedArgRE = regexp.MustCompile(`"([^"]*)"`)
)

// valuesRef returns the environment values key a templated value reads,
// when it is one of the two recognised forms.
func valuesRef(s *scalar) (string, bool) {
	t := strings.TrimSpace(s.value)
	if len(t) >= 2 && (t[0] == '"' || t[0] == '\'') && t[len(t)-1] == t[0] {
		t = t[1 : len(t)-1]
	}
	var segs []string
	if m := valuesRefRE.FindStringSubmatch(t); m != nil {
		segs = strings.Split(m[1][1:], ".")
	} else if m := indexRefRE.FindStringSubmatch(t); m != nil {
		if m[1] != "" {
			segs = strings.Split(m[1][1:], ".")
		}
		for _, a := range quotedArgRE.FindAllStringSubmatch(m[2], -1) {
			segs = append(segs, a[1])
		}
	} else {
		return "", false
	}
	key := ""
	for _, s := range segs {
		key = joinKey(key, escapeKey(s))
	}
	return key, true
}

// follow resolves a templated value that points into the environment's
// values; any other template stays opaque.
func follow(l *loc, envValues map[string]*loc) (*loc, error) {
	if l.s == nil || !l.s.templated {
		return l, nil
	}
	key, ok := valuesRef(l.s)
	if !ok {
		return l, nil
	}
	target := envValues[key]
	if target == nil || target.s == nil {
		return nil, errorAt(l.s.pos, "add it to the environment's values (the versions file)", "%s reads .Values.%s, which no values file of the environment sets", l.s.value, key)
	}
	return target, nil
}

func (r *helmfileReader) release(main *yamlFile, m *yaml.Node, env, dir string, envValues map[string]*loc) error {
	p := main.p
	name, err := p.text(m, "name")
	if err != nil {
		return err
	}
	if name == nil || name.value == "" {
		return errorAt(p.nodePos(m), "give every release a name", "release has no name")
	}
	if name.templated {
		return errorAt(name.pos, "write release names literally", "release name %s is templated", name.value)
	}
	if first := r.v.apps[name.value]; first != nil {
		return errorAt(name.pos, "remove or rename one of them", "app %q is declared twice (first at %s)", name.value, first.app.Pos)
	}
	strs, err := textsOf(p, m, "namespace", "chart", "installed")
	if err != nil {
		return err
	}
	a := &appView{values: map[string]*loc{}}
	a.app = App{Name: name.value, Namespace: renderEnvName(strs["namespace"], env), Enabled: strs["installed"].value != "false", Pos: p.nodePos(m)}
	chart := strs["chart"].value
	if i := strings.LastIndexByte(chart, '/'); i >= 0 && !strings.HasPrefix(chart, ".") && !strings.HasPrefix(chart, "/") && !strings.Contains(chart, "://") {
		a.app.Chart = Chart{Repo: chart[:i], Name: chart[i+1:], RepoURL: r.repos[chart[:i]]}
	} else {
		a.app.Chart = Chart{Name: chart}
	}
	version, err := p.text(m, "version")
	if err != nil {
		return err
	}
	literal := &loc{file: main.name, root: m, path: []string{"version"}, s: version}
	a.version = literal
	versionPos := a.app.Pos
	if version != nil {
		if a.version, err = follow(a.version, envValues); err != nil {
			return err
		}
		a.app.ChartVersion, versionPos = a.version.s.value, a.version.s.pos
	}
	if r.shared && a.version == literal {
		// Written in the release itself, the version is every
		// environment's: editing it for one would release to all.
		where, what := a.app.Pos, "has no version"
		if version != nil {
			where, what = version.pos, "writes its version literally"
		}
		a.version = nil
		a.versionErr = errorAt(where,
			fmt.Sprintf("move the version into environment %s's versions file (e.g. charts: {%s: 1.2.3}) and write version: {{ index .Values \"charts\" \"%s\" | quote }} in the release", env, name.value, name.value),
			"app %q %s in %s, which every environment shares: setting it for %s would change them all", name.value, what, main.name, env)
	}
	var inline *loc
	// helmfile puts valuesTemplate's entries, which it renders, before
	// values' (whose inline mappings a plain helmfile.yaml leaves as
	// written), so values win.
	for _, list := range []string{"valuesTemplate", "values"} {
		vals, err := p.child(m, list)
		if err != nil {
			return err
		}
		if vals == nil || vals.Kind != yaml.SequenceNode {
			continue
		}
		for _, item := range vals.Content {
			if item.Kind == yaml.ScalarNode {
				if list == "valuesTemplate" {
					continue // helmfile renders only its mappings
				}
				if file, ok := r.resolve(dir, p.scalar(item, false, false), env); ok {
					a.app.ValuesFiles = append(a.app.ValuesFiles, file)
				}
			}
			leaves, file, root, err := r.valuesSource(main, item, env, dir)
			if err != nil {
				return err
			}
			if file == "" {
				continue
			}
			here := &loc{file: file, root: root, path: []string{}}
			if file == main.name {
				inline = here
			} else {
				a.newValues = here
			}
			for _, lf := range leaves {
				if list == "values" && file == main.name {
					if err := unrendered(main, lf.s, "a release's inline values"); err != nil {
						return err
					}
				}
				l, err := follow(&loc{file: file, root: root, path: lf.path, s: lf.s}, envValues)
				if err != nil {
					return err
				}
				a.values[lf.key] = l
			}
		}
	}
	if a.newValues == nil {
		a.newValues = inline
	}
	if set, err := p.child(m, "set"); err != nil {
		return err
	} else if set != nil && set.Kind == yaml.SequenceNode {
		// `set:` entries win over values; they are edited in place only.
		for _, item := range set.Content {
			key, err := p.text(item, "name")
			if err != nil {
				return err
			}
			value, err := p.text(item, "value")
			if err != nil {
				return err
			}
			if key != nil && key.value != "" && value != nil {
				if err := unrendered(main, value, "a release's set: values"); err != nil {
					return err
				}
				l, err := follow(&loc{file: main.name, s: value}, envValues)
				if err != nil {
					return err
				}
				a.values[key.value] = l
			}
		}
	}
	a.finish(r.o.keys, versionPos)
	r.v.apps[a.app.Name] = a
	r.v.order = append(r.v.order, a.app.Name)
	return nil
}
