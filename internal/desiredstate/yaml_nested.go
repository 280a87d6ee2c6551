package desiredstate

// Nested YAML values, the way Flux HelmReleases and helmfile keep them:
// every leaf of a mapping read as a dotted Helm values key, and one value
// set or removed by its path with a splice. Nothing here knows either
// format.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// yamlFile is one parsed YAML file of one or more documents.
type yamlFile struct {
	name string
	src  []byte // the file as written; edits splice into it
	p    *yamlParser
	docs []*yaml.Node // each document's root node; nil for an empty one
}

// parseYAMLFile reads every document of a file. masks are spans of Go
// template actions to blank out before parsing (see maskTemplates).
func parseYAMLFile(name string, src []byte, masks [][2]int, lim limits) (f *yamlFile, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, &Error{File: name, Msg: fmt.Sprintf("YAML parser failed: %v", r), Hint: "check the file is valid YAML"}
		}
	}()
	if len(src) > lim.maxBytes {
		return nil, tooLarge(name, len(src), lim.maxBytes)
	}
	text := src
	if len(masks) > 0 {
		text = applyMasks(src, masks)
	}
	p := &yamlParser{file: name, src: text, lines: newLineIndex(text), lim: lim, aliased: map[*yaml.Node]bool{}, masks: masks, orig: src}
	f = &yamlFile{name: name, src: src, p: p}
	dec := yaml.NewDecoder(bytes.NewReader(text))
	for {
		var doc yaml.Node
		if err := dec.Decode(&doc); err != nil {
			if errors.Is(err, io.EOF) {
				return f, nil
			}
			return nil, p.syntaxError(err)
		}
		p.indexAliases(&doc, 0)
		var root *yaml.Node
		if len(doc.Content) > 0 && !(doc.Content[0].Kind == yaml.ScalarNode && doc.Content[0].ShortTag() == "!!null") {
			root = doc.Content[0]
		}
		f.docs = append(f.docs, root)
	}
}

// fields returns a mapping's entries by key, merge keys resolved.
func (p *yamlParser) fields(m *yaml.Node) (map[string]yamlEntry, error) {
	ents, err := p.entries(m, false, 0)
	if err != nil {
		return nil, err
	}
	out := make(map[string]yamlEntry, len(ents))
	for _, e := range ents {
		out[e.key.Value] = e
	}
	return out, nil
}

// child returns the value of key in mapping m, aliases resolved, or nil.
func (p *yamlParser) child(m *yaml.Node, key string) (*yaml.Node, error) {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil, nil
	}
	f, err := p.fields(m)
	if err != nil {
		return nil, err
	}
	e, ok := f[key]
	if !ok {
		return nil, nil
	}
	v, _, err := p.deref(e.val)
	return v, err
}

// text returns a scalar child of m (aliases resolved), or nil.
func (p *yamlParser) text(m *yaml.Node, key string) (*scalar, error) {
	v, err := p.child(m, key)
	if err != nil || v == nil || v.Kind != yaml.ScalarNode {
		return nil, err
	}
	return p.scalar(v, false, false), nil
}

// maxLeaves bounds the values one mapping may expand to, so aliases of
// aliases cannot turn a small file into millions of values.
const maxLeaves = 100_000

// leaf is one value of a nested mapping.
type leaf struct {
	key  string   // dotted Helm values key, e.g. image.tag or hosts[0].name
	path []string // mapping keys from where flattening started; nil in a list
	s    *scalar
}

// flatten lists every scalar under mapping m. Keys containing dots are
// escaped as Helm's --set does ("a\.b").
func (p *yamlParser) flatten(m *yaml.Node, prefix string, path []string, shared bool, depth int, out *[]leaf) error {
	if depth > 64 {
		return errorAt(p.nodePos(m), "flatten the values", "values nested more than 64 deep")
	}
	ents, err := p.entries(m, shared, 0)
	if err != nil {
		return err
	}
	for _, e := range ents {
		var kp []string
		if path != nil {
			kp = append(append(make([]string, 0, len(path)+1), path...), e.key.Value)
		}
		if err := p.flattenValue(e.val, joinKey(prefix, escapeKey(e.key.Value)), kp, e.shared, e.flow, depth, out); err != nil {
			return err
		}
	}
	return nil
}

