package desiredstate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"go.yaml.in/yaml/v3"
)

// yamlSyntax reads a Helmsman DSF written in YAML through yaml.v3 nodes,
// which give line and column for every value; those become byte spans.
type yamlSyntax struct{}

// yamlApp is the handle for inserting into an app's own mapping.
type yamlApp struct {
	key     *yaml.Node
	mapping *yaml.Node // nil when the whole app is an alias
	owned   bool       // no other app reaches this mapping through an alias
	merge   *yaml.Node // value of the app's last merge key, if any
	flow    bool
}

// yamlMap is the handle for inserting into set or setString.
type yamlMap struct {
	value   *yaml.Node // as written: a mapping or an alias to one
	mapping *yaml.Node // resolved mapping
	owned   bool
	flow    bool
}

func (yamlSyntax) parse(file string, src []byte, lim limits) (t *tree, err error) {
	defer func() {
		// yaml.v3 has panicked on hostile input before; a bad file must
		// never take the process down.
		if r := recover(); r != nil {
			t, err = nil, &Error{File: file, Msg: fmt.Sprintf("YAML parser failed: %v", r), Hint: "check the file is valid YAML"}
		}
	}()
	p := &yamlParser{file: file, src: src, lines: newLineIndex(src), lim: lim, aliased: map[*yaml.Node]bool{}}
	t = &tree{file: file, src: src, apps: map[string]*rawApp{}}
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return t, nil
		}
		return nil, p.syntaxError(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, p.syntaxError(err)
		}
		return nil, errorAt(p.nodePos(&extra), "keep one environment's desired state in one YAML document", "a second YAML document starts here")
	}
	p.indexAliases(&doc, 0)
	if len(doc.Content) == 0 {
		return t, nil
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		return t, nil
	}
	if root.Kind != yaml.MappingNode {
		return nil, errorAt(p.nodePos(root), "a DSF starts with keys such as settings, namespaces, helmRepos and apps", "the top level is not a mapping")
	}
	top, err := p.entries(root, false, 0)
	if err != nil {
		return nil, err
	}
	for _, e := range top {
		switch e.key.Value {
		case "namespaces":
			if ns, _, err := p.deref(e.val); err == nil && ns.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(ns.Content); i += 2 {
					t.declareNamespace(ns.Content[i].Value, p.nodePos(ns.Content[i]))
				}
			} else if t.namespaces == nil {
				t.namespaces = map[string]Pos{} // declared empty: every app namespace is undeclared
			}
			continue
		case "helmRepos":
			if repos, _, err := p.deref(e.val); err == nil && repos.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(repos.Content); i += 2 {
					t.addHelmRepo(repos.Content[i].Value, repos.Content[i+1].Value)
				}
			}
			continue
		case "apps":
		default:
			continue
		}
		apps := e.val
		if apps.Kind == yaml.AliasNode {
			return nil, errorAt(p.nodePos(apps), "write the apps mapping out", "apps is an alias")
		}
		if apps.Kind == yaml.ScalarNode && apps.ShortTag() == "!!null" {
			return t, nil
		}
		if apps.Kind != yaml.MappingNode {
			return nil, errorAt(p.nodePos(apps), "apps maps each release name to its settings", "apps is not a mapping")
		}
		for i := 0; i+1 < len(apps.Content); i += 2 {
			if err := p.app(t, apps.Content[i], apps.Content[i+1]); err != nil {
				return nil, err
			}
		}
	}
	return t, nil
}

