package desiredstate

// Reading YAML into byte spans and writing values back in a given quoting
// style. Nothing here knows Helmsman: helmfile and Flux files are read
// with the same pieces.

import (
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

type yamlEntry struct {
	key, val *yaml.Node
	shared   bool
	flow     bool
}

type yamlParser struct {
	file    string
	src     []byte
	lines   lineIndex
	lim     limits
	aliases int
	aliased map[*yaml.Node]bool // anchors some alias points at
	// masks are the byte spans of Go template actions blanked out of src
	// before parsing (helmfile's .gotmpl files); orig is the text with them.
	masks [][2]int
	orig  []byte
	// releaseTemplates says the file is a plain helmfile.yaml, which
	// helmfile v1 does not render as a whole but whose release fields it
	// renders one by one: a value holding {{ is a template there.
	releaseTemplates bool
}

var yamlLineRE = regexp.MustCompile(`line (\d+)(?:, column (\d+))?`)

func (p *yamlParser) syntaxError(err error) *Error {
	e := &Error{File: p.file, Msg: "invalid YAML: " + strings.TrimPrefix(err.Error(), "yaml: "), Hint: "fix the YAML syntax", Err: err}
	if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		e.Column = 1
		if m[2] != "" {
			e.Column, _ = strconv.Atoi(m[2])
		}
	}
	return e
}

func (p *yamlParser) indexAliases(n *yaml.Node, depth int) {
	if depth > 10000 {
		return
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		p.aliased[n.Alias] = true
		return
	}
	for _, c := range n.Content {
		p.indexAliases(c, depth+1)
	}
}

// offset converts a yaml.v3 line and column (counted in characters) into
// a byte offset, then steps over anchors and tags written before the value.
func (p *yamlParser) offset(n *yaml.Node) int {
	if n.Line < 1 || n.Line > len(p.lines) {
		return -1
	}
	off := p.lines[n.Line-1]
	for col := 1; col < n.Column && off < len(p.src) && p.src[off] != '\n'; col++ {
		_, size := utf8.DecodeRune(p.src[off:])
		off += size
	}
	for off < len(p.src) && (p.src[off] == '&' || p.src[off] == '!') {
		for off < len(p.src) && !isYAMLSpace(p.src[off]) {
			off++
		}
		for off < len(p.src) && (p.src[off] == ' ' || p.src[off] == '\t') {
			off++
		}
	}
	return off
}

func isYAMLSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (p *yamlParser) nodePos(n *yaml.Node) Pos {
	return Pos{File: p.file, Line: n.Line, Column: n.Column}
}

func (p *yamlParser) deref(n *yaml.Node) (*yaml.Node, bool, error) {
	shared := false
	for n.Kind == yaml.AliasNode {
		p.aliases++
		if p.aliases > p.lim.maxAliases || n.Alias == nil {
			return nil, false, errorAt(p.nodePos(n), "write the values out instead of nesting aliases", "too many alias references (limit %d)", p.lim.maxAliases)
		}
		n, shared = n.Alias, true
	}
	return n, shared, nil
}

// entries lists a mapping's keys with merge keys (<<) resolved: explicit
// keys win over merged ones, and earlier merge sources over later ones.
func (p *yamlParser) entries(m *yaml.Node, shared bool, depth int) ([]yamlEntry, error) {
	if depth > 32 {
		return nil, errorAt(p.nodePos(m), "flatten the chain of merge keys", "merge keys nested more than 32 deep")
	}
	flow := m.Style&yaml.FlowStyle != 0
	var own, merged []yamlEntry
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			sources := []*yaml.Node{v}
			if v.Kind == yaml.SequenceNode {
				sources = v.Content
			}
			for _, s := range sources {
				target, viaAlias, err := p.deref(s)
				if err != nil {
					return nil, err
				}
				if target.Kind != yaml.MappingNode {
					return nil, errorAt(p.nodePos(s), "merge (<<) only mappings", "merge value is not a mapping")
				}
				sub, err := p.entries(target, shared || viaAlias || p.aliased[target], depth+1)
				if err != nil {
					return nil, err
				}
				merged = append(merged, sub...)
			}
			continue
		}
		if k.Kind != yaml.ScalarNode {
			return nil, errorAt(p.nodePos(k), "use plain string keys", "complex mapping key")
		}
		if first, dup := seen[k.Value]; dup {
			return nil, errorAt(p.nodePos(k), "remove one of them", "key %q is declared twice (first at line %d)", k.Value, first.Line)
		}
		seen[k.Value] = k
		own = append(own, yamlEntry{key: k, val: v, shared: shared, flow: flow})
	}
	for _, e := range merged {
		if _, dup := seen[e.key.Value]; !dup {
			seen[e.key.Value] = e.key
			own = append(own, e)
		}
	}
	return own, nil
}