func (p *yamlParser) flattenValue(n *yaml.Node, key string, path []string, shared, flow bool, depth int, out *[]leaf) error {
	v, viaAlias, err := p.deref(n)
	if err != nil {
		return err
	}
	shared = shared || viaAlias || p.aliased[v]
	switch v.Kind {
	case yaml.MappingNode:
		return p.flatten(v, key, path, shared, depth+1, out)
	case yaml.SequenceNode:
		for i, item := range v.Content {
			if err := p.flattenValue(item, key+"["+strconv.Itoa(i)+"]", nil, shared, v.Style&yaml.FlowStyle != 0, depth+1, out); err != nil {
				return err
			}
		}
	case yaml.ScalarNode:
		if len(*out) >= maxLeaves {
			return errorAt(p.nodePos(v), "split the values or write fewer aliases", "more than %d values (aliases count every time they are used)", maxLeaves)
		}
		*out = append(*out, leaf{key: key, path: path, s: p.scalar(v, shared, flow)})
	}
	return nil
}

func joinKey(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

func escapeKey(k string) string { return strings.ReplaceAll(k, ".", `\.`) }

// splitKey splits a dotted values key into mapping keys; ok is false when
// the key indexes a list, which cannot be created by an edit.
func splitKey(key string) ([]string, bool) {
	var segs []string
	var cur strings.Builder
	for i := 0; i < len(key); i++ {
		switch {
		case key[i] == '\\' && i+1 < len(key) && key[i+1] == '.':
			cur.WriteByte('.')
			i++
		case key[i] == '.':
			segs = append(segs, cur.String())
			cur.Reset()
		case key[i] == '[':
			return nil, false
		default:
			cur.WriteByte(key[i])
		}
	}
	segs = append(segs, cur.String())
	for _, s := range segs {
		if s == "" {
			return nil, false
		}
	}
	return segs, true
}

// setPath returns the file with the value at path under mapping root set to
// value. A missing key is inserted with its missing parents; tag is the
// YAML tag the value must read back as (see tagFor). changed is false when the value is already there.
func (f *yamlFile) setPath(root *yaml.Node, path []string, value, tag string) ([]byte, bool, error) {
	p := f.p
	if root == nil {
		// An empty file: the keys become its first lines.
		return insertLine(f.src, len(f.src), nestedLines("", "  ", path, renderNew(value, tag, 0))), true, nil
	}
	m := root
	for i, seg := range path {
		if m.Kind != yaml.MappingNode {
			return nil, false, errorAt(p.nodePos(m), "", "%s is not a mapping", strings.Join(path[:i], "."))
		}
		fields, err := p.fields(m)
		if err != nil {
			return nil, false, err
		}
		e, ok := fields[seg]
		last := i == len(path)-1
		if !ok || e.shared {
			if ok && !last {
				return nil, false, errorAt(p.nodePos(e.key), "YAML merges (<<) are shallow: write the whole mapping out by hand",
					"%s comes from a merge key", strings.Join(path[:i+1], "."))
			}
			out, err := f.insertPath(m, path[i:], value, tag)
			return out, err == nil, err
		}
		v, viaAlias, err := p.deref(e.val)
		if err != nil {
			return nil, false, err
		}
		if last {
			return f.setScalar(e, v, viaAlias, strings.Join(path, "."), value, tag)
		}
		if viaAlias || p.aliased[v] {
			if f.holds(v, path[i+1:], value) {
				return nil, false, nil // nothing to write, so nothing shared is touched
			}
			return nil, false, errorAt(p.nodePos(e.key), "give it its own mapping instead of an anchor or alias",
				"%s is shared with other keys through an anchor", strings.Join(path[:i+1], "."))
		}
		if v.Kind == yaml.ScalarNode && v.Value == "" && v.ShortTag() == "!!null" && m.Style&yaml.FlowStyle == 0 {
			// "values:" with nothing after it: an empty mapping to fill.
			keyOff := p.offset(e.key)
			indent := p.keyIndent(e.key)
			text := nestedLines(indent+"  ", "  ", path[i+1:], renderNew(value, tag, 0))
			return insertLine(f.src, lineEnd(f.src, keyOff), text), true, nil
		}
		m = v
	}
	return nil, false, errors.New("empty values path")
}

// holds reports whether the scalar at path under m (aliases followed)
// already reads as value: an edit that changes nothing needs no own copy of
// a shared mapping.
func (f *yamlFile) holds(m *yaml.Node, path []string, value string) bool {
	p := f.p
	for i, seg := range path {
		if m.Kind != yaml.MappingNode {
			return false
		}
		fields, err := p.fields(m)
		if err != nil {
			return false
		}
		e, ok := fields[seg]
		if !ok {
			return false
		}
		v, _, err := p.deref(e.val)
		if err != nil {
			return false
		}
		if i == len(path)-1 {
			if v.Kind != yaml.ScalarNode {
				return false
			}
			sc := p.scalar(v, false, e.flow)
			return sc.value == value && !sc.templated
		}
		m = v
	}
	return false
}

func (f *yamlFile) setScalar(e yamlEntry, v *yaml.Node, viaAlias bool, name, value, tag string) ([]byte, bool, error) {
	p := f.p
	if v.Kind != yaml.ScalarNode {
		return nil, false, errorAt(p.nodePos(e.key), "set the keys inside it instead", "%s is not a single value", name)
	}
	s := p.scalar(v, false, e.flow)
	if s.value == value && !s.templated {
		return nil, false, nil
	}
	if viaAlias {
		// Replace this use of the anchor, not the anchor itself.
		off := p.offset(e.val)
		return splice(f.src, off, off+1+len(e.val.Value), renderTyped(s, p.src, value, tag)), true, nil
	}
	if p.aliased[v] {
		return nil, false, errorAt(s.pos, "edit the anchor by hand or replace the alias with a value", "%s is an anchor other keys share", name)
	}
	if s.start < 0 {
		return nil, false, errorAt(s.pos, "edit it by hand", "%s cannot be edited in place: %s", name, s.why)
	}
	return splice(f.src, s.start, s.end, renderTyped(s, p.src, value, tag)), true, nil
}

// insertPath adds path (missing from m) with value as new lines after m's
// last one-line entry, or inside a flow mapping.
func (f *yamlFile) insertPath(m *yaml.Node, path []string, value, tag string) ([]byte, error) {
	p := f.p
	var after *scalar
	var firstKey *yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.ShortTag() == "!!merge" {
			continue
		}
		if firstKey == nil {
			firstKey = k
		}
		switch v.Kind {
		case yaml.ScalarNode:
			if s := p.scalar(v, false, m.Style&yaml.FlowStyle != 0); s.start >= 0 {
				after = s
			}
		case yaml.AliasNode:
			off := p.offset(v)
			after = &scalar{start: off, end: off + 1 + len(v.Value)}
		}
	}
	quote := byte(0)
	if after != nil && after.start >= 0 && after.start < len(f.src) {
		quote = quoteChar(after, f.src)
	}
	if m.Style&yaml.FlowStyle != 0 {
		text := path[len(path)-1] + ": " + renderNew(value, tag, quote)
		for i := len(path) - 2; i >= 0; i-- {
			text = path[i] + ": {" + text + "}"
		}
		return yamlSyntax{}.insertFlow(p, f.src, m, after, text)
	}
	if firstKey == nil {
		return nil, errorAt(p.nodePos(m), "add the key by hand", "cannot add %s: the mapping has no keys to align with", strings.Join(path, "."))
	}
	text := nestedLines(p.keyIndent(firstKey), "  ", path, renderNew(value, tag, quote))
	if after != nil {
		return insertLine(f.src, lineEnd(f.src, after.end), text), nil
	}
	// Every entry is a nested block: go first, under the parent's key.
	at := lineStart(f.src, p.offset(firstKey))
	return splice(f.src, at, at, strings.ReplaceAll(text, "\n", newline(f.src))+newline(f.src)), nil
}