func (p *yamlParser) app(t *tree, k, v *yaml.Node) error {
	if k.Kind != yaml.ScalarNode || k.ShortTag() == "!!merge" {
		return errorAt(p.nodePos(k), "write each app under apps by name", "apps entry is not a plain app name")
	}
	name := k.Value
	if first, dup := t.apps[name]; dup {
		return errorAt(p.nodePos(k), "remove or rename one of them", "app %q is declared twice (first at line %d)", name, first.pos.Line)
	}
	m, viaAlias, err := p.deref(v)
	if err != nil {
		return err
	}
	if m.Kind != yaml.MappingNode {
		return errorAt(p.nodePos(v), "give the app namespace, enabled, chart and version", "app %q is not a mapping", name)
	}
	ya := &yamlApp{key: k, owned: !viaAlias && !p.aliased[m], flow: m.Style&yaml.FlowStyle != 0}
	if !viaAlias {
		ya.mapping = m
	}
	app := &rawApp{name: name, pos: p.nodePos(k), fields: map[string]*scalar{}, lists: map[string][]*scalar{}, maps: map[string]*rawMap{}, native: ya}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].ShortTag() == "!!merge" {
			ya.merge = m.Content[i+1]
			if n := len(ya.merge.Content); ya.merge.Kind == yaml.SequenceNode && n > 0 {
				ya.merge = ya.merge.Content[n-1] // "<<: [*a, *b]" or a block list
			}
		}
	}
	ents, err := p.entries(m, !ya.owned, 0)
	if err != nil {
		return err
	}
	for _, e := range ents {
		val, viaAlias, err := p.deref(e.val)
		if err != nil {
			return err
		}
		shared := e.shared || viaAlias || p.aliased[val]
		field := e.key.Value
		switch {
		case (field == "set" || field == "setString") && val.Kind == yaml.MappingNode:
			if err := p.valueMap(app, e, val, shared); err != nil {
				return err
			}
		case val.Kind == yaml.SequenceNode:
			for _, item := range val.Content {
				item, _, err := p.deref(item)
				if err != nil {
					return err
				}
				if item.Kind == yaml.ScalarNode {
					app.lists[field] = append(app.lists[field], p.scalar(item, shared, val.Style&yaml.FlowStyle != 0))
				}
			}
		case val.Kind == yaml.ScalarNode:
			s := p.scalar(val, shared, e.flow)
			s.native = e.key
			app.fields[field] = s
		}
	}
	t.apps[name] = app
	t.order = append(t.order, name)
	return nil
}

func (p *yamlParser) valueMap(app *rawApp, e yamlEntry, m *yaml.Node, shared bool) error {
	flow := m.Style&yaml.FlowStyle != 0
	rm := &rawMap{name: e.key.Value, pos: p.nodePos(e.key), entries: map[string]*scalar{},
		native: &yamlMap{value: e.val, mapping: m, owned: !shared, flow: flow}}
	ents, err := p.entries(m, shared, 0)
	if err != nil {
		return err
	}
	for _, se := range ents {
		val, viaAlias, err := p.deref(se.val)
		if err != nil {
			return err
		}
		if val.Kind != yaml.ScalarNode {
			return errorAt(p.nodePos(se.key), `write helm --set paths as flat keys, e.g. "image.tag": "1.2.3"`, "%s.%s is not a single value", e.key.Value, se.key.Value)
		}
		s := p.scalar(val, se.shared || viaAlias || p.aliased[val], se.flow)
		s.native = se.key
		rm.entries[se.key.Value] = s
		rm.keys = append(rm.keys, se.key.Value)
	}
	app.maps[e.key.Value] = rm
	return nil
}

func (yamlSyntax) render(like *scalar, src []byte, value string) string {
	if like == nil || like.start < 0 {
		return yamlRender(0, "!!str", false, value)
	}
	style := src[like.start]
	if style != '"' && style != '\'' {
		return yamlRender(0, (&yaml.Node{Kind: yaml.ScalarNode, Value: like.value}).ShortTag(), like.flow, value)
	}
	return yamlRender(style, "!!str", like.flow, value)
}

// renderKey writes a mapping key quoted like its sibling, or plain when
// that is safe.
func (y yamlSyntax) renderKey(like *yaml.Node, key string, flow bool) string {
	switch {
	case like != nil && like.Style&yaml.DoubleQuotedStyle != 0:
		return quoteDouble(key)
	case like != nil && like.Style&yaml.SingleQuotedStyle != 0:
		return yamlRender('\'', "!!str", flow, key)
	case yamlPlainOK(key, "!!str", flow) && !strings.ContainsAny(key, ":#"):
		return key
	}
	return quoteDouble(key)
}

