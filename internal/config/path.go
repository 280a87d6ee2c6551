package config

import (
	"strconv"
	"strings"
	"unicode"
)

// path is a key path into the configuration. It renders three ways: for
// people (environments[preprod].land.via), for --set
// (environments.preprod.land.via) and as a variable
// (STEPPER_ENVIRONMENTS_PREPROD_LAND_VIA).
type path []seg

type segKind int

const (
	segField segKind = iota // a struct key: registry, host
	segName                 // an environment, addressed by its name
	segKey                  // a map key: a chain name, a Jenkins parameter
	segIndex                // a list position, only ever shown, never addressed
)

type seg struct {
	kind segKind
	name string
	idx  int
}

func (p path) with(s seg) path {
	q := make(path, len(p), len(p)+1)
	copy(q, p)
	return append(q, s)
}

func (p path) field(name string) path { return p.with(seg{kind: segField, name: name}) }
func (p path) env(name string) path   { return p.with(seg{kind: segName, name: name}) }
func (p path) key(name string) path   { return p.with(seg{kind: segKey, name: name}) }
func (p path) index(i int) path       { return p.with(seg{kind: segIndex, idx: i}) }

// String is the form errors and sources use. A name is cut short at 64
// runes: an unknown key can be as long as the file, and a message should not.
func (p path) String() string {
	var b strings.Builder
	for i, s := range p {
		name := s.name
		if r := []rune(name); len(r) > 64 {
			name = string(r[:64]) + "…"
		}
		switch s.kind {
		case segName:
			b.WriteString("[" + name + "]")
		case segIndex:
			b.WriteString("[" + strconv.Itoa(s.idx) + "]")
		default:
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(name)
		}
	}
	return b.String()
}

// dotted is the form --set takes.
func (p path) dotted() string {
	parts := make([]string, 0, len(p))
	for _, s := range p {
		if s.kind == segIndex {
			parts[len(parts)-1] += "[" + strconv.Itoa(s.idx) + "]"
			continue
		}
		parts = append(parts, s.name)
	}
	return strings.Join(parts, ".")
}

// envVar is the STEPPER_* variable that sets the value at p.
func (p path) envVar() string {
	parts := []string{"STEPPER"}
	for _, s := range p {
		switch s.kind {
		case segField:
			parts = append(parts, snakeTokens(s.name)...)
		case segName, segKey:
			parts = append(parts, nameTokens(s.name)...)
		}
	}
	return strings.Join(parts, "_")
}

// snakeTokens splits a camelCase key into upper-case words:
// desiredState -> DESIRED, STATE.
func snakeTokens(key string) []string {
	var toks []string
	start := 0
	for i, r := range key {
		if i > 0 && unicode.IsUpper(r) {
			toks = append(toks, strings.ToUpper(key[start:i]))
			start = i
		}
	}
	return append(toks, strings.ToUpper(key[start:]))
}

// nameTokens is how a user-chosen name (an environment, a chain, a map key)
// appears in a variable name: upper case, with - and . read as _.
func nameTokens(name string) []string {
	up := strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(name))
	return strings.Split(up, "_")
}

// parseDotted splits a --set key path. Both forms errors print are accepted,
// so a path can be copied from a message: environments.preprod.land.via and
// environments[preprod].land.via.
func parseDotted(s string) ([]string, bool) {
	var segs []string
	for part := range strings.SplitSeq(s, ".") {
		name, rest, bracket := strings.Cut(part, "[")
		if name == "" {
			return nil, false
		}
		segs = append(segs, name)
		for bracket {
			var inner string
			var ok bool
			inner, rest, ok = strings.Cut(rest, "]")
			if !ok || inner == "" {
				return nil, false
			}
			segs = append(segs, inner)
			if rest == "" {
				break
			}
			if rest[0] != '[' {
				return nil, false
			}
			rest = rest[1:]
		}
	}
	return segs, true
}
