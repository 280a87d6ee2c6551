package desiredstate

// Values keys that index lists (helm --set paths such as hosts[0] or
// a.b[0].c), and FlattenValues, which turns a values file into such keys.
// Helmsman's set keys carry the paths as they are, helm's own syntax;
// nested YAML formats write the list as a real YAML sequence.

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// keySeg is one step of a values key: a mapping key or a list index.
type keySeg struct {
	name  string
	index int // >= 0 for a list index
}

func (s keySeg) isIndex() bool { return s.index >= 0 }

// parseKey splits a helm --set path: dots separate mapping keys (\. is a
// dot inside one), [n] indexes a list.
func parseKey(key string) ([]keySeg, error) {
	var segs []keySeg
	for i := 0; ; i++ {
		var name strings.Builder
		for ; i < len(key) && key[i] != '.' && key[i] != '['; i++ {
			switch {
			case key[i] == '\\' && i+1 < len(key) && key[i+1] == '.':
				name.WriteByte('.')
				i++
			case key[i] == ']':
				return nil, fmt.Errorf("values key %q: ] without [", key)
			default:
				name.WriteByte(key[i])
			}
		}
		if name.Len() == 0 {
			return nil, fmt.Errorf("values key %q has an empty part", key)
		}
		segs = append(segs, keySeg{name: name.String(), index: -1})
		for i < len(key) && key[i] == '[' {
			j := strings.IndexByte(key[i:], ']')
			if j < 0 {
				return nil, fmt.Errorf("values key %q: [ is never closed", key)
			}
			n, err := strconv.Atoi(key[i+1 : i+j])
			if err != nil || n < 0 || strconv.Itoa(n) != key[i+1:i+j] {
				return nil, fmt.Errorf("values key %q: %q is not a list index (0, 1, ...)", key, key[i:i+j+1])
			}
			segs = append(segs, keySeg{index: n})
			i += j + 1
		}
		if i == len(key) {
			return segs, nil
		}
		if key[i] != '.' {
			return nil, fmt.Errorf("values key %q: write a dot after %s", key, key[:i])
		}
	}
}

// FlattenValues turns a parsed YAML values file into helm --set paths:
// mappings become dotted keys, lists indexes, null "null", and every other
// scalar its text (numbers as Go prints them, so 1.10 parsed as a float
// is "1.1": parse with yaml.Node, or keep such values quoted, to keep
// their spelling). A key holding a dot is written with \. as helm does; a
// key holding [ or ], an empty key, and an empty list or mapping cannot be
// written as a path and are refused, naming the path.
func FlattenValues(doc map[string]any) (map[string]string, error) {
	out := map[string]string{}
	if err := flattenAny(doc, "", out); err != nil {
		return nil, err
	}
	return out, nil
}

func flattenAny(v any, path string, out map[string]string) error {
	where := path
	if where == "" {
		where = "the top level"
	}
	switch t := v.(type) {
	case map[string]any:
		if len(t) == 0 && path != "" {
			return fmt.Errorf("values %s: an empty mapping cannot be written as a helm --set path; remove it or give it keys", where)
		}
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if k == "" || strings.ContainsAny(k, "[]") {
				return fmt.Errorf("values %s: key %q cannot be written as a helm --set path (it is empty or holds [ or ]); rename it in the chart's values", where, k)
			}
			if err := flattenAny(t[k], joinKey(path, escapeKey(k)), out); err != nil {
				return err
			}
		}
	case map[any]any:
		m := make(map[string]any, len(t))
		for k, val := range t {
			s, ok := k.(string)
			if !ok {
				return fmt.Errorf("values %s: key %v is not a string; helm --set paths have string keys", where, k)
			}
			m[s] = val
		}
		return flattenAny(m, path, out)
	case []any:
		if len(t) == 0 {
			return fmt.Errorf("values %s: an empty list cannot be written as helm --set paths; remove it or give it items", where)
		}
		for i, item := range t {
			if err := flattenAny(item, path+"["+strconv.Itoa(i)+"]", out); err != nil {
				return err
			}
		}
	case nil:
		out[path] = "null"
	case string:
		out[path] = t
	case bool:
		out[path] = strconv.FormatBool(t)
	case int:
		out[path] = strconv.Itoa(t)
	case int64:
		out[path] = strconv.FormatInt(t, 10)
	case uint64:
		out[path] = strconv.FormatUint(t, 10)
	case float64:
		switch {
		case math.IsInf(t, 1):
			out[path] = ".inf"
		case math.IsInf(t, -1):
			out[path] = "-.inf"
		case math.IsNaN(t):
			out[path] = ".nan"
		default:
			out[path] = strconv.FormatFloat(t, 'g', -1, 64)
		}
	case time.Time:
		out[path] = t.Format(time.RFC3339Nano)
	default:
		out[path] = fmt.Sprint(t)
	}
	if path == "" {
		if _, ok := v.(map[string]any); !ok {
			if _, ok := v.(map[any]any); !ok {
				return fmt.Errorf("values file: the top level is not a mapping")
			}
		}
	}
	return nil
}

