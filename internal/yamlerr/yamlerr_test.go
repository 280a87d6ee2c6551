package yamlerr

import (
	"testing"

	"go.yaml.in/yaml/v3"
)

// Scanner errors count lines from 1, parser errors from 0 and name none for
// the first line: Syntax gives the real line either way.
func TestSyntax(t *testing.T) {
	for src, want := range map[string]int{
		"a: 1\nb: [1, 2\nc: 3\n": 2, // parser: the flow sequence it could not close
		"a: 1\n\tb: 2\n":         2, // scanner: found a tab character
		"- a\nb: 1\n":            2, // parser, first-line form counts too
	} {
		var v any
		err := yaml.Unmarshal([]byte(src), &v)
		if err == nil {
			t.Fatalf("%q parsed", src)
		}
		line, problem := Syntax(err)
		if line != want || problem == "" {
			t.Errorf("%q: line %d problem %q (from %v), want line %d", src, line, problem, err, want)
		}
	}
}

func TestShape(t *testing.T) {
	var doc yaml.Node
	yaml.Unmarshal([]byte("m: {a: 1}\nl: [1]\nn: ~\ns: x\n"), &doc)
	root := doc.Content[0]
	for i, want := range []string{"a mapping", "a list", "nothing", ""} {
		if got := Shape(root.Content[2*i+1]); got != want {
			t.Errorf("Shape(%s) = %q, want %q", root.Content[2*i].Value, got, want)
		}
	}
}
