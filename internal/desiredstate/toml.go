package desiredstate

import (
	"fmt"
	"sort"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// tomlSyntax reads a Helmsman DSF written in TOML through go-toml's
// unstable parser, whose nodes carry byte ranges into the input. Apps may
// be written as [apps.x] tables, as inline tables, or with dotted keys;
// all three flatten to the same leaves.
type tomlSyntax struct{}

type tomlApp struct {
	header  *tomlHeader
	inline  *tomlInline
	leaves  []*tomlLeaf
	headers []*tomlHeader // [apps.x.*] sub-tables
}

type tomlMap struct {
	header *tomlHeader
	inline *tomlInline
}

func (tomlSyntax) parse(file string, src []byte, lim limits) (t *tree, err error) {
	defer func() {
		if r := recover(); r != nil {
			t, err = nil, &Error{File: file, Msg: fmt.Sprintf("TOML parser failed: %v", r), Hint: "check the file is valid TOML"}
		}
	}()
	d := &tomlDoc{file: file, src: src, lines: newLineIndex(src), inlines: map[string]*tomlInline{}}
	var p unstable.Parser
	p.Reset(src)
	var table []string
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			table = nil
			var first, last unstable.Range
			for it := e.Key(); it.Next(); {
				n := it.Node()
				if len(table) == 0 {
					first = n.Raw
				}
				last = n.Raw
				table = append(table, string(n.Data))
			}
			h := &tomlHeader{path: table, start: int(first.Offset), end: int(last.Offset + last.Length)}
			for h.start > 0 && src[h.start] != '[' {
				h.start--
			}
			for h.end < len(src) && src[h.end-1] != ']' {
				h.end++
			}
			if e.Kind == unstable.Table {
				d.headers = append(d.headers, h)
			} else if len(table) >= 1 && table[0] == "apps" {
				return nil, errorAt(d.pos(h.start), "write each app as [apps.<name>]", "[[%s]] is an array of tables; Helmsman apps are a table of named apps", strings.Join(table, "."))
			}
		case unstable.KeyValue:
			end := int(e.Raw.Offset + e.Raw.Length)
			d.walk(e, table, nil, end)
		}
	}
	if perr := p.Error(); perr != nil {
		return nil, d.parserError(perr)
	}
	t, err = d.tree()
	if err != nil {
		return nil, err
	}
	// The unstable parser does not check TOML's semantic rules (a key or
	// table defined twice, a table extended after an inline definition);
	// the full decoder does, with a position.
	if lim.valuesOnly {
		return t, nil
	}
	var generic map[string]any
	if err := toml.Unmarshal(src, &generic); err != nil {
		return nil, d.decodeError(err)
	}
	return t, nil
}