func (p *yamlParser) scalar(n *yaml.Node, shared, flow bool) *scalar {
	s := &scalar{value: n.Value, pos: p.nodePos(n), shared: shared, start: -1, flow: flow}
	off := p.offset(n)
	if off < 0 {
		s.why = "position unknown"
		return s
	}
	switch {
	case n.Style&yaml.DoubleQuotedStyle != 0:
		s.start, s.end = off, scanQuoted(p.src, off, '"')
	case n.Style&yaml.SingleQuotedStyle != 0:
		s.start, s.end = off, scanQuoted(p.src, off, '\'')
	case n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
		s.why = "block scalar (| or >)"
	default:
		end := scanPlain(p.src, off, flow)
		if string(p.src[off:end]) == n.Value && n.Value != "" {
			s.start, s.end = off, end
		} else {
			s.why = "empty or multi-line plain value"
		}
	}
	if s.start >= 0 && s.end < 0 {
		s.start, s.why = -1, "unterminated quoted value"
	}
	if len(p.masks) > 0 {
		p.markTemplated(s, off, flow)
	}
	if p.releaseTemplates && strings.Contains(n.Value, "{{") {
		s.templated, s.start, s.why = true, -1, "it is a helmfile release template ({{ ... }})"
	}
	return s
}

// markTemplated makes a value that holds a template action opaque: its
// value becomes the template text as written, and it cannot be edited.
func (p *yamlParser) markTemplated(s *scalar, off int, flow bool) {
	end := s.end
	if s.start < 0 {
		end = scanPlain(p.src, off, flow)
	}
	for _, m := range p.masks {
		if m[0] < end && m[1] > off {
			s.templated, s.start, s.why = true, -1, "it is a Go template ({{ ... }})"
			s.value = string(p.orig[off:end])
			return
		}
	}
}

// scanQuoted returns the offset just past the closing quote of a quoted
// scalar starting at off, or -1.
func scanQuoted(src []byte, off int, q byte) int {
	for i := off + 1; i < len(src); i++ {
		switch {
		case q == '"' && src[i] == '\\':
			i++
		case src[i] == q && q == '\'' && i+1 < len(src) && src[i+1] == '\'':
			i++
		case src[i] == q:
			return i + 1
		}
	}
	return -1
}

// scanPlain returns the end of a one-line plain scalar: before a comment,
// trailing blanks, or in flow context the next indicator.
func scanPlain(src []byte, off int, flow bool) int {
	end := off
	for i := off; i < len(src); i++ {
		c := src[i]
		if c == '\n' || c == '\r' || (c == '#' && i > off && (src[i-1] == ' ' || src[i-1] == '\t')) {
			break
		}
		if flow && (c == ',' || c == ']' || c == '}') {
			break
		}
		if flow && c == ':' && (i+1 == len(src) || isYAMLSpace(src[i+1])) {
			break
		}
		if c != ' ' && c != '\t' {
			end = i + 1
		}
	}
	return end
}

// yamlRender writes value in a quoting style: a double quote, a single
// quote, or 0 for plain.
// Plain and single quotes fall back to double quotes when they cannot
// carry the value.
func yamlRender(style byte, tag string, flow bool, value string) string {
	switch style {
	case '\'':
		if !strings.ContainsAny(value, "\n\r\t") && utf8.ValidString(value) {
			return "'" + strings.ReplaceAll(value, "'", "''") + "'"
		}
	case 0:
		if yamlPlainOK(value, tag, flow) {
			return value
		}
	}
	return quoteDouble(value)
}

// yamlPlainOK reports whether value written plain reads back as the same
// value with the same type as the value it replaces, so "1.10" never turns
// into the float 1.1.
func yamlPlainOK(value, tag string, flow bool) bool {
	if value == "" || (flow && strings.ContainsAny(value, ",[]{}")) || (tag == "!!str" && isYAML11Bool(value)) {
		return false
	}
	if (&yaml.Node{Kind: yaml.ScalarNode, Value: value}).ShortTag() != tag {
		return false
	}
	out, err := yaml.Marshal(&yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: value})
	return err == nil && string(out) == value+"\n"
}

// keyIndent is the whitespace before key's line, used for new siblings.
func (p *yamlParser) keyIndent(k *yaml.Node) string {
	return strings.Repeat(" ", max(k.Column-1, 0))
}

// quoteChar is the quote a scalar is written with, 0 for plain or unknown.
func quoteChar(s *scalar, src []byte) byte {
	if s == nil || s.start < 0 {
		return 0
	}
	if c := src[s.start]; c == '"' || c == '\'' {
		return c
	}
	return 0
}
