package desiredstate

// Reading TOML into leaves with byte spans and writing TOML strings and
// keys. Nothing here knows Helmsman.

import (
	"errors"
	"regexp"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// tomlLeaf is one key = value with everything needed to write a sibling
// that looks the same.
type tomlLeaf struct {
	path             []string
	base             int // how many path segments come from the table header
	kind             unstable.Kind
	value            string
	kvStart          int      // start of the key = value holding the leaf
	segs             [][2]int // byte ranges of the key's segments
	valStart, valEnd int
	exprEnd          int  // end of the top-level expression
	inline           bool // inside an inline table
	list             []*scalar
}

type tomlHeader struct {
	path       []string
	start, end int // '[' through ']'
}

type tomlInline struct {
	path      []string
	open      int // offset of '{'
	lastEnd   int // end of the last entry's value; -1 when empty
	exprEnd   int
	lastEntry *tomlLeaf
}

type tomlDoc struct {
	file    string
	src     []byte
	lines   lineIndex
	leaves  []*tomlLeaf
	headers []*tomlHeader
	inlines map[string]*tomlInline
}

func pathKey(p []string) string { return strings.Join(p, "\x00") }

func (d *tomlDoc) walk(kv *unstable.Node, base []string, in *tomlInline, exprEnd int) {
	path := append([]string(nil), base...)
	var segs [][2]int
	for it := kv.Key(); it.Next(); {
		n := it.Node()
		path = append(path, string(n.Data))
		segs = append(segs, [2]int{int(n.Raw.Offset), int(n.Raw.Offset + n.Raw.Length)})
	}
	v := kv.Value()
	leaf := &tomlLeaf{path: path, base: len(base), kind: v.Kind, kvStart: int(kv.Raw.Offset), segs: segs,
		valStart: int(v.Raw.Offset), valEnd: int(v.Raw.Offset + v.Raw.Length), exprEnd: exprEnd, inline: in != nil}
	if in != nil {
		in.lastEnd = int(kv.Raw.Offset + kv.Raw.Length)
		in.lastEntry = leaf
	}
	switch v.Kind {
	case unstable.InlineTable:
		sub := &tomlInline{path: path, open: int(v.Raw.Offset), lastEnd: -1, exprEnd: exprEnd}
		d.inlines[pathKey(path)] = sub
		for it := v.Children(); it.Next(); {
			d.walk(it.Node(), path, sub, exprEnd)
		}
		leaf.valEnd = int(kv.Raw.Offset + kv.Raw.Length)
		d.leaves = append(d.leaves, leaf)
		return
	case unstable.Array:
		for it := v.Children(); it.Next(); {
			n := it.Node()
			if n.Kind == unstable.String {
				leaf.list = append(leaf.list, &scalar{value: string(n.Data), pos: d.lines.pos(d.file, int(n.Raw.Offset)),
					start: int(n.Raw.Offset), end: int(n.Raw.Offset + n.Raw.Length)})
			}
		}
	}
	leaf.value = string(v.Data)
	d.leaves = append(d.leaves, leaf)
}

func (d *tomlDoc) pos(off int) Pos { return d.lines.pos(d.file, off) }

func (d *tomlDoc) parserError(err error) *Error {
	e := &Error{File: d.file, Msg: "invalid TOML: " + err.Error(), Hint: "fix the TOML syntax", Err: err}
	var pe *unstable.ParserError
	if errors.As(err, &pe) {
		off := len(d.src)
		if pe.Highlight != nil {
			off = cap(d.src) - cap(pe.Highlight)
		}
		if off >= 0 && off <= len(d.src) {
			p := d.pos(off)
			e.Line, e.Column = p.Line, p.Column
		}
	}
	return e
}

func (d *tomlDoc) decodeError(err error) *Error {
	e := &Error{File: d.file, Msg: "invalid TOML: " + strings.TrimPrefix(err.Error(), "toml: "), Hint: "fix the TOML", Err: err}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		e.Line, e.Column = de.Position()
	}
	return e
}

var (
	tomlIntRE     = regexp.MustCompile(`^[+-]?(0|[1-9](_?[0-9])*)$`)
	tomlBareKeyRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
)

// tomlLiteralOr writes a 'literal' string, or a "basic" one when the value
// holds a quote or a control character a literal string cannot carry.
func tomlLiteralOr(v string) string {
	for _, r := range v {
		if r == '\'' || r < 0x20 || r == 0x7f {
			return quoteDouble(v)
		}
	}
	return "'" + v + "'"
}

func tomlKey(like []byte, key string) string {
	if tomlBareKeyRE.MatchString(key) {
		return key
	}
	if len(like) > 0 && like[0] == '\'' {
		return tomlLiteralOr(key)
	}
	return quoteDouble(key)
}
