package config

import (
	"bytes"
	"encoding/json"
	"io"
	"reflect"
	"strings"

	"github.com/stepper-cd/stepper/internal/exit"
	"go.yaml.in/yaml/v3"
)

// EffectiveOption changes what WriteEffective writes.
type EffectiveOption func(*effectiveOptions)

type effectiveOptions struct{ sources bool }

// WithSources adds where each value came from: "profile ehealth",
// "stepper.yaml:12", "env STEPPER_REGISTRY_HOST", "--set registry.host=..."
// or "default". YAML gets them as line comments, so the output still loads
// as a stepper.yaml; JSON gets {"config": ..., "sources": {key path: source}}.
func WithSources() EffectiveOption { return func(o *effectiveOptions) { o.sources = true } }

// WriteEffective writes the merged configuration as "yaml" or "json". Keys
// nobody set are left out. Passwords in URLs are masked, and the whole
// output is masked once more with every secret seen while loading.
func (c *Config) WriteEffective(w io.Writer, format string, opts ...EffectiveOption) error {
	var o effectiveOptions
	for _, opt := range opts {
		opt(&o)
	}
	root := c.node(reflect.ValueOf(c).Elem(), nil, o.sources)
	if root == nil {
		root = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	}
	var buf bytes.Buffer
	switch format {
	case "yaml":
		doc := &yaml.Node{Kind: yaml.DocumentNode, HeadComment: c.header(o.sources), Content: []*yaml.Node{root}}
		enc := yaml.NewEncoder(&buf)
		enc.SetIndent(2)
		if err := enc.Encode(doc); err != nil {
			return err
		}
		if err := enc.Close(); err != nil {
			return err
		}
	case "json":
		var raw bytes.Buffer
		if o.sources {
			raw.WriteString(`{"config":`)
			writeJSON(&raw, root)
			raw.WriteString(`,"sources":{`)
			for i, key := range sortedKeys(c.sources) {
				if i > 0 {
					raw.WriteByte(',')
				}
				raw.WriteString(jsonString(key) + ":" + jsonString(c.sources[key].String()))
			}
			raw.WriteString("}}")
		} else {
			writeJSON(&raw, root)
		}
		if err := json.Indent(&buf, raw.Bytes(), "", "  "); err != nil {
			return err
		}
		buf.WriteByte('\n')
	default:
		return exit.Usagef("unknown format %q; use yaml or json", format)
	}
	_, err := io.WriteString(w, c.secrets.Mask(buf.String()))
	return err
}

func (c *Config) header(sources bool) string {
	h := "Effective stepper configuration"
	if c.file != "" {
		h += " from " + c.file
	}
	if c.Profile != "" {
		h += " on profile " + c.Profile
	}
	chain := "none"
	if len(c.chain) > 0 {
		var names []string
		for _, e := range c.chain {
			names = append(names, e.Name)
		}
		chain = strings.Join(names, " → ")
	}
	h += ".\nChain: " + chain
	if sources {
		h += "\nEach value is followed by where it came from."
	}
	return h
}

// node renders the value at p, or nil when it is empty and so left out.
func (c *Config) node(v reflect.Value, p path, sources bool) *yaml.Node {
	var n *yaml.Node
	switch {
	case v.Type() == envListType:
		n = &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for i := range v.Len() {
			e := v.Index(i).Elem()
			n.Content = append(n.Content, c.node(e, p.env(e.FieldByName("Name").String()), sources))
		}
	case v.Kind() == reflect.Struct:
		n = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		for _, f := range infoOf(v.Type()).fields {
			if child := c.node(v.Field(f.index), p.field(f.name), sources); child != nil {
				n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: f.name}, child)
			}
		}
	case v.Kind() == reflect.Map:
		n = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		for _, k := range sortedKeys(mapOfStrings(v)) {
			child := c.node(v.MapIndex(reflect.ValueOf(k).Convert(v.Type().Key())), p.key(k), sources)
			if child != nil {
				n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k}, child)
			}
		}
	case v.Kind() == reflect.Slice:
		n = &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		if v.Type().Elem().Kind() != reflect.Struct {
			n.Style = yaml.FlowStyle
		}
		for i := range v.Len() {
			n.Content = append(n.Content, c.node(v.Index(i), p.index(i), sources))
		}
	case v.Kind() == reflect.Bool:
		n = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "false"}
		if v.Bool() {
			n.Value = "true"
		}
	case v.Kind() == reflect.String:
		if v.String() == "" {
			return nil
		}
		n = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: redactURL(v.String())}
	}
	if n == nil || (n.Kind != yaml.ScalarNode && len(n.Content) == 0) {
		return nil
	}
	inList := len(p) > 0 && p[len(p)-1].kind == segIndex // commented as part of its list
	if sources && !inList && (n.Kind == yaml.ScalarNode || n.Style == yaml.FlowStyle) {
		n.LineComment = origin{kind: fromDefault}.String()
		if o, ok := c.sources[p.String()]; ok {
			n.LineComment = o.String()
		}
	}
	return n
}

func mapOfStrings(v reflect.Value) map[string]struct{} {
	m := make(map[string]struct{}, v.Len())
	for _, k := range v.MapKeys() {
		m[k.String()] = struct{}{}
	}
	return m
}

// writeJSON writes a rendered node tree as JSON, keeping key order.
func writeJSON(b *bytes.Buffer, n *yaml.Node) {
	switch n.Kind {
	case yaml.MappingNode:
		b.WriteByte('{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(jsonString(n.Content[i].Value) + ":")
			writeJSON(b, n.Content[i+1])
		}
		b.WriteByte('}')
	case yaml.SequenceNode:
		b.WriteByte('[')
		for i, item := range n.Content {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSON(b, item)
		}
		b.WriteByte(']')
	default:
		if n.Tag == "!!bool" {
			b.WriteString(n.Value)
		} else {
			b.WriteString(jsonString(n.Value))
		}
	}
}

func jsonString(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return strings.TrimSuffix(b.String(), "\n")
}
