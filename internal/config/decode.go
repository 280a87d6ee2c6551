package config

import (
	"github.com/stepper-cd/stepper/internal/yamlerr"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// decoder merges one layer into a Config. yaml.v3's own decoder reports Go
// type names and only the first line of trouble, so this one walks the node
// tree against the schema itself: every error names the file, line, column
// and key path, and says what would be right.
//
// Decoding is merging: sections merge key by key, environments merge by
// name, maps merge by key, and a single value (a string, a list) replaces
// what a lower layer set. A null value (key: with nothing after it) means
// "not set here" and keeps the lower layer's value.
type decoder struct {
	layer   origin  // the layer's kind and name; nodes add line and column
	baseDir string  // directory relative paths are anchored at; "" = leave them
	c       *Config // receives the values, their sources and positions
}

type pair struct{ key, value *yaml.Node }

// member merges n into v, a value of any schema type.
func (d *decoder) member(n *yaml.Node, v reflect.Value, p path, rule string) error {
	n = deref(n)
	if isNull(n) {
		return nil
	}
	switch {
	case v.Type() == envListType:
		return d.environments(n, v, p)
	case v.Kind() == reflect.Struct:
		return d.section(n, v, p)
	case v.Kind() == reflect.Map:
		return d.entries(n, v, p, rule)
	}
	return d.leaf(n, v.Type(), v.Set, p, rule)
}

// section merges a mapping into a struct, key by key.
func (d *decoder) section(n *yaml.Node, v reflect.Value, p path) error {
	info := infoOf(v.Type())
	if n.Kind != yaml.MappingNode {
		return d.wrongKind(n, p, "a mapping of keys", "it takes "+info.keysHint())
	}
	pairs, err := d.pairs(n, p)
	if err != nil {
		return err
	}
	for _, kv := range pairs {
		f := info.byName[kv.key.Value]
		if f == nil {
			kp := p.field(kv.key.Value)
			return fail(d.layer.at(kv.key), kp, "unknown key "+q(kv.key.Value),
				joinHint(didYouMean(kv.key.Value, info.names), info.keysHint()))
		}
		fp := p.field(f.name)
		d.c.pos[fp.String()] = d.layer.at(kv.key)
		if err := d.member(kv.value, v.Field(f.index), fp, f.rule); err != nil {
			return err
		}
	}
	return nil
}

func (si *structInfo) keysHint() string {
	return "known keys: " + strings.Join(si.names, ", ")
}

// environments merges a list of environments into the list so far, matching
// them by name: a file refines the profile's preprod rather than adding a
// second one.
func (d *decoder) environments(n *yaml.Node, v reflect.Value, p path) error {
	if n.Kind != yaml.SequenceNode {
		return d.wrongKind(n, p, "a list of environments",
			"write one entry per environment: `- name: inttest` followed by its keys")
	}
	firstLine := map[string]int{}
	for i, item := range n.Content {
		item = deref(item)
		ip := p.index(i)
		if item.Kind != yaml.MappingNode {
			return d.wrongKind(item, ip, "an environment", "write `- name: inttest` followed by its keys")
		}
		pairs, err := d.pairs(item, ip)
		if err != nil {
			return err
		}
		var nameNode *yaml.Node
		for _, kv := range pairs {
			if kv.key.Value == "name" {
				nameNode = deref(kv.value)
			}
		}
		if nameNode == nil || isNull(nameNode) {
			return fail(d.layer.at(item), ip, "an environment needs a name", "add `name:` with the environment's name, like inttest")
		}
		if nameNode.Kind != yaml.ScalarNode {
			return d.wrongKind(nameNode, ip.field("name"), "a name", "like inttest")
		}
		name := nameNode.Value
		if problem, hint := checkName(name); problem != "" {
			return fail(d.layer.at(nameNode), ip.field("name"), problem, hint)
		}
		if line, dup := firstLine[name]; dup {
			return fail(d.layer.at(nameNode), p.env(name), "environment "+q(name)+" is defined twice",
				"the first is at line "+strconv.Itoa(line)+"; merge the two entries")
		}
		firstLine[name] = nameNode.Line
		env := d.findOrAddEnv(v, name)
		d.c.pos[p.env(name).String()] = d.layer.at(item)
		if err := d.section(item, env.Elem(), p.env(name)); err != nil {
			return err
		}
	}
	return nil
}

func (d *decoder) findOrAddEnv(list reflect.Value, name string) reflect.Value {
	for i := range list.Len() {
		if e := list.Index(i); e.Elem().FieldByName("Name").String() == name {
			return e
		}
	}
	e := reflect.ValueOf(&Environment{Name: name})
	list.Set(reflect.Append(list, e))
	return e
}

// entries merges a mapping into a map, entry by entry.
func (d *decoder) entries(n *yaml.Node, v reflect.Value, p path, rule string) error {
	if n.Kind != yaml.MappingNode {
		return d.wrongKind(n, p, "a mapping of names to values", "")
	}
	pairs, err := d.pairs(n, p)
	if err != nil {
		return err
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	for _, kv := range pairs {
		name := kv.key.Value
		kp := p.key(name)
		if problem, hint := checkKeyName(name); problem != "" {
			return fail(d.layer.at(kv.key), kp, problem, hint)
		}
		if val := deref(kv.value); !isNull(val) {
			key := reflect.ValueOf(name).Convert(v.Type().Key())
			set := func(x reflect.Value) { v.SetMapIndex(key, x) }
			if err := d.leaf(val, v.Type().Elem(), set, kp, rule); err != nil {
				return err
			}
		}
	}
	return nil
}

// leaf replaces one single value (a scalar or a whole list) and records
// where it came from.
func (d *decoder) leaf(n *yaml.Node, t reflect.Type, set func(reflect.Value), p path, rule string) error {
	d.c.forget(p)
	d.c.pos[p.String()] = d.layer.at(n)
	v := reflect.New(t).Elem()
	if err := d.fill(n, v, p, rule); err != nil {
		return err
	}
	set(v)
	d.c.sources[p.String()] = d.layer.at(n)
	return nil
}

// fill decodes n into the fresh value v.
func (d *decoder) fill(n *yaml.Node, v reflect.Value, p path, rule string) error {
	n = deref(n)
	switch v.Kind() {
	case reflect.String:
		s, err := d.scalar(n, p, "a single value")
		if err != nil {
			return err
		}
		if s, err = d.check(n, v.Type(), p, rule, s); err != nil {
			return err
		}
		v.SetString(s)
	case reflect.Bool:
		s, err := d.scalar(n, p, "true or false")
		if err != nil {
			return err
		}
		switch strings.ToLower(s) {
		case "true":
			v.SetBool(true)
		case "false":
			v.SetBool(false)
		default:
			return fail(d.layer.at(n), p, q(s)+" is not a boolean", "write true or false")
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return d.wrongKind(n, p, "a list", "write [a, b] or one `- item` per line")
		}
		out := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			ip := p.index(i)
			item = deref(item)
			d.c.pos[ip.String()] = d.layer.at(item)
			if isNull(item) {
				return fail(d.layer.at(item), ip, "the list entry is empty", "remove the empty `-` line")
			}
			var err error
			if ev := out.Index(i); ev.Kind() == reflect.Struct {
				err = d.section(item, ev, ip)
			} else {
				err = d.fill(item, ev, ip, rule)
			}
			if err != nil {
				return err
			}
		}
		v.Set(out)
	default:
		// Only reachable if a schema field has a type this decoder was not
		// taught; TestSchemaRules keeps that from shipping.
		return fail(d.layer.at(n), p, "cannot be configured", "this is a bug in stepper")
	}
	return nil
}

// check validates a string value against its type and rule, and returns it
// as it is stored: relative paths anchored at the file's directory.
func (d *decoder) check(n *yaml.Node, t reflect.Type, p path, rule, s string) (string, error) {
	if s == "" {
		return s, nil
	}
	if rule == "secretref" || rule == "keyref" {
		ref := SecretRef(s)
		if _, kms := ref.KeyReference(); !ref.IsReference() && !kms {
			// A literal where a reference belongs is a secret; mask it
			// everywhere from now on, before anything can print it.
			d.c.secrets.Add(s)
		}
	}
	if e, ok := reflect.Zero(t).Interface().(enum); ok && !slices.Contains(e.allowed(), s) {
		return "", fail(d.layer.at(n), p, q(s)+" is not allowed",
			joinHint("use one of "+strings.Join(e.allowed(), ", "), didYouMean(s, e.allowed())))
	}
	if r := rules[rule]; r != nil {
		if problem, hint := r(s); problem != "" {
			return "", fail(d.layer.at(n), p, problem, hint)
		}
	}
	switch {
	case t == reflect.TypeFor[FilePath]():
		s = relativeTo(d.baseDir, s)
	case t == reflect.TypeFor[SecretRef]() && strings.HasPrefix(s, "file://"):
		s = "file://" + relativeTo(d.baseDir, strings.TrimPrefix(s, "file://"))
	}
	return s, nil
}

// scalar returns the text of a scalar node. Numbers and booleans are taken as
// written, so branch: 2026 is the branch "2026".
func (d *decoder) scalar(n *yaml.Node, p path, want string) (string, error) {
	if n.Kind != yaml.ScalarNode {
		return "", d.wrongKind(n, p, want, "")
	}
	switch n.ShortTag() {
	case "!!str", "!!int", "!!float", "!!bool", "!!timestamp":
		return n.Value, nil
	case "!!null":
		return "", fail(d.layer.at(n), p, "the value is empty", "write a value or remove the key")
	}
	return "", fail(d.layer.at(n), p, "the tag "+q(n.Tag)+" is not supported", "write the value without a tag")
}

// pairs lists the key/value pairs of a mapping, refusing duplicate keys and
// applying YAML merge keys (<<: *defaults): keys written in the mapping win
// over merged ones, and earlier merges win over later ones.
func (d *decoder) pairs(n *yaml.Node, p path) ([]pair, error) {
	var out []pair
	seen := map[string]*yaml.Node{}
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := deref(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, fail(d.layer.at(k), p, "a key must be a plain word", "write `name: value`")
		}
		if k.ShortTag() == "!!merge" {
			merges = append(merges, val)
			continue
		}
		if first, dup := seen[k.Value]; dup {
			return nil, fail(d.layer.at(k), p.field(k.Value), "the key is written twice",
				"the first is at line "+strconv.Itoa(first.Line)+"; remove one of them")
		}
		seen[k.Value] = k
		out = append(out, pair{k, val})
	}
	for _, m := range merges {
		m = deref(m)
		sources := []*yaml.Node{m}
		if m.Kind == yaml.SequenceNode {
			sources = m.Content
		}
		for _, src := range sources {
			src = deref(src)
			if src.Kind != yaml.MappingNode {
				return nil, fail(d.layer.at(src), p, "<< merges mappings only", "write <<: *anchor where the anchor is a mapping")
			}
			merged, err := d.pairs(src, p)
			if err != nil {
				return nil, err
			}
			for _, kv := range merged {
				if _, ok := seen[kv.key.Value]; !ok {
					seen[kv.key.Value] = kv.key
					out = append(out, kv)
				}
			}
		}
	}
	return out, nil
}

// wrongKind reports a value of the wrong shape: a list where one value
// belongs, a mapping where a list belongs.
func (d *decoder) wrongKind(n *yaml.Node, p path, want, hint string) error {
	return fail(d.layer.at(n), p, "want "+want+", got "+describe(n), hint)
}

func describe(n *yaml.Node) string {
	if shape := yamlerr.Shape(n); shape != "" {
		return shape
	}
	return q(n.Value)
}

// deref follows aliases. The tree check (tree.go) has already refused cycles.
func deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool { return yamlerr.IsNull(n) }