// rawTag marks a change whose value is YAML text already rendered: a list
// written whole (listChanges).
const rawTag = "!raw"

// listChanges turns the changes of keys that index a list the app does not
// have into one change per list, writing the whole list as a YAML flow
// sequence under its key; it covers the keys it writes. Items of a list
// the app has are set in place; adding items to it is refused, since
// where they go among comments and anchors is the author's choice.
func (d *nestedDoc) listChanges(a *appView, changes []change) ([]change, error) {
	var out []change
	groups := map[string]*change{}
	trees := map[string]*vnode{}
	slots := map[string]int{} // where each list's change goes in out
	for _, c := range changes {
		if !strings.Contains(c.key, "[") || a.values[c.key] != nil {
			out = append(out, c)
			continue
		}
		segs, err := parseKey(c.key)
		if err != nil {
			return nil, err
		}
		first := 0
		for !segs[first].isIndex() {
			first++
		}
		prefix := ""
		for _, s := range segs[:first] {
			prefix = joinKey(prefix, escapeKey(s.name))
		}
		for k, l := range a.values {
			if strings.HasPrefix(k, prefix+"[") {
				where := a.app.Pos
				if l.s != nil {
					where = l.s.pos
				}
				return nil, errorAt(where, "add the item by hand, or set only the items the list has",
					"cannot add %s: %s is a list app %q already has, and stepper edits its items in place without adding any", c.key, prefix, a.app.Name)
			}
		}
		g := groups[prefix]
		if g == nil {
			g = &change{key: prefix, raw: true}
			groups[prefix] = g
			trees[prefix] = &vnode{}
			slots[prefix] = len(out)
			out = append(out, change{}) // filled in below, keeping key order
		}
		g.covers = append(g.covers, c)
		if err := trees[prefix].set(c.key, segs[first:], c.value, d.tagFor(c)); err != nil {
			return nil, err
		}
	}
	for prefix, g := range groups {
		text, err := trees[prefix].render(prefix)
		if err != nil {
			return nil, err
		}
		g.value = text
		out[slots[prefix]] = *g
	}
	return out, nil
}

// vnode is a value being built from helm --set paths.
type vnode struct {
	leaf    *string
	tag     string
	list    map[int]*vnode
	keys    []string
	mapping map[string]*vnode
}

func (n *vnode) set(key string, segs []keySeg, value, tag string) error {
	if len(segs) == 0 {
		if n.leaf != nil || n.list != nil || n.mapping != nil {
			return fmt.Errorf("values key %s is set twice, or both as a value and as a list or mapping", key)
		}
		n.leaf, n.tag = &value, tag
		return nil
	}
	s := segs[0]
	if n.leaf != nil {
		return fmt.Errorf("values key %s is set both as a value and as a list or mapping", key)
	}
	var child *vnode
	if s.isIndex() {
		if n.mapping != nil {
			return fmt.Errorf("values key %s makes a list of what other keys make a mapping", key)
		}
		if n.list == nil {
			n.list = map[int]*vnode{}
		}
		if child = n.list[s.index]; child == nil {
			child = &vnode{}
			n.list[s.index] = child
		}
	} else {
		if n.list != nil {
			return fmt.Errorf("values key %s makes a mapping of what other keys make a list", key)
		}
		if n.mapping == nil {
			n.mapping = map[string]*vnode{}
		}
		if child = n.mapping[s.name]; child == nil {
			child = &vnode{}
			n.mapping[s.name] = child
			n.keys = append(n.keys, s.name)
		}
	}
	return child.set(key, segs[1:], value, tag)
}

// render writes the node as YAML flow text.
func (n *vnode) render(path string) (string, error) {
	switch {
	case n.leaf != nil:
		if n.tag == "!!str" && isYAML11Bool(*n.leaf) {
			return quoteDouble(*n.leaf), nil
		}
		return yamlRender(0, n.tag, true, *n.leaf), nil
	case n.list != nil:
		items := make([]string, len(n.list))
		for i := range items {
			child := n.list[i]
			if child == nil {
				return "", fmt.Errorf("values key %s[%d] is missing: a new list's indexes start at 0 with no gaps", path, i)
			}
			text, err := child.render(fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return "", err
			}
			items[i] = text
		}
		return "[" + strings.Join(items, ", ") + "]", nil
	}
	keys := append([]string(nil), n.keys...)
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		text, err := n.mapping[k].render(joinKey(path, escapeKey(k)))
		if err != nil {
			return "", err
		}
		parts[i] = yamlSyntax{}.renderKey(nil, k, true) + ": " + text
	}
	return "{" + strings.Join(parts, ", ") + "}", nil
}
