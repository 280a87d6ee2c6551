package config

import (
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/stepper-cd/stepper/internal/secret"
	"go.yaml.in/yaml/v3"
)

// STEPPER_* variables and --set flags set one value each, addressed by key
// path. They are decoded by the same decoder as the file, from a synthetic
// node, so a wrong type gets the same message with the variable or flag as
// its location.

// setting is one --set flag.
type setting struct {
	text  string   // key=value as given, for messages; the value is shown masked where needed
	key   string   // the key path as given
	segs  []string // the key path, split
	value string
}

// variable is one STEPPER_* environment variable.
type variable struct{ name, value string }

func parseSets(args []string, flag string) ([]setting, error) {
	out := make([]setting, 0, len(args))
	for _, arg := range args {
		key, value, ok := strings.Cut(arg, "=")
		key = strings.TrimSpace(key)
		if !ok {
			return nil, fail(origin{kind: fromSet, name: flag + " " + key}, nil, "want key.path=value",
				"like "+flag+" registry.host=127.0.0.1:5000")
		}
		segs, ok := parseDotted(key)
		if !ok {
			return nil, fail(origin{kind: fromSet, name: flag + " " + key}, nil, q(key)+" is not a key path",
				"write dotted keys, environments by name: environments.preprod.desiredState.branch")
		}
		out = append(out, setting{text: key + "=" + redactURL(value), key: key, segs: segs, value: value})
	}
	return out, nil
}

// stepperVars returns the STEPPER_* variables that may be config keys,
// sorted by name so the outcome never depends on the order of environ.
// An empty variable counts as unset: CI servers define variables they
// leave empty, and an empty value should not erase a key from the file.
func stepperVars(environ, ignore []string) []variable {
	var out []variable
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, "STEPPER_") || value == "" || slices.Contains(ignore, name) {
			continue
		}
		out = append(out, variable{name, value})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// applyVar sets the key a STEPPER_* variable names. A variable that names no
// key is only a warning, because CI servers and wrappers set STEPPER_*
// variables of their own; one that names a key but holds a bad value is an
// error.
func (l *loader) applyVar(v variable) error {
	toks := strings.Split(strings.TrimPrefix(v.name, "STEPPER_"), "_")
	segs, ok := envSegments(reflect.ValueOf(l.c).Elem(), toks)
	if !ok {
		l.c.warnf("%s is not a configuration key and is ignored%s", v.name,
			prefixed("; ", didYouMean(v.name, allVars(l.c))))
		return nil
	}
	registerURLSecret(l.c.secrets, v.value)
	d := &decoder{layer: origin{kind: fromEnv, name: v.name}, c: l.c}
	return d.apply(segs, v.value, true)
}

// applySet sets the key a --set flag names; unlike a variable, a flag that
// names no key is an error, and it may add an environment or a map entry.
func (l *loader) applySet(s setting) error {
	registerURLSecret(l.c.secrets, s.value)
	d := &decoder{layer: origin{kind: fromSet, name: l.c.flagName() + " " + s.key}, c: l.c}
	return d.apply(s.segs, s.value, true)
}

// apply decodes value into the key at segs.
func (d *decoder) apply(segs []string, value string, create bool) error {
	sl, err := d.resolve(segs, create)
	if err != nil {
		return err
	}
	if d.layer.kind == fromSet {
		shown := redactURL(value)
		if sl.rule == "secretref" || sl.rule == "keyref" {
			if _, kms := SecretRef(value).KeyReference(); !kms && !SecretRef(value).IsReference() {
				shown = secret.Masked
			}
		}
		d.layer.name += "=" + shown
	}
	n, ok := synthNode(sl.typ, value)
	if !ok {
		return fail(d.layer, sl.p, "is a list of mappings", "set it in stepper.yaml")
	}
	return d.leaf(n, sl.typ, sl.set, sl.p, sl.rule)
}

// synthNode makes the node a file would hold for value. A list takes a
// comma-separated value: inttest,exttest,preprod.
func synthNode(t reflect.Type, value string) (*yaml.Node, bool) {
	if t.Kind() != reflect.Slice {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: value}, true
	}
	if t.Elem().Kind() == reflect.Struct {
		return nil, false
	}
	seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	for item := range strings.SplitSeq(value, ",") {
		if item = strings.TrimSpace(item); item != "" {
			seq.Content = append(seq.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: item})
		}
	}
	return seq, true
}

// slot is one single value in a Config, found by key path.
type slot struct {
	p    path
	typ  reflect.Type
	rule string
	get  reflect.Value         // the current value; invalid if absent
	set  func(v reflect.Value) // replaces it
}

