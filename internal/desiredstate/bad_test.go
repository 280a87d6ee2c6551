package desiredstate

import (
	"errors"
	"strings"
	"testing"
)

// Every bad input gives an *Error with a line and a message that says what
// is wrong; none panics.
func TestBadInput(t *testing.T) {
	digestShort := "sha256:abc"
	cases := []struct {
		name   string
		format Format
		src    string
		app    string // when set, the error comes from reading this app
		line   int
		want   string
	}{
		{"yaml broken", HelmsmanYAML, "apps:\n  api:\n    version: [1.0\n", "", 2, "invalid YAML"},
		{"yaml tab indent", HelmsmanYAML, "apps:\n\tapi: {}\n", "", 2, "invalid YAML"},
		{"yaml same app twice", HelmsmanYAML, "apps:\n  api:\n    version: 1.0.0\n  api:\n    version: 1.0.1\n", "", 4, `app "api" is declared twice (first at line 2)`},
		{"yaml duplicate field", HelmsmanYAML, "apps:\n  api:\n    version: 1.0.0\n    version: 1.0.1\n", "", 4, `key "version" is declared twice`},
		{"yaml two documents", HelmsmanYAML, "apps: {}\n---\napps: {}\n", "", 2, "second YAML document"},
		{"yaml apps not a mapping", HelmsmanYAML, "apps:\n  - api\n", "", 2, "apps is not a mapping"},
		{"yaml nested set", HelmsmanYAML, "apps:\n  api:\n    set:\n      image:\n        tag: x\n", "", 4, "set.image is not a single value"},
		{"yaml no tag no digest", HelmsmanYAML, "apps:\n  api:\n    version: 1.0.0\n    set:\n      image.repository: r/api\n", "api", 5, "neither tag nor digest"},
		{"yaml bad digest", HelmsmanYAML, "apps:\n  api:\n    version: 1.0.0\n    set:\n      image.tag: \"1\"\n      image.digest: " + digestShort + "\n", "api", 6, "is not sha256: followed by 64"},
		{"yaml uppercase digest", HelmsmanYAML, "apps:\n  api:\n    version: 1.0.0\n    set:\n      image.digest: sha256:" + strings.Repeat("A", 64) + "\n", "api", 5, "is not sha256"},
		{"yaml not semver", HelmsmanYAML, "apps:\n  api:\n    version: \"1.0\"\n", "api", 3, `chart version "1.0" is not semver`},
		{"yaml bad priority", HelmsmanYAML, "apps:\n  api:\n    version: 1.0.0\n    priority: high\n", "api", 4, "priority"},
		{"yaml typo field", HelmsmanYAML, "apps:\n  api:\n    verison: 1.0.0\n", "api", 3, `unknown field "verison" (did you mean "version"?)`},
		{"yaml enabled not bool", HelmsmanYAML, "apps:\n  api:\n    version: 1.0.0\n    enabled: maybe\n", "api", 4, `enabled is "maybe", not a boolean`},
		{"yaml set not a mapping", HelmsmanYAML, "apps:\n  api:\n    version: 1.0.0\n    set: image.tag=1\n", "api", 4, "set is not a mapping"},
		{"toml typo field", HelmsmanTOML, "[apps.api]\nnamespce = \"prod\"\n", "api", 2, `unknown field "namespce"`},
		{"yaml alias bomb", HelmsmanYAML, aliasBomb(), "", 0, ""},
		{"toml broken", HelmsmanTOML, "[apps.api]\nversion = \"1.0.0\n", "", 2, "invalid TOML"},
		{"toml same app twice", HelmsmanTOML, "[apps.api]\nversion = \"1.0.0\"\n[apps.api]\nversion = \"1.0.1\"\n", "", 3, `app "api" is declared twice (first at line 1)`},
		{"toml duplicate key", HelmsmanTOML, "[apps.api]\nversion = \"1.0.0\"\nversion = \"1.0.1\"\n", "", 3, "invalid TOML"},
		{"toml dotted set key", HelmsmanTOML, "[apps.api.set]\nimage.tag = \"1\"\n", "", 2, "dotted key"},
		{"toml app not a table", HelmsmanTOML, "[apps]\napi = \"x\"\n", "", 2, "is not a table"},
		{"toml apps not a table", HelmsmanTOML, "title = \"x\"\napps = \"none\"\n", "", 2, "apps is not a table"},
		{"toml apps array", HelmsmanTOML, "[[apps]]\nname = \"api\"\n", "", 1, "array of tables"},
		{"toml spec bare key with slash", HelmsmanTOML, "[namespaces.production.annotations]\niam.amazonaws.com/role = \"dynamodb-reader\"\n", "", 2, "invalid TOML"},
		{"toml not semver", HelmsmanTOML, "[apps.api]\nversion = \"latest\"\n", "api", 2, "is not semver"},
		{"yaml undeclared namespace", HelmsmanYAML, "namespaces:\n  staging: {}\napps:\n  api:\n    namespace: prod\n    version: 1.0.0\n", "api", 5, `namespace "prod" is not declared under namespaces`},
		{"toml undeclared namespace", HelmsmanTOML, "[namespaces.staging]\n[apps.api]\nnamespace = \"prod\"\nversion = \"1.0.0\"\n", "api", 3, `namespace "prod" is not declared under namespaces`},
		{"yaml bad timeout", HelmsmanYAML, "apps:\n  api:\n    version: 1.0.0\n    timeout: 5m\n", "api", 4, `timeout "5m" is not a number of seconds`},
		{"toml no tag no digest", HelmsmanTOML, "[apps.api]\nversion = \"1.0.0\"\n[apps.api.set]\n\"image.repository\" = \"r/api\"\n", "api", 4, "neither tag nor digest"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc, err := Open(tc.format, map[string][]byte{"env.dsf": []byte(tc.src)})
			if err == nil && tc.app != "" {
				_, err = doc.App(tc.app)
			}
			if tc.name == "yaml alias bomb" {
				// Aliases are never expanded, so the bomb is harmless:
				// either a clean error or a quick, small result.
				if err != nil {
					var e *Error
					if !errors.As(err, &e) {
						t.Fatalf("error is %T, not *Error: %v", err, err)
					}
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error is %T, not *Error: %v", err, err)
			}
			if e.Line != tc.line {
				t.Errorf("line = %d, want %d: %v", e.Line, tc.line, err)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "env.dsf:") {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

func aliasBomb() string {
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 10; i++ {
		b.WriteString("a" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + " [")
		for j := 0; j < 9; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*a" + string(rune('0'+i-1)))
		}
		b.WriteString("]\n")
	}
	b.WriteString("apps:\n  api:\n    <<: {version: 1.0.0}\n    helmFlags: *a9\n")
	return b.String()
}

func TestMergeAliasBudget(t *testing.T) {
	// A chain of merges through aliases is bounded and fails cleanly.
	var b strings.Builder
	b.WriteString("d0: &d0 {version: 1.0.0}\n")
	for i := 1; i <= 40; i++ {
		b.WriteString("d" + itoa(i) + ": &d" + itoa(i) + " {<<: [*d" + itoa(i-1) + ", *d" + itoa(i-1) + "]}\n")
	}
	b.WriteString("apps:\n  api:\n    <<: *d40\n")
	_, err := Open(HelmsmanYAML, map[string][]byte{"bomb.yaml": []byte(b.String())})
	var e *Error
	if !errors.As(err, &e) || e.Line == 0 {
		t.Fatalf("want a positioned error, got %v", err)
	}
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

func TestOversizedInput(t *testing.T) {
	big := "apps: {}\n# " + strings.Repeat("x", 5<<20) + "\n"
	_, err := Open(HelmsmanYAML, map[string][]byte{"big.yaml": []byte(big)})
	if err == nil || !strings.Contains(err.Error(), "over the limit") {
		t.Fatalf("want a size error, got %v", err)
	}
	_, err = Open(HelmsmanTOML, map[string][]byte{"small.toml": []byte("[apps]\n")}, WithMaxBytes(3))
	if err == nil {
		t.Fatal("WithMaxBytes not applied")
	}
}

func TestAppNotFoundSuggests(t *testing.T) {
	doc := mustLoad(t, helmsmanData+"/spec-style.yaml")
	_, err := doc.App("patient-apj")
	if !errors.Is(err, ErrAppNotFound) || !strings.Contains(err.Error(), `did you mean "patient-api"?`) {
		t.Fatalf("got %v", err)
	}
	if _, err := doc.SetChartVersion("booking", "1.0.0"); !errors.Is(err, ErrAppNotFound) {
		t.Fatalf("edit of a missing app: %v", err)
	}
}

func TestEditsRefuseBadValues(t *testing.T) {
	doc := mustLoad(t, helmsmanData+"/spec-style.toml")
	before := string(doc.Files()[helmsmanData+"/spec-style.toml"])
	for name, edit := range map[string]func() (bool, error){
		"not semver":      func() (bool, error) { return doc.SetChartVersion("patient-api", "1.2") },
		"no tag, no dig":  func() (bool, error) { return doc.SetImage("patient-api", Image{Repository: "r/x"}) },
		"short digest":    func() (bool, error) { return doc.SetImage("patient-api", Image{Tag: "1", Digest: "sha256:abc"}) },
		"bad tag":         func() (bool, error) { return doc.SetImage("patient-api", Image{Tag: "-x"}) },
		"empty value key": func() (bool, error) { return doc.SetValues("patient-api", map[string]string{"": "x"}) },
	} {
		if changed, err := edit(); err == nil || changed {
			t.Errorf("%s: changed=%v err=%v", name, changed, err)
		}
	}
	if string(doc.Files()[helmsmanData+"/spec-style.toml"]) != before {
		t.Fatal("a refused edit changed the file")
	}
}

// An anchor owned by one app and aliased by another cannot be edited in
// place without changing both; the edit is refused with a reason.
func TestSharedAnchorRefused(t *testing.T) {
	src := "apps:\n  a:\n    version: 1.0.0\n    set: &s\n      image.tag: \"1\"\n  b:\n    version: 1.0.0\n    set: *s\n"
	doc := mustOpen(t, HelmsmanYAML, "s.yaml", []byte(src))
	_, err := doc.SetImage("a", Image{Tag: "2"})
	if err == nil || !strings.Contains(err.Error(), "shared") {
		t.Fatalf("want a refusal, got %v", err)
	}
	// b can still get its own override.
	if changed, err := doc.SetImage("b", Image{Tag: "2"}); err != nil || !changed {
		t.Fatalf("override in b: %v", err)
	}
	a, _ := doc.App("a")
	if a.Image.Tag != "1" {
		t.Fatalf("a changed to %q", a.Image.Tag)
	}
}

func TestParseImage(t *testing.T) {
	img, err := ParseImage("registry:5000/team/api:1.2.3@" + digestA)
	if err != nil || img.Repository != "registry:5000/team/api" || img.Tag != "1.2.3" || img.Digest != digestA {
		t.Fatalf("got %+v %v", img, err)
	}
	if _, err := ParseImage("registry:5000/team/api"); err == nil {
		t.Fatal("no tag and no digest accepted")
	}
	for v, ok := range map[string]bool{"1.2.3": true, "v1.2.3": true, "1.0.0-rc.1+b.5": true, "1.2": false, "01.2.3": false, "1.2.3-01": false, "latest": false} {
		if validChartVersion(v) != ok {
			t.Errorf("validChartVersion(%q) != %v", v, ok)
		}
	}
}