// nestedLines writes path as nested block keys ending in value.
func nestedLines(indent, step string, path []string, value string) string {
	var b strings.Builder
	for i, seg := range path {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(indent + strings.Repeat(step, i) + yamlSyntax{}.renderKey(nil, seg, false) + ":")
		if i == len(path)-1 {
			b.WriteString(" " + value)
		}
	}
	return b.String()
}

// renderNew writes a new value: as a string when tag says so, otherwise
// typed the way it reads (helm --set infers types the same way), in the
// given quote style when one is asked for and possible.
func renderNew(value, tag string, quote byte) string {
	if tag == rawTag {
		return value
	}
	if tag == "" {
		tag = (&yaml.Node{Kind: yaml.ScalarNode, Value: value}).ShortTag()
	}
	if tag != "!!str" {
		return yamlRender(0, tag, false, value)
	}
	if quote == 0 && isYAML11Bool(value) {
		// Helm reads values as YAML 1.1, where a plain on or yes is true.
		quote = '"'
	}
	return yamlRender(quote, "!!str", false, value)
}

func isYAML11Bool(v string) bool {
	switch strings.ToLower(v) {
	case "y", "yes", "n", "no", "on", "off":
		return true
	}
	return false
}

// removePath deletes the value at path under root. A mapping left empty by
// the removal goes too (an empty "image:" would read as null and wipe the
// chart's defaults), up to but not including root.
func (f *yamlFile) removePath(root *yaml.Node, path []string) ([]byte, bool, error) {
	p := f.p
	if root == nil {
		return nil, false, nil
	}
	type level struct {
		m   *yaml.Node
		e   yamlEntry
		own int // own entries of m
	}
	var chain []level
	m := root
	for i, seg := range path {
		if m.Kind != yaml.MappingNode {
			return nil, false, nil
		}
		fields, err := p.fields(m)
		if err != nil {
			return nil, false, err
		}
		e, ok := fields[seg]
		if !ok {
			return nil, false, nil
		}
		if e.shared {
			return nil, false, errorAt(p.nodePos(e.key), "override it instead, or remove it where the anchor is defined",
				"cannot remove %s: it comes from a merge key", strings.Join(path[:i+1], "."))
		}
		own := 0
		for j := 0; j+1 < len(m.Content); j += 2 {
			if m.Content[j].ShortTag() != "!!merge" {
				own++
			}
		}
		chain = append(chain, level{m: m, e: e, own: own})
		v, viaAlias, err := p.deref(e.val)
		if err != nil {
			return nil, false, err
		}
		if i < len(path)-1 && (viaAlias || p.aliased[v]) {
			return nil, false, errorAt(p.nodePos(e.key), "give it its own mapping", "cannot remove %s: it is shared through an anchor", strings.Join(path, "."))
		}
		m = v
	}
	leafVal := chain[len(chain)-1].e.val
	if leafVal.Kind != yaml.ScalarNode && leafVal.Kind != yaml.AliasNode {
		return nil, false, errorAt(p.nodePos(leafVal), "remove the keys inside it", "%s is not a single value", strings.Join(path, "."))
	}
	end := p.offset(leafVal) + 1 + len(leafVal.Value)
	if leafVal.Kind == yaml.ScalarNode {
		s := p.scalar(leafVal, false, chain[len(chain)-1].e.flow)
		if s.start < 0 {
			return nil, false, errorAt(s.pos, "remove it by hand", "cannot remove %s: %s", strings.Join(path, "."), s.why)
		}
		end = s.end
	}
	// Climb while the mapping would be left empty and is in block style.
	top := len(chain) - 1
	for top > 0 && chain[top].own == 1 && chain[top].m.Style&yaml.FlowStyle == 0 && chain[top-1].m.Style&yaml.FlowStyle == 0 {
		top--
	}
	lv := chain[top]
	return removeSpan(f.src, p.offset(lv.e.key), end, lv.m.Style&yaml.FlowStyle != 0), true, nil
}