// resolve finds the single value at segs. With create, a missing
// environment is added, as --set may do; without, it is an error. A missing
// map entry is always found, its get invalid, and added only by set.
func (d *decoder) resolve(segs []string, create bool) (slot, error) {
	v := reflect.ValueOf(d.c).Elem()
	var p path
	rule := ""
	for i, s := range segs {
		switch {
		case v.Type() == envListType:
			names := d.c.environmentNames()
			if !slices.Contains(names, s) {
				if !create {
					return slot{}, fail(d.layer, p.env(s), "no environment "+q(s)+" is defined",
						joinHint(didYouMean(s, names), "defined: "+joinNames(names)))
				}
				if problem, hint := checkName(s); problem != "" {
					return slot{}, fail(d.layer, p.env(s), problem, hint)
				}
				d.c.sources[p.env(s).field("name").String()] = d.layer
			}
			v = d.findOrAddEnv(v, s).Elem()
			p = p.env(s)
		case v.Kind() == reflect.Struct:
			info := infoOf(v.Type())
			f := info.byName[s]
			if f == nil {
				return slot{}, fail(d.layer, p.field(s), "unknown key "+q(s),
					joinHint(didYouMean(s, info.names), info.keysHint()))
			}
			v, p, rule = v.Field(f.index), p.field(f.name), f.rule
		case v.Kind() == reflect.Map:
			kp := p.key(s)
			if i != len(segs)-1 {
				return slot{}, fail(d.layer, kp, "is a single value; it has no key "+q(segs[i+1]), "")
			}
			if problem, hint := checkKeyName(s); problem != "" {
				return slot{}, fail(d.layer, kp, problem, hint)
			}
			m, key := v, reflect.ValueOf(s).Convert(v.Type().Key())
			return slot{p: kp, typ: m.Type().Elem(), rule: rule, get: m.MapIndex(key), set: func(x reflect.Value) {
				if m.IsNil() {
					m.Set(reflect.MakeMap(m.Type()))
				}
				m.SetMapIndex(key, x)
			}}, nil
		default:
			return slot{}, fail(d.layer, p, "is a single value; it has no key "+q(s), "")
		}
	}
	if isSection(v.Type()) {
		return slot{}, fail(d.layer, p, "is a section, not a single value", "set one of its keys: "+keysOf(v.Type()))
	}
	return slot{p: p, typ: v.Type(), rule: rule, get: v, set: v.Set}, nil
}

// envSegments reads a STEPPER_* variable name, already split at _, as a key
// path. Key names are matched longest first and environments by name, so
// STEPPER_ENVIRONMENTS_PRE_PROD_DESIRED_STATE_BRANCH finds pre-prod's
// desiredState.branch. An unknown map key is taken as written, so a Jenkins
// parameter can be added: STEPPER_ENVIRONMENTS_PROD_LAND_PARAMETERS_TICKET.
func envSegments(v reflect.Value, toks []string) ([]string, bool) {
	if len(toks) == 0 {
		return nil, !isSection(v.Type())
	}
	try := func(name string, nameToks []string, next reflect.Value) ([]string, bool) {
		if len(toks) < len(nameToks) || !slices.Equal(toks[:len(nameToks)], nameToks) {
			return nil, false
		}
		rest, ok := envSegments(next, toks[len(nameToks):])
		return append([]string{name}, rest...), ok
	}
	switch {
	case v.Type() == envListType:
		for i := range v.Len() {
			e := v.Index(i).Elem()
			name := e.FieldByName("Name").String()
			if segs, ok := try(name, nameTokens(name), e); ok {
				return segs, true
			}
		}
	case v.Kind() == reflect.Struct:
		for _, f := range infoOf(v.Type()).byTokens {
			if segs, ok := try(f.name, snakeTokens(f.name), v.Field(f.index)); ok {
				return segs, true
			}
		}
	case v.Kind() == reflect.Map:
		for _, k := range v.MapKeys() {
			if slices.Equal(nameTokens(k.String()), toks) {
				return []string{k.String()}, true
			}
		}
		return []string{strings.Join(toks, "_")}, true
	}
	return nil, false
}

// allVars lists the variable names of every single value in c, for
// suggestions.
func allVars(c *Config) []string {
	var out []string
	var walk func(v reflect.Value, p path)
	walk = func(v reflect.Value, p path) {
		switch {
		case v.Type() == envListType:
			for i := range v.Len() {
				e := v.Index(i).Elem()
				walk(e, p.env(e.FieldByName("Name").String()))
			}
		case v.Kind() == reflect.Struct:
			for _, f := range infoOf(v.Type()).fields {
				walk(v.Field(f.index), p.field(f.name))
			}
		case v.Kind() == reflect.Map:
			for _, k := range v.MapKeys() {
				out = append(out, p.key(k.String()).envVar())
			}
		default:
			out = append(out, p.envVar())
		}
	}
	walk(reflect.ValueOf(c).Elem(), nil)
	return out
}

func prefixed(prefix, s string) string {
	if s == "" {
		return ""
	}
	return prefix + s
}
