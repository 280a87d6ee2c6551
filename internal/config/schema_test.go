package config

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

// keyPaths lists every key of the schema as REFERENCE.md writes it:
// registry.credentials.password, environments[].land.via,
// signing.publicKeys[].id.
func keyPaths(t reflect.Type, prefix string) []string {
	var out []string
	for _, f := range infoOf(t).fields {
		key := prefix + f.name
		out = append(out, key)
		ft := t.Field(f.index).Type
		switch {
		case ft == envListType:
			out = append(out, keyPaths(reflect.TypeFor[Environment](), key+"[].")...)
		case ft.Kind() == reflect.Struct:
			out = append(out, keyPaths(ft, key+".")...)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			out = append(out, keyPaths(ft.Elem(), key+"[].")...)
		}
	}
	return out
}

// TestReferenceDocumentsEveryKey keeps REFERENCE.md and the schema in step.
func TestReferenceDocumentsEveryKey(t *testing.T) {
	for _, key := range keyPaths(reflect.TypeFor[Config](), "") {
		if !strings.Contains(reference, "`"+key+"`") {
			t.Errorf("REFERENCE.md does not document `%s`", key)
		}
	}
}

// TestSchemaRules: every check tag names a rule, and every field has a type
// the decoder, the overrides and the writer know.
func TestSchemaRules(t *testing.T) {
	var walk func(t reflect.Type, where string)
	seen := map[reflect.Type]bool{}
	walk = func(typ reflect.Type, where string) {
		if seen[typ] {
			return
		}
		seen[typ] = true
		for _, f := range infoOf(typ).fields {
			sf := typ.Field(f.index)
			name := where + "." + f.name
			if f.rule != "" && rules[f.rule] == nil {
				t.Errorf("%s: check tag %q names no rule", name, f.rule)
			}
			switch ft := sf.Type; {
			case ft == envListType:
				walk(reflect.TypeFor[Environment](), name)
			case ft.Kind() == reflect.Struct:
				walk(ft, name)
			case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
				walk(ft.Elem(), name)
			case ft.Kind() == reflect.Map:
				if ft.Key().Kind() != reflect.String || !slices.Contains([]reflect.Kind{reflect.String, reflect.Slice}, ft.Elem().Kind()) {
					t.Errorf("%s: map type %s is not supported", name, ft)
				}
			case ft.Kind() == reflect.Slice:
				if ft.Elem().Kind() != reflect.String {
					t.Errorf("%s: list type %s is not supported", name, ft)
				}
			case ft.Kind() != reflect.String && ft.Kind() != reflect.Bool:
				t.Errorf("%s: type %s is not supported", name, ft)
			}
		}
	}
	walk(reflect.TypeFor[Config](), "")
}

func TestProfilesLoadCleanly(t *testing.T) {
	for _, name := range Profiles() {
		c := newConfig(nil)
		root, err := profileRoot(name, nil)
		if err != nil {
			t.Fatalf("profile %s: %v", name, err)
		}
		d := &decoder{layer: origin{kind: fromProfile, name: name}, c: c}
		if err := d.member(root, reflect.ValueOf(c).Elem(), nil, ""); err != nil {
			t.Fatalf("profile %s: %v", name, err)
		}
	}
}

