package desiredstate

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// FuzzFlattenValues reads a --values file as deploy does and flattens it:
// any YAML gives paths or an error, never a panic, and every path it gives
// names a key.
func FuzzFlattenValues(f *testing.F) {
	for _, seed := range []string{
		"image:\n  tag: 1.2.3\nreplicas: 2\n",
		"a.b: {c: [1, 2.5, null, true, 2026-01-02]}\n",
		"list: []\n",
		"map: {}\n",
		"'': 1\n",
		"k[0]: v\n",
		"? [a, b]\n: v\n",
		"1: one\nnested: {2: two}\n",
		"a: &x {b: [*x]}\n",
		"a: &a [1, 2]\nb: [*a, *a, *a]\n",
		"inf: .inf\nnan: .nan\nbig: 123456789012345678901234567890\n",
		"- top level list\n",
		"just a scalar\n",
		"",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		var doc map[string]any
		if err := yaml.Unmarshal(src, &doc); err != nil {
			return
		}
		flat, err := FlattenValues(doc)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "values ") {
				t.Fatalf("error %q does not say it is about the values", err)
			}
			return
		}
		for path := range flat {
			if path == "" || strings.HasPrefix(path, ".") || strings.HasPrefix(path, "[") {
				t.Fatalf("path %q names no key", path)
			}
		}
	})
}