func (d *tomlDoc) tree() (*tree, error) {
	t := &tree{file: d.file, src: d.src, apps: map[string]*rawApp{}}
	first := map[string]int{} // where each app first appears, for file order
	get := func(name string, off int) *rawApp {
		a := t.apps[name]
		if a == nil {
			a = &rawApp{name: name, fields: map[string]*scalar{}, lists: map[string][]*scalar{}, maps: map[string]*rawMap{}, native: &tomlApp{}}
			t.apps[name] = a
			t.order = append(t.order, name)
			first[name] = off
		}
		first[name] = min(first[name], off)
		return a
	}
	getMap := func(a *rawApp, name string, off int) *rawMap {
		m := a.maps[name]
		if m == nil {
			m = &rawMap{name: name, pos: d.pos(off), entries: map[string]*scalar{}, native: &tomlMap{}}
			a.maps[name] = m
		}
		return m
	}
	for _, h := range d.headers {
		if len(h.path) >= 2 && h.path[0] == "namespaces" {
			t.declareNamespace(h.path[1], d.pos(h.start))
		}
		if len(h.path) == 1 && h.path[0] == "namespaces" && t.namespaces == nil {
			t.namespaces = map[string]Pos{}
		}
		if len(h.path) < 2 || h.path[0] != "apps" {
			continue
		}
		a := get(h.path[1], h.start)
		ta := a.native.(*tomlApp)
		switch {
		case len(h.path) == 2:
			if ta.header != nil {
				return nil, errorAt(d.pos(h.start), "remove or rename one of them", "app %q is declared twice (first at line %d)", h.path[1], d.pos(ta.header.start).Line)
			}
			ta.header = h
		case len(h.path) == 3 && isValueMap(h.path[2]):
			getMap(a, h.path[2], h.start).native.(*tomlMap).header = h
			ta.headers = append(ta.headers, h)
		default:
			ta.headers = append(ta.headers, h)
		}
	}
	for _, l := range d.leaves {
		if len(l.path) == 1 && l.path[0] == "apps" && l.kind != unstable.InlineTable {
			return nil, errorAt(d.pos(l.kvStart), "write apps as [apps.<name>] tables", "apps is not a table")
		}
		if len(l.path) >= 2 && l.path[0] == "namespaces" {
			t.declareNamespace(l.path[1], d.pos(l.kvStart))
		}
		if len(l.path) == 2 && l.path[0] == "helmRepos" {
			t.addHelmRepo(l.path[1], l.value)
		}
		if len(l.path) < 2 || l.path[0] != "apps" {
			continue
		}
		pos := d.pos(l.segs[len(l.segs)-1][0])
		if len(l.path) == 2 {
			if l.kind != unstable.InlineTable {
				return nil, errorAt(pos, "write the app as a table: [apps."+l.path[1]+"]", "app %q is not a table", l.path[1])
			}
			a := get(l.path[1], l.kvStart)
			a.native.(*tomlApp).inline = d.inlines[pathKey(l.path)]
			continue
		}
		a := get(l.path[1], l.kvStart)
		ta := a.native.(*tomlApp)
		ta.leaves = append(ta.leaves, l)
		field := l.path[2]
		if isValueMap(field) {
			m := getMap(a, field, l.kvStart)
			switch {
			case len(l.path) == 3 && l.kind == unstable.InlineTable:
				m.native.(*tomlMap).inline = d.inlines[pathKey(l.path)]
			case len(l.path) == 3:
				return nil, errorAt(pos, "write "+field+" as a table of helm --set keys", "%s of app %q is not a table", field, a.name)
			case len(l.path) > 4:
				return nil, errorAt(pos, `quote the whole helm --set path as one key, e.g. "image.tag" = "1.2.3"`,
					"%s key %q of app %q is a dotted key; TOML makes it a nested table", field, strings.Join(l.path[3:], "."), a.name)
			case l.kind == unstable.InlineTable || l.kind == unstable.Array:
				return nil, errorAt(pos, "give a single value", "%s.%s of app %q is not a single value", field, l.path[3], a.name)
			default:
				m.entries[l.path[3]] = d.scalar(l)
				m.keys = append(m.keys, l.path[3])
			}
			continue
		}
		if len(l.path) != 3 {
			continue
		}
		switch l.kind {
		case unstable.Array:
			a.lists[field] = l.list
		case unstable.InlineTable:
		default:
			a.fields[field] = d.scalar(l)
		}
	}
	// Helmsman applies apps of equal priority in file order, so keep it.
	sort.SliceStable(t.order, func(i, j int) bool { return first[t.order[i]] < first[t.order[j]] })
	for name, a := range t.apps {
		a.pos = d.pos(first[name])
	}
	return t, nil
}

func isValueMap(field string) bool { return field == "set" || field == "setString" }

func (d *tomlDoc) scalar(l *tomlLeaf) *scalar {
	s := &scalar{value: l.value, pos: d.pos(l.valStart), start: l.valStart, end: l.valEnd, native: l}
	if strings.HasPrefix(string(d.src[l.valStart:l.valEnd]), `"""`) || strings.HasPrefix(string(d.src[l.valStart:l.valEnd]), `'''`) {
		s.start, s.why = -1, "multi-line string"
	}
	return s
}

func (tomlSyntax) render(like *scalar, src []byte, value string) string {
	if like == nil || like.start < 0 {
		return quoteDouble(value)
	}
	l, _ := like.native.(*tomlLeaf)
	switch {
	case src[like.start] == '\'':
		return tomlLiteralOr(value)
	case src[like.start] == '"' || l == nil:
		return quoteDouble(value)
	case l.kind == unstable.Bool && (value == "true" || value == "false"):
		return value
	case l.kind == unstable.Integer && tomlIntRE.MatchString(value):
		return value
	}
	return quoteDouble(value)
}