func TestPathForms(t *testing.T) {
	p := path{}.field("environments").env("pre-prod").field("desiredState").field("branch")
	if got := p.String(); got != "environments[pre-prod].desiredState.branch" {
		t.Errorf("String = %s", got)
	}
	if got := p.dotted(); got != "environments.pre-prod.desiredState.branch" {
		t.Errorf("dotted = %s", got)
	}
	if got := p.envVar(); got != "STEPPER_ENVIRONMENTS_PRE_PROD_DESIRED_STATE_BRANCH" {
		t.Errorf("envVar = %s", got)
	}
	if got := (path{}).field("signing").field("publicKeys").index(1).field("id").String(); got != "signing.publicKeys[1].id" {
		t.Errorf("String = %s", got)
	}
	cases := map[string][]string{
		"registry.host":                  {"registry", "host"},
		"environments[preprod].land.via": {"environments", "preprod", "land", "via"},
		"environments.preprod.land.via":  {"environments", "preprod", "land", "via"},
		"a[b][c]":                        {"a", "b", "c"},
		"":                               nil,
		"a..b":                           nil,
		"a[b":                            nil,
		"a[]":                            nil,
		"a[b]x":                          nil,
	}
	for in, want := range cases {
		got, ok := parseDotted(in)
		if ok != (want != nil) || !slices.Equal(got, want) {
			t.Errorf("parseDotted(%q) = %v, %v; want %v", in, got, ok, want)
		}
	}
}

func TestClosest(t *testing.T) {
	candidates := []string{"desiredState", "land", "promoters", "tagPrefix"}
	for in, want := range map[string]string{
		"desired_state": "desiredState",
		"DesiredState":  "desiredState",
		"lnad":          "land",
		"promotors":     "promoters",
		"frobnicate":    "",
	} {
		if got := closest(in, candidates); got != want {
			t.Errorf("closest(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRules(t *testing.T) {
	tests := []struct {
		rule string
		good []string
		bad  []string
	}{
		{"host", []string{"registry.example", "registry.example:443", "127.0.0.1:5000", "[::1]:5000", "localhost"},
			[]string{"https://r.example", "r.example/path", "r.example:0", "r.example:x", "u:p@r.example", "bad_host"}},
		{"image", []string{"registry.admin.ehealth.sundhed.dk/ehealth/base/java", "java", "r.example:5000/a/b:1.2", "a/b@sha256:" + strings.Repeat("a", 64)},
			[]string{"A/B", "a b", "a/b:", "a//b"}},
		{"gitrepo", []string{"https://h/g/r.git", "ssh://git@h/g/r.git", "git@h:g/r.git", "file:///srv/r.git", "/srv/r.git"},
			[]string{"ftp://h/r", "https:///r", "r.git", "file://"}},
		{"branch", []string{"master", "release/2026", "prod"}, []string{"-x", "a..b", "a b", "a.lock", "a/", "a~1", "@"}},
		{"relpath", []string{"dsf.yaml", "inttest/dsf.yaml", "clusters/prod"}, []string{"/etc/x", "../x", "a/../../x", `a\b`}},
		{"secretref", []string{"env://X_1", "file:///run/s", "file://rel/s"}, []string{"hunter2", "env://", "env://1X", "file://", "vault://x"}},
		{"keyref", []string{"env://K", "awskms://alias/k", "k8s://ns/s"}, []string{"-----BEGIN KEY-----"}},
		{"userref", []string{"ci", "robot$x", "env://U"}, []string{"vault://u"}},
		{"principal", []string{"group:sre", "user:alice"}, []string{"sre", "group:", "team:x", "group:a b"}},
		{"job", []string{"ehealth-promote-prod", "folder/job", "My Job"}, []string{"/job", "job/", "a//b", "a?b", " job"}},
		{"tagprefix", []string{"stag-", "master-", "v"}, []string{"-x", ".x", "a b"}},
		{"name", []string{"preprod", "pre-prod", "a1"}, []string{"PreProd", "pre_prod", "-a", "a-"}},
		{"httpurl", []string{"https://gitlab.example", "http://127.0.0.1:8080/jenkins"}, []string{"gitlab.example", "ftp://x", "https://"}},
	}
	for _, tt := range tests {
		r := rules[tt.rule]
		for _, s := range tt.good {
			if problem, _ := r(s); problem != "" {
				t.Errorf("%s(%q): %s", tt.rule, s, problem)
			}
		}
		for _, s := range tt.bad {
			if problem, hint := r(s); problem == "" || hint == "" {
				t.Errorf("%s(%q) accepted or gave no hint", tt.rule, s)
			}
		}
	}
}
