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
		{"missing key on a kind the rule names is a finding", `
  - id: replicas-set
    message: replicas is not three
    match: {kinds: [Deployment]}
    expr: object.spec.replicaz == 3`,
			nil, "replicas is not three (cannot be checked: no such key: replicaz, which the expression at policy.yaml:5 reads)", "Deployment/api"},
		{"error in the expression says where it is", `
  - id: replicas-set
    message: replicas is not three
    match: {kinds: [Deployment]}
    expr: object.spec.replicas >= "three"`,
			nil, "replicas is not three (the expression at policy.yaml:5 failed: no such overload", "Deployment/api"},
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
			nil, "not a bool (the expression at policy.yaml:5 gave 2, not true or false)", "Deployment/api"},
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

// A rule that names no kinds applies to the objects that have what it
// reads; one that names its kinds is strict about them.
func TestCustomRuleMissingKeys(t *testing.T) {
	const noKinds = `
custom:
  - id: no-debug-port
    message: the debug port is open
    expr: "!object.spec.template.spec.containers.exists(c, has(c.ports) && c.ports.exists(p, p.containerPort == 5005))"
`
	const deploymentsOnly = `
custom:
  - id: no-debug-port
    message: the debug port is open
    match: {kinds: [Deployment]}
    expr: "!object.spec.template.spec.containers.exists(c, has(c.ports) && c.ports.exists(p, p.containerPort == 5005))"
`
	configMap := Object{Object: map[string]any{"kind": "ConfigMap", "metadata": map[string]any{"name": "api"},
		"data": map[string]any{"LOG_LEVEL": "info"}}, Template: "api/templates/configmap.yaml"}
	service := Object{Object: map[string]any{"kind": "Service", "metadata": map[string]any{"name": "api"},
		"spec": map[string]any{"ports": []any{map[string]any{"port": 8080}}}}, Template: "api/templates/service.yaml"}
	deployment := func(ports ...any) Object {
		c := map[string]any{"name": "api", "image": "api:1"}
		if ports != nil {
			c["ports"] = ports
		}
		return Object{Object: map[string]any{"kind": "Deployment", "metadata": map[string]any{"name": "api"},
			"spec": map[string]any{"template": map[string]any{"spec": map[string]any{"containers": []any{c}}}}},
			Template: "api/templates/deployment.yaml"}
	}
	templateless := Object{Object: map[string]any{"kind": "Deployment", "metadata": map[string]any{"name": "api"},
		"spec": map[string]any{"replicas": 2}}, Template: "api/templates/deployment.yaml"}

	for _, tc := range []struct {
		name, policy string
		objects      []Object
		want         []string // rule|severity|object|file:line|message
	}{
		{"no kinds: holds on the Deployment, skips the others", noKinds,
			[]Object{configMap, service, deployment(map[string]any{"containerPort": 8080})}, nil},
		{"no kinds: broken on the Deployment", noKinds,
			[]Object{configMap, service, deployment(map[string]any{"containerPort": 5005})},
			[]string{"no-debug-port|error|Deployment/api|api/templates/deployment.yaml:0|the debug port is open"}},
		{"no kinds: no object has the keys", noKinds,
			[]Object{configMap, service},
			[]string{"no-debug-port|info|chart api 1.4.2|policy.yaml:5|not checked: no rendered object has what the expression reads (no such key: spec); " +
				"if the expression is right, name the kinds it is for under match.kinds"}},
		{"kinds: the others are not looked at", deploymentsOnly,
			[]Object{configMap, service, deployment()}, nil},
		{"kinds: a Deployment without a pod template", deploymentsOnly,
			[]Object{configMap, service, templateless},
			[]string{"no-debug-port|error|Deployment/api|api/templates/deployment.yaml:0|" +
				"the debug port is open (cannot be checked: no such key: template, which the expression at policy.yaml:6 reads)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := mustParse(t, tc.policy)
			cfg, in := passing(t)
			in.Objects = tc.objects
			var got []string
			for _, f := range p.Check(cfg, in, now) {
				if f.Category == CategoryCustom {
					got = append(got, fmt.Sprintf("%s|%s|%s|%s:%d|%s", f.Rule, f.Severity, f.Object, f.File, f.Line, f.Message))
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("findings\n got: %q\nwant: %q", got, tc.want)
			}
		})
	}
}

// cel-go says a key is missing only in words; isMissingKey depends on them.
func TestMissingKeyIsRecognised(t *testing.T) {
	c := &customRule{}
	if issue := compileRule(c, "object.spec.replicas >= 2"); issue != nil {
		t.Fatal(issue.message)
	}
	_, _, err := c.program.Eval(map[string]any{"object": map[string]any{"kind": "ConfigMap"}, "image": map[string]any{}})
	if err == nil || !isMissingKey(err) {
		t.Errorf("isMissingKey(%v) = false, want true", err)
	}
	_, _, err = c.program.Eval(map[string]any{"object": map[string]any{"spec": map[string]any{"replicas": "two"}}, "image": map[string]any{}})
	if err == nil || isMissingKey(err) {
		t.Errorf("isMissingKey(%v) = true, want false for a type error", err)
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
