package desiredstate

import (
	"fmt"
	"strings"
)

// appFields are the app options Helmsman documents, from the v1 spec this
// package follows plus the ones later releases added. An unknown field is
// only an error when it is a near miss of one of these: a typo such as
// "verison" silently drops the version, while a field from a newer
// Helmsman must not make the file unreadable.
var appFields = []string{
	"name", "description", "namespace", "enabled", "group", "chart", "version",
	"valuesFile", "valuesFiles", "secretsFile", "secretsFiles", "postRenderer",
	"purge", "test", "protected", "wait", "timeout", "noHooks", "priority",
	"hooks", "maxHistory", "set", "setString", "setFile", "helmFlags",
	"helmDiffFlags", "noValidate", "tillerNamespace", "kubeContext",
}

var knownAppFields = func() map[string]bool {
	m := map[string]bool{}
	for _, f := range appFields {
		m[f] = true
	}
	return m
}()

var boolFields = []string{"enabled", "protected", "wait", "purge", "test", "noHooks"}

// checkFields reports typos and wrongly typed fields of an app, at the
// line of the offending field.
func checkFields(r *rawApp) error {
	for _, f := range sortedScalarKeys(r.fields) {
		s := r.fields[f]
		if !knownAppFields[f] {
			if near := nearest(f, appFields); near != "" {
				return errorAt(s.pos, fmt.Sprintf("did you mean %q?", near), "app %q: unknown field %q", r.name, f)
			}
		}
		if isValueMap(f) && s.value != "" {
			return errorAt(s.pos, "write "+f+" as a mapping of helm --set keys", "app %q: %s is not a mapping", r.name, f)
		}
	}
	for _, f := range boolFields {
		if s := r.fields[f]; s != nil && !isEnvRef(s.value) && !isBool(s.value) {
			return errorAt(s.pos, "use true or false", "app %q: %s is %q, not a boolean", r.name, f, s.value)
		}
	}
	if s := r.fields["version"]; s == nil && r.lists["version"] != nil {
		return errorAt(r.pos, "give one chart version", "app %q: version is a list", r.name)
	}
	return nil
}

func isBool(v string) bool {
	switch strings.ToLower(v) {
	case "true", "false":
		return true
	}
	return false
}
