package deploy

import (
	"reflect"
	"testing"
)

// A "," or "[" inside a value must stay in the value: joined as k=v for
// Helm's --set parser, they made new keys.
func TestValuesMapKeepsValuesWhole(t *testing.T) {
	got, err := valuesMap(
		map[string]string{"env.LIST": "a,b=c", "ports[1].port": "8080", "replicas": "2", "flag": "true", "ver": "010", "x\\.y": "[1]"},
		map[string]string{"env.COUNT": "3"},
	)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"env":      map[string]any{"LIST": "a,b=c", "COUNT": "3"},
		"ports":    []any{nil, map[string]any{"port": int64(8080)}},
		"replicas": int64(2),
		"flag":     true,
		"ver":      "010",
		"x.y":      "[1]",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("valuesMap =\n%#v\nwant\n%#v", got, want)
	}
}

func TestValuesMapBadKeys(t *testing.T) {
	for _, k := range []string{"a..b", "a[x]", "a[1", "a[0][1]", "a[0]b"} {
		if _, err := valuesMap(map[string]string{k: "v"}, nil); err == nil {
			t.Errorf("key %q: no error", k)
		}
	}
}
