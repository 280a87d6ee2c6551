package deploy

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// valuesMap builds a release's values from the desired state's set keys
// (typed the way helm --set types them: true/false, integers and null) and
// set-string keys (always strings). Keys are helm --set paths (a.b, a\.b,
// list[0].c). The values are placed as they are: Helm's --set parser would
// read a "," or "[" inside a value as the start of another key.
func valuesMap(set, setString map[string]string) (map[string]any, error) {
	vals := map[string]any{}
	for _, k := range slices.Sorted(maps.Keys(set)) {
		if err := setPath(vals, k, typed(set[k])); err != nil {
			return nil, err
		}
	}
	for _, k := range slices.Sorted(maps.Keys(setString)) {
		if err := setPath(vals, k, setString[k]); err != nil {
			return nil, err
		}
	}
	return vals, nil
}

// typed is v as helm --set types a value.
func typed(v string) any {
	switch v {
	case "true":
		return true
	case "false":
		return false
	case "null":
		return nil
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && (v == "0" || !strings.HasPrefix(strings.TrimPrefix(v, "-"), "0")) {
		return n
	}
	return v
}

type pathSeg struct {
	key   string
	index []int
}

// parsePath splits a helm --set key into segments.
func parsePath(key string) ([]pathSeg, error) {
	var segs []pathSeg
	var cur strings.Builder
	var seg pathSeg
	flush := func() error {
		if cur.Len() == 0 && len(seg.index) == 0 {
			return fmt.Errorf("values key %q has an empty part", key)
		}
		seg.key = cur.String()
		segs = append(segs, seg)
		cur.Reset()
		seg = pathSeg{}
		return nil
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case c == '\\' && i+1 < len(key):
			i++
			cur.WriteByte(key[i])
		case c == '.':
			if err := flush(); err != nil {
				return nil, err
			}
		case c == '[':
			end := strings.IndexByte(key[i:], ']')
			if end < 0 {
				return nil, fmt.Errorf("values key %q: unclosed [", key)
			}
			n, err := strconv.Atoi(key[i+1 : i+end])
			if err != nil || n < 0 || n > 65535 {
				return nil, fmt.Errorf("values key %q: list index %q is not a small whole number", key, key[i+1:i+end])
			}
			seg.index = append(seg.index, n)
			i += end
		default:
			if len(seg.index) > 0 {
				return nil, fmt.Errorf("values key %q: want a dot after ]", key)
			}
			cur.WriteByte(c)
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return segs, nil
}

// setPath sets the value at key in vals, making maps and lists on the way.
func setPath(vals map[string]any, key string, v any) error {
	segs, err := parsePath(key)
	if err != nil {
		return err
	}
	m := vals
	for i, seg := range segs {
		leaf := i == len(segs)-1
		if len(seg.index) > 1 {
			return fmt.Errorf("values key %q: lists of lists are not supported; write the list in a values file", key)
		}
		if len(seg.index) == 0 {
			if leaf {
				m[seg.key] = v
				return nil
			}
			next, ok := m[seg.key].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[seg.key] = next
			}
			m = next
			continue
		}
		idx := seg.index[0]
		list, _ := m[seg.key].([]any)
		for len(list) <= idx {
			list = append(list, nil)
		}
		m[seg.key] = list
		if leaf {
			list[idx] = v
			return nil
		}
		next, ok := list[idx].(map[string]any)
		if !ok {
			next = map[string]any{}
			list[idx] = next
		}
		m = next
	}
	return nil
}