// sibling writes "key = value" the way leaf l is written: same dotted
// prefix, same separator, same quoting.
func (tomlSyntax) sibling(src []byte, l *tomlLeaf, prefixFrom int, key, value string) string {
	last := l.segs[len(l.segs)-1]
	like := &scalar{start: l.valStart, end: l.valEnd, native: l, value: l.value}
	if l.kind != unstable.String {
		like = &scalar{start: -1} // a new set value is a string
	}
	return string(src[prefixFrom:last[0]]) + tomlKey(src[last[0]:last[1]], key) + string(src[last[1]:l.valStart]) + tomlSyntax{}.render(like, src, value)
}

func (ts tomlSyntax) insertEntry(t *tree, app *rawApp, mapName, key, value string) ([]byte, error) {
	src := t.src
	ta := app.native.(*tomlApp)
	if m := app.maps[mapName]; m != nil {
		tm := m.native.(*tomlMap)
		if sib := anchorEntry(m, key); sib != nil {
			l := sib.native.(*tomlLeaf)
			if l.inline {
				return splice(src, l.valEnd, l.valEnd, ", "+ts.sibling(src, l, l.kvStart, key, value)), nil
			}
			return insertLine(src, lineEnd(src, l.exprEnd-1), ts.sibling(src, l, lineStart(src, l.kvStart), key, value)), nil
		}
		switch {
		case tm.inline != nil:
			return splice(src, tm.inline.open+1, tm.inline.open+1, " "+tomlKey(nil, key)+" = "+quoteDouble(value)+" "), nil
		case tm.header != nil:
			return insertLine(src, lineEnd(src, tm.header.end), indentOf(src, tm.header.start)+tomlKey(nil, key)+" = "+quoteDouble(value)), nil
		}
	}
	entry := tomlKey(nil, key) + " = " + quoteDouble(value)
	switch {
	case ta.inline != nil:
		in := ta.inline
		if in.lastEnd < 0 {
			return splice(src, in.open+1, in.open+1, " "+mapName+" = { "+entry+" } "), nil
		}
		return splice(src, in.lastEnd, in.lastEnd, ", "+mapName+" = { "+entry+" }"), nil
	case ta.header != nil:
		// A new [apps.x.setString] section goes after everything the app
		// already has, indented like the app's own header and keys.
		end := lineEnd(src, ta.header.end)
		keyIndent := indentOf(src, ta.header.start)
		for i, l := range ta.leaves {
			if !l.inline {
				end = max(end, lineEnd(src, l.exprEnd-1))
				if i == 0 {
					keyIndent = indentOf(src, l.kvStart)
				}
			}
		}
		for _, h := range ta.headers {
			end = max(end, lineEnd(src, h.end))
		}
		hdr := string(src[ta.header.start : ta.header.end-1])
		hdr = strings.TrimRight(hdr, " \t") + "." + mapName + "]"
		return insertLine(src, end, indentOf(src, ta.header.start)+hdr+"\n"+keyIndent+entry), nil
	}
	for _, l := range ta.leaves {
		// Dotted keys such as jenkins.version = "1": write
		// jenkins.setString."image.tag" = "2" below the last of them.
		fieldSeg := 2 - l.base
		if l.inline || fieldSeg < 0 || fieldSeg >= len(l.segs) {
			continue
		}
		last := ta.leaves[len(ta.leaves)-1]
		for _, o := range ta.leaves {
			if !o.inline {
				last = o
			}
		}
		line := string(src[lineStart(src, l.kvStart):l.segs[fieldSeg][0]]) + mapName + "." + tomlKey(nil, key) +
			string(src[l.segs[len(l.segs)-1][1]:l.valStart]) + quoteDouble(value)
		return insertLine(src, lineEnd(src, last.exprEnd-1), line), nil
	}
	return nil, errorAt(app.pos, "add a ["+"apps."+app.name+"."+mapName+"] table by hand", "cannot add %s to app %q: no place to write it", mapName, app.name)
}

func (tomlSyntax) insertField(t *tree, app *rawApp, field, _ string) ([]byte, error) {
	return nil, errorAt(app.pos, "add "+field+" to the app", "app %q has no %s", app.name, field)
}

func (tomlSyntax) removeEntry(t *tree, app *rawApp, mapName, key string) ([]byte, error) {
	s := app.maps[mapName].entries[key]
	l := s.native.(*tomlLeaf)
	if l.inline {
		return removeSpan(t.src, l.kvStart, l.valEnd, true), nil
	}
	return removeSpan(t.src, l.kvStart, l.exprEnd, false), nil
}