// applyMasks blanks the masked spans: a line holding nothing but template
// actions becomes spaces, an action among other text becomes "x"s, so YAML
// reads a plain value there. Newlines stay, so lines and columns do not
// move.
func applyMasks(src []byte, masks [][2]int) []byte {
	out := append([]byte(nil), src...)
	inMask := make([]bool, len(src))
	for _, m := range masks {
		for i := m[0]; i < m[1]; i++ {
			inMask[i] = true
		}
	}
	for start := 0; start < len(src); {
		end := lineEnd(src, start)
		onlyActions := true
		for i := start; i < end; i++ {
			if !inMask[i] && !isYAMLSpace(src[i]) {
				onlyActions = false
				break
			}
		}
		for i := start; i < end; i++ {
			if inMask[i] {
				if onlyActions {
					out[i] = ' '
				} else {
					out[i] = 'x'
				}
			}
		}
		start = end + 1
	}
	return out
}

// maskTemplates finds every Go template action ({{ ... }}) in src.
func maskTemplates(file string, src []byte) ([][2]int, error) {
	var masks [][2]int
	for i := 0; i+1 < len(src); i++ {
		if src[i] != '{' || src[i+1] != '{' {
			continue
		}
		j := bytes.Index(src[i+2:], []byte("}}"))
		if j < 0 {
			p := newLineIndex(src).pos(file, i)
			return nil, &Error{File: file, Line: p.Line, Column: p.Column, Msg: "template action {{ is never closed", Hint: "close it with }}"}
		}
		masks = append(masks, [2]int{i, i + 2 + j + 2})
		i += 2 + j + 1
	}
	return masks, nil
}
