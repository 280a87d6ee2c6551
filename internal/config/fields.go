package config

import (
	"reflect"
	"slices"
	"strings"
	"sync"
)

// fieldInfo is one key of a section, read from the schema's struct tags.
type fieldInfo struct {
	name  string // the YAML key
	index int    // the struct field
	rule  string // the check tag: the rule for its values (rules.go)
}

type structInfo struct {
	fields []fieldInfo // in declaration order, which is also output order
	byName map[string]*fieldInfo
	names  []string
	// byTokens is fields ordered by how many words their variable name has,
	// most first, so STEPPER_* matching tries the longest key first.
	byTokens []fieldInfo
}

var structInfos sync.Map // reflect.Type -> *structInfo

// envListType is the one list addressed by name instead of by position.
var envListType = reflect.TypeFor[[]*Environment]()

func infoOf(t reflect.Type) *structInfo {
	if si, ok := structInfos.Load(t); ok {
		return si.(*structInfo)
	}
	si := &structInfo{byName: map[string]*fieldInfo{}}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "" || name == "-" {
			continue
		}
		si.fields = append(si.fields, fieldInfo{name: name, index: i, rule: f.Tag.Get("check")})
	}
	for i := range si.fields {
		si.byName[si.fields[i].name] = &si.fields[i]
		si.names = append(si.names, si.fields[i].name)
	}
	si.byTokens = slices.Clone(si.fields)
	slices.SortStableFunc(si.byTokens, func(a, b fieldInfo) int {
		return len(snakeTokens(b.name)) - len(snakeTokens(a.name))
	})
	structInfos.Store(t, si)
	return si
}

// isSection reports whether values of t hold keys rather than being one value.
func isSection(t reflect.Type) bool {
	return t == envListType || t.Kind() == reflect.Struct || t.Kind() == reflect.Map
}

// keysOf lists what a section takes, for hints.
func keysOf(t reflect.Type) string {
	switch {
	case t == envListType:
		return "an environment name"
	case t.Kind() == reflect.Map:
		return "a name of your choice"
	case t.Kind() == reflect.Struct:
		return strings.Join(infoOf(t).names, ", ")
	}
	return ""
}