func (y yamlSyntax) insertEntry(t *tree, app *rawApp, mapName, key, value string) ([]byte, error) {
	p := &yamlParser{file: t.file, src: t.src, lines: newLineIndex(t.src)}
	ya := app.native.(*yamlApp)
	m := app.maps[mapName]
	strLike := &scalar{start: -1}
	if m == nil {
		if !ya.owned || ya.mapping == nil {
			return nil, errorAt(app.pos, "write this app out instead of sharing it through an alias", "cannot add %s to app %q: its mapping is shared with other apps", mapName, app.name)
		}
		if f := app.fields[mapName]; f != nil {
			// "set:" with nothing after it is an empty map to Helmsman;
			// the new key goes on the next line. Anything else is not a map.
			keyNode, _ := f.native.(*yaml.Node)
			if f.value != "" || f.start >= 0 || ya.flow || keyNode == nil || f.shared {
				return nil, errorAt(f.pos, "make "+mapName+" a mapping of helm --set keys", "%s of app %q is not a mapping", mapName, app.name)
			}
			indent, step := y.appIndent(p, ya)
			line := indent + step + y.renderKey(nil, key, false) + ": " + y.render(strLike, nil, value)
			return insertLine(t.src, lineEnd(t.src, p.offset(keyNode)), line), nil
		}
		if ya.flow {
			return y.insertFlow(p, p.src, ya.mapping, nil, mapName+": {"+y.renderKey(nil, key, true)+": "+yamlRender(0, "!!str", true, value)+"}")
		}
		indent, step := y.appIndent(p, ya)
		text := indent + mapName + ":\n" + indent + step + y.renderKey(nil, key, false) + ": " + y.render(strLike, nil, value)
		return y.insertLineAfter(p, app, text)
	}
	ym := m.native.(*yamlMap)
	sib := anchorEntry(ownEntries(m), key)
	like := strLike
	var likeKey *yaml.Node
	if sib != nil {
		like, likeKey = sib, sib.native.(*yaml.Node)
	}
	if over := m.entries[key]; over != nil && over.start >= 0 {
		like = over // an override looks like the value it overrides
	}
	// A new key copies its sibling's quoting but is always a string: set
	// values are strings to Helmsman.
	newValue := yamlRender(quoteChar(like, t.src), "!!str", ym.flow, value)
	if ym.value.Kind == yaml.AliasNode {
		// set: *common  ->  set:\n  <<: *common\n  key: value
		if !ya.owned {
			return nil, errorAt(app.pos, "write this app out instead of sharing it through an alias", "cannot override %s.%s in app %q: the app itself is shared", mapName, key, app.name)
		}
		indent, step := y.appIndent(p, ya)
		off := p.offset(ym.value)
		end := off + 1 + len(ym.value.Value)
		for off > 0 && (t.src[off-1] == ' ' || t.src[off-1] == '\t') {
			off-- // no trailing blank after "set:"
		}
		text := "\n" + indent + step + "<<: *" + ym.value.Value + "\n" + indent + step + y.renderKey(nil, key, false) + ": " + newValue
		return splice(t.src, off, end, strings.ReplaceAll(text, "\n", newline(t.src))), nil
	}
	if !ym.owned {
		return nil, errorAt(m.pos, "give this app its own "+mapName+" mapping", "cannot add %s.%s to app %q: the mapping is shared with other apps through an anchor", mapName, key, app.name)
	}
	if ym.flow {
		return y.insertFlow(p, p.src, ym.mapping, sib, y.renderKey(likeKey, key, true)+": "+newValue)
	}
	var indent string
	switch {
	case likeKey != nil:
		indent = p.keyIndent(likeKey)
	case len(ym.mapping.Content) > 0:
		indent = p.keyIndent(ym.mapping.Content[0])
	default:
		return nil, errorAt(m.pos, "add the key by hand", "cannot add %s.%s to app %q: the mapping has no entries to align with", mapName, key, app.name)
	}
	text := indent + y.renderKey(likeKey, key, false) + ": " + newValue
	if sib == nil || sib.start < 0 {
		// Only merged entries: go after the mapping's own last line.
		last := ym.mapping.Content[len(ym.mapping.Content)-1]
		for len(last.Content) > 0 {
			last = last.Content[len(last.Content)-1] // "<<:" with a block list
		}
		off := p.offset(last)
		return insertLine(t.src, lineEnd(t.src, off), text), nil
	}
	return insertLine(t.src, lineEnd(t.src, sib.end), text), nil
}

