package desiredstate

// Byte-level helpers for splicing edits into a file's original text.

import (
	"bytes"
	"fmt"
	"strings"
)

func splice(src []byte, start, end int, text string) []byte {
	out := make([]byte, 0, len(src)-(end-start)+len(text))
	out = append(out, src[:start]...)
	out = append(out, text...)
	return append(out, src[end:]...)
}

// lineIndex converts between byte offsets and line/column positions.
type lineIndex []int // byte offset of the start of each line

func newLineIndex(src []byte) lineIndex {
	idx := lineIndex{0}
	for i, c := range src {
		if c == '\n' {
			idx = append(idx, i+1)
		}
	}
	return idx
}

func (li lineIndex) pos(file string, off int) Pos {
	lo, hi := 0, len(li)-1
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if li[mid] <= off {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return Pos{File: file, Line: lo + 1, Column: off - li[lo] + 1}
}

// lineEnd returns the offset of the newline ending the line holding off, or
// len(src).
func lineEnd(src []byte, off int) int {
	for i := off; i < len(src); i++ {
		if src[i] == '\n' {
			return i
		}
	}
	return len(src)
}

func lineStart(src []byte, off int) int {
	for i := off; i > 0; i-- {
		if src[i-1] == '\n' {
			return i
		}
	}
	return 0
}

func indentOf(src []byte, off int) string {
	s := lineStart(src, off)
	e := s
	for e < len(src) && (src[e] == ' ' || src[e] == '\t') {
		e++
	}
	return string(src[s:e])
}

// removeSpan deletes the entry at [start, end). On its own lines, the
// whole lines go; inside a flow mapping or inline table, the entry and one
// adjacent comma go.
func removeSpan(src []byte, start, end int, inline bool) []byte {
	if !inline {
		from := lineStart(src, start)
		to := lineEnd(src, end)
		if to < len(src) {
			to++
		} else if from > 0 {
			from-- // last line without a newline: drop the one before it
		}
		return splice(src, from, to, "")
	}
	// "a, b, c": removing b takes ", " after it; removing the last takes
	// the ", " before it.
	j := end
	for j < len(src) && (src[j] == ' ' || src[j] == '\t') {
		j++
	}
	if j < len(src) && src[j] == ',' {
		j++
		for j < len(src) && (src[j] == ' ' || src[j] == '\t') {
			j++
		}
		return splice(src, start, j, "")
	}
	i := start
	for i > 0 && (src[i-1] == ' ' || src[i-1] == '\t') {
		i--
	}
	if i > 0 && src[i-1] == ',' {
		return splice(src, i-1, end, "")
	}
	return splice(src, start, end, "")
}

// insertLine puts line on a new line at at, the end of a line, using the
// file's own line ending.
func insertLine(src []byte, at int, line string) []byte {
	nl := newline(src)
	line = strings.ReplaceAll(line, "\n", nl)
	if at > 0 && at <= len(src) && src[at-1] == '\r' {
		at-- // keep "\r\n" together
	}
	if at >= len(src) {
		if len(src) > 0 && src[len(src)-1] != '\n' {
			return splice(src, len(src), len(src), nl+line)
		}
		return splice(src, len(src), len(src), line+nl)
	}
	return splice(src, at, at, nl+line)
}

// newline is the file's line ending: CRLF when its first line ends so.
func newline(src []byte) string {
	if i := bytes.IndexByte(src, '\n'); i > 0 && src[i-1] == '\r' {
		return "\r\n"
	}
	return "\n"
}

// quoteDouble writes v as a double-quoted string using only the escapes
// YAML and TOML share, so both syntaxes use it.
func quoteDouble(v string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range v {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
