package policy

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestCustomRules(t *testing.T) {
	for _, tc := range []struct {
		name, rule string
		change     func(t *testing.T, in *Input)
		want       string // the finding's message; "" for none
		object     string
	}{
		{"object rule holds", `
  - id: no-debug-port
    message: the debug port is open
    match: {kinds: [Deployment]}
    expr: "!object.spec.template.spec.containers.exists(c, has(c.ports) && c.ports.exists(p, p.containerPort == 5005))"`,
			nil, "", ""},
		{"object rule broken", `
  - id: no-debug-port
    message: the debug port is open
    match: {kinds: [Deployment]}
    expr: "!object.spec.template.spec.containers.exists(c, has(c.ports) && c.ports.exists(p, p.containerPort == 5005))"`,
			func(t *testing.T, in *Input) {
				c := container(t, in)
				c["ports"] = append(listAt(c, "ports"), map[string]any{"containerPort": 5005})
			}, "the debug port is open", "Deployment/api"},
		{"kinds filter", `
  - id: services-only
    message: not a service
    match: {kinds: [Service]}
    expr: object.kind == "Service"`,
			nil, "", ""},
		{"every object without match", `
  - id: labelled
    message: the object has no app.kubernetes.io/name label
    expr: has(object.metadata.labels) && "app.kubernetes.io/name" in object.metadata.labels`,
			nil, "the object has no app.kubernetes.io/name label", "ConfigMap/api"},
		{"image rule", `
  - id: no-debug-agent
    message: the image enables the JVM debug agent
    expr: '!("JAVA_TOOL_OPTIONS" in image.env) || !image.env.JAVA_TOOL_OPTIONS.contains("jdwp")'`,
			func(t *testing.T, in *Input) {
				in.Image.Env = append(in.Image.Env, "JAVA_TOOL_OPTIONS=-agentlib:jdwp=transport=dt_socket")
			}, "the image enables the JVM debug agent", "registry.ehealth.example/vendor/api:1.2.3@sha256:aaaa"},
		{"image rule on entrypoint and user", `
  - id: java-app
    message: not a Java app running as 10001
    expr: image.entrypoint[0] == "java" && image.user == "10001" && image.signed`,
			nil, "", ""},
		{"runtime error is a finding", `
  - id: replicas-set
    message: replicas is not three
    match: {kinds: [Deployment]}
    expr: object.spec.replicaz == 3`,
			nil, "replicas is not three (the expression failed: no such key: replicaz)", "Deployment/api"},
		{"cost limit", `
  - id: expensive
    message: too slow
    match: {kinds: [ConfigMap]}
    expr: object.data.items.all(a, object.data.items.all(b, object.data.items.all(c, a + b + c >= 0)))`,
			func(t *testing.T, in *Input) {
				items := make([]any, 300)
				for i := range items {
					items[i] = int64(i)
				}
				set(object(t, in, "ConfigMap"), items, "data", "items")
			}, "cost limit exceeded", "ConfigMap/api"},
		{"dyn result that is not a bool", `
  - id: dyn
    message: not a bool
    match: {kinds: [Deployment]}
    expr: object.spec.replicas`,
			nil, "not a bool (the expression gave 2, not true or false)", "Deployment/api"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := mustParse(t, "custom:"+tc.rule+"\n")
			cfg, in := passing(t)
			if tc.change != nil {
				tc.change(t, &in)
			}
			fs := p.Check(cfg, in, now)
			if tc.want == "" {
				if len(fs) != 0 {
					t.Fatalf("findings %+v", fs)
				}
				return
			}
			if len(fs) == 0 {
				t.Fatal("no finding")
			}
			f := fs[0]
			if !strings.Contains(f.Message, tc.want) || f.Object != tc.object || f.Category != CategoryCustom || f.Severity != Error {
				t.Errorf("finding %+v, want message %q on %s", f, tc.want, tc.object)
			}
			for _, f := range fs {
				if f.Rule == ruleSecretsByReference || f.Object == "Pod/api-test" {
					t.Errorf("the test hook was checked: %+v", f)
				}
			}
		})
	}
}

func TestCustomRuleCheckedOnlyWithItsFacts(t *testing.T) {
	p := mustParse(t, `
custom:
  - {id: on-image, message: m, expr: image.user != "0"}
  - {id: on-objects, message: m, expr: has(object.kind)}
`)
	_, in := passing(t)
	in.Objects = nil
	if got := p.Checked(in); !slices.Contains(got, "on-image") || slices.Contains(got, "on-objects") {
		t.Errorf("Checked = %v", got)
	}
	in.Image = nil
	cfg, _ := passing(t)
	if fs := p.Check(cfg, in, now); len(fs) != 0 {
		t.Errorf("findings %+v", fs)
	}
}

func TestCustomRuleSeverityFromRules(t *testing.T) {
	p := mustParse(t, `
rules:
  always-false: {severity: info}
custom:
  - {id: always-false, message: m, expr: "false", severity: error}
`)
	cfg, in := passing(t)
	fs := p.Check(cfg, in, now)
	if len(fs) != 1 || fs[0].Severity != Info || fs[0].Object != in.Image.Ref {
		t.Errorf("findings %+v", fs)
	}
}

func BenchmarkCustomRule(b *testing.B) {
	p, err := parse("p.yaml", []byte(`
custom:
  - id: no-debug-port
    message: m
    expr: "!object.spec.template.spec.containers.exists(c, has(c.ports) && c.ports.exists(p, p.containerPort == 5005))"
`))
	if err != nil {
		b.Fatal(err)
	}
	cfg, in := passing(b)
	for b.Loop() {
		if fs := p.Check(cfg, in, now); len(fs) != 0 {
			b.Fatal(fmt.Sprint(fs))
		}
	}
}