// ownEntries is the map restricted to entries written in this app's own
// mapping, the only ones new keys can sit next to.
func ownEntries(m *rawMap) *rawMap {
	out := &rawMap{entries: map[string]*scalar{}}
	for _, k := range m.keys {
		if s := m.entries[k]; !s.shared && s.start >= 0 {
			out.entries[k] = s
			out.keys = append(out.keys, k)
		}
	}
	return out
}

// insertFlow adds text to flow mapping m, after sib when it has a span,
// else first; src is the text to splice into (the parser's may be masked).
func (y yamlSyntax) insertFlow(p *yamlParser, src []byte, m *yaml.Node, sib *scalar, text string) ([]byte, error) {
	if sib != nil && sib.start >= 0 {
		return splice(src, sib.end, sib.end, ", "+text), nil
	}
	off := p.offset(m)
	if off < 0 || off >= len(src) || src[off] != '{' {
		return nil, errorAt(p.nodePos(m), "add the key by hand", "cannot find the start of the flow mapping")
	}
	if len(m.Content) > 0 {
		text += ", "
	}
	return splice(src, off+1, off+1, text), nil
}

// appIndent returns the indentation of the app's fields and one level of
// nesting, taken from the file itself.
func (y yamlSyntax) appIndent(p *yamlParser, ya *yamlApp) (string, string) {
	indent := p.keyIndent(ya.key) + "  "
	if ya.mapping != nil && len(ya.mapping.Content) > 0 {
		indent = p.keyIndent(ya.mapping.Content[0])
	}
	step := len(indent) - (ya.key.Column - 1)
	if step <= 0 {
		step = 2
	}
	return indent, strings.Repeat(" ", step)
}

// insertLineAfter puts a new field line after the app's last one-line
// field, after its merge key, or right under the app's name.
func (y yamlSyntax) insertLineAfter(p *yamlParser, app *rawApp, text string) ([]byte, error) {
	ya := app.native.(*yamlApp)
	at := -1
	for i := 0; i+1 < len(ya.mapping.Content); i += 2 {
		v := ya.mapping.Content[i+1]
		if v.Kind == yaml.AliasNode {
			at = lineEnd(p.src, p.offset(v))
			continue
		}
		if v.Kind == yaml.ScalarNode {
			if s := p.scalar(v, false, false); s.start >= 0 {
				at = lineEnd(p.src, s.end)
			}
		}
	}
	if at < 0 {
		at = lineEnd(p.src, p.offset(ya.key))
	}
	return insertLine(p.src, at, text), nil
}

func (y yamlSyntax) insertField(t *tree, app *rawApp, field, value string) ([]byte, error) {
	p := &yamlParser{file: t.file, src: t.src, lines: newLineIndex(t.src)}
	ya := app.native.(*yamlApp)
	if !ya.owned || ya.mapping == nil {
		return nil, errorAt(app.pos, "write this app out instead of sharing it through an anchor or alias", "cannot change %s of app %q: its mapping is shared with other apps", field, app.name)
	}
	// An override looks like the value it overrides.
	val := y.render(app.fields[field], t.src, value)
	if ya.flow {
		return y.insertFlow(p, p.src, ya.mapping, nil, field+": "+val)
	}
	indent, _ := y.appIndent(p, ya)
	text := indent + field + ": " + val
	if ya.merge != nil {
		// Overrides read best right under the merge they override.
		return insertLine(t.src, lineEnd(t.src, p.offset(ya.merge)), text), nil
	}
	return y.insertLineAfter(p, app, text)
}

func (yamlSyntax) removeEntry(t *tree, app *rawApp, mapName, key string) ([]byte, error) {
	p := &yamlParser{file: t.file, src: t.src, lines: newLineIndex(t.src)}
	m := app.maps[mapName]
	s := m.entries[key]
	if s.shared {
		return nil, errorAt(s.pos, "remove it where the anchor is defined, or override it", "cannot remove %s.%s of app %q: it comes from a shared anchor", mapName, key, app.name)
	}
	if s.start < 0 {
		return nil, errorAt(s.pos, "remove it by hand", "cannot remove %s.%s of app %q: %s", mapName, key, app.name, s.why)
	}
	start := p.offset(s.native.(*yaml.Node))
	return removeSpan(t.src, start, s.end, m.native.(*yamlMap).flow), nil
}
