package policy

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestPassingInputHasNoFindings(t *testing.T) {
	cfg, in := passing(t)
	var p *Policy
	if fs := p.Check(cfg, in, now); len(fs) != 0 {
		for _, f := range fs {
			t.Errorf("%s %s: %s", f.Rule, f.Object, f.Message)
		}
	}
	if got, want := len(p.Checked(in)), len(builtin); got != want {
		t.Errorf("Checked lists %d rules, want all %d", got, want)
	}
}

type breakCase struct {
	rule, name string
	change     func(t *testing.T, cfg *Config, in *Input)
	message    string // a part of the message
}

// breaks is, for every built-in rule, inputs that break that rule and no
// other. Each change is made to a fresh passing input.
var breaks = []breakCase{
	{ruleRuntimeHealth, "health endpoint does not answer", func(t *testing.T, cfg *Config, in *Input) {
		in.Runtime = []RuntimeResult{{Check: "health", Message: "GET /healthz: 404 Not Found"}, {Check: "non-root-uid", Passed: true}, {Check: "sigterm", Passed: true}}
	}, "404"},
	{ruleRuntimeNonRoot, "process runs as root", func(t *testing.T, cfg *Config, in *Input) {
		in.Runtime = []RuntimeResult{{Check: "health", Passed: true}, {Check: "non-root-uid", Message: "the process runs as uid 0"}, {Check: "sigterm", Passed: true}}
	}, "uid 0"},
	{ruleRuntimeSIGTERM, "SIGTERM ignored", func(t *testing.T, cfg *Config, in *Input) {
		in.Runtime = []RuntimeResult{{Check: "health", Passed: true}, {Check: "non-root-uid", Passed: true}, {Check: "sigterm", Message: "still running 10s after SIGTERM"}}
	}, "after SIGTERM"},
	{ruleImageApprovedBase, "foreign layers, no annotation", func(t *testing.T, cfg *Config, in *Input) {
		in.Image.DiffIDs = []string{"sha256:alpine", "sha256:app"}
		in.Image.Annotations = nil
	}, "the image's 2 layers do not start with the layers of any approved base image"},
	{ruleImageApprovedBase, "annotation claims an approved base the layers do not come from", func(t *testing.T, cfg *Config, in *Input) {
		in.Image.DiffIDs = []string{"sha256:b1", "sha256:evil", "sha256:app"}
	}, "says it is built on registry.ehealth.example/base/java:21@sha256:javabase, but its layers"},
	{ruleImageApprovedBase, "only the base's first layer", func(t *testing.T, cfg *Config, in *Input) {
		in.Image.DiffIDs = []string{"sha256:b1"}
	}, "do not start"},
	{ruleImageBaseAnnotation, "annotation missing", func(t *testing.T, cfg *Config, in *Input) {
		in.Image.Annotations = nil
	}, "the layers match approved base registry.ehealth.example/base/java, but the image has no org.opencontainers.image.base.digest annotation"},
	{ruleImageBaseAnnotation, "annotation names another base", func(t *testing.T, cfg *Config, in *Input) {
		in.Image.Annotations[annotationBaseDigest] = "sha256:nodebase"
	}, "annotation says sha256:nodebase"},
	{ruleImageNonRoot, "no USER", func(t *testing.T, cfg *Config, in *Input) { in.Image.User = "" }, "sets no USER"},
	{ruleImageNonRoot, "uid 0", func(t *testing.T, cfg *Config, in *Input) { in.Image.User = "0" }, "USER 0"},
	{ruleImageNonRoot, "root", func(t *testing.T, cfg *Config, in *Input) { in.Image.User = "root" }, "USER root"},
	{ruleImageNonRoot, "0:0", func(t *testing.T, cfg *Config, in *Input) { in.Image.User = "0:0" }, "USER 0:0"},
	{ruleImageNonRoot, "root:x", func(t *testing.T, cfg *Config, in *Input) { in.Image.User = "root:x" }, "USER root:x"},
	{ruleImageSigned, "revoked key", func(t *testing.T, cfg *Config, in *Input) {
		in.Image.Signature = SignatureResult{Problem: "revoked key ehealth-2024"}
	}, "not signed by an approved key: revoked key ehealth-2024"},
	{ruleImageSigned, "unsigned", func(t *testing.T, cfg *Config, in *Input) {
		in.Image.Signature = SignatureResult{}
	}, "no signature could be verified"},
	{ruleImageApprovedRegistry, "Docker Hub", func(t *testing.T, cfg *Config, in *Input) {
		in.Image.Ref, in.Image.Registry = "docker.io/vendor/api:1.2.3@sha256:aaaa", "docker.io"
	}, "comes from docker.io, not from the approved registry registry.ehealth.example"},
	{ruleImageApprovedRegistry, "outside the approved project", func(t *testing.T, cfg *Config, in *Input) {
		cfg.ApprovedRegistry = "registry.ehealth.example/other"
	}, "not from the approved registry registry.ehealth.example/other"},
	{ruleImagePinned, "tag only", func(t *testing.T, cfg *Config, in *Input) {
		in.Image.Ref, in.Image.Digest = "registry.ehealth.example/vendor/api:1.2.3", ""
	}, "referenced by tag 1.2.3 only"},
	{ruleImagePinned, "tag moved since the build", func(t *testing.T, cfg *Config, in *Input) {
		in.Image.Ref, in.Image.Digest, in.Image.ExpectedDigest = "registry.ehealth.example/vendor/api:1.2.3", "", "sha256:bbbb"
	}, "tag 1.2.3 resolves to sha256:aaaa, not to sha256:bbbb"},
	{ruleImagePinned, "registry serves another digest", func(t *testing.T, cfg *Config, in *Input) {
		in.Image.ResolvedDigest = "sha256:cccc"
	}, "pins sha256:aaaa, but the registry served sha256:cccc"},
	{ruleImageNoLatest, "latest pinned by digest", func(t *testing.T, cfg *Config, in *Input) {
		in.Image.Ref, in.Image.Tag = "registry.ehealth.example/vendor/api:latest@sha256:aaaa", "latest"
	}, "tag latest"},
	{ruleImageExecForm, "shell-form ENTRYPOINT", func(t *testing.T, cfg *Config, in *Input) {
		in.Image.Entrypoint = []string{"/bin/sh", "-c", "java -jar /app/api.jar"}
	}, `"/bin/sh -c java -jar /app/api.jar"`},
	{ruleImageExecForm, "shell-form CMD", func(t *testing.T, cfg *Config, in *Input) {
		in.Image.Entrypoint, in.Image.Cmd = nil, []string{"sh", "-c", "node server.js"}
	}, "sh -c node server.js"},
	{ruleImageExecForm, "bash -ec behind tini", func(t *testing.T, cfg *Config, in *Input) {
		in.Image.Entrypoint, in.Image.Cmd = []string{"/sbin/tini", "-g", "--"}, []string{"/bin/bash", "-ec", "./start"}
	}, "/bin/bash -ec ./start"},

	{ruleChartOfficialRepo, "community repository", func(t *testing.T, cfg *Config, in *Input) {
		in.Chart.Repo = "https://charts.bitnami.com/bitnami"
	}, "comes from https://charts.bitnami.com/bitnami, which is not an official repository"},
	{ruleChartLocal, "local directory", func(t *testing.T, cfg *Config, in *Input) {
		in.Chart.Repo, in.Chart.Local = "./chart", true
	}, "local copy ./chart"},
	{ruleChartLatest, "older version", func(t *testing.T, cfg *Config, in *Input) { in.Chart.Latest = "1.5.0" },
		"the chart is version 1.4.2; the newest is 1.5.0"},
	{ruleChartRenders, "template error", func(t *testing.T, cfg *Config, in *Input) {
		in.Chart.RenderError = "template: api/templates/deployment.yaml:12: nil pointer"
	}, "does not render: template: api/templates/deployment.yaml:12"},

	{ruleWorkloadPresent, "workload switched off: a ConfigMap, a Service and a budget", func(t *testing.T, cfg *Config, in *Input) {
		in.Objects = slices.DeleteFunc(in.Objects, func(o Object) bool {
			_, workload := podTemplate[kindOf(o.Object)]
			return workload
		})
	}, "the chart renders only PodDisruptionBudget/api, Service/api, ConfigMap/api: no Deployment, StatefulSet, DaemonSet, Job, CronJob or Pod"},
	{ruleWorkloadPresent, "nothing rendered", func(t *testing.T, cfg *Config, in *Input) { in.Objects = []Object{} },
		"the chart renders nothing: no Deployment"},
	{ruleWorkloadPresent, "only a test hook Pod", func(t *testing.T, cfg *Config, in *Input) {
		in.Objects = slices.DeleteFunc(in.Objects, func(o Object) bool { return !isTestHook(o.Object) })
	}, "the chart renders only Helm test hooks"},
	{ruleReplicas, "one replica", func(t *testing.T, cfg *Config, in *Input) {
		set(object(t, in, "Deployment"), 1, "spec", "replicas")
	}, "replicas is 1; at least 2"},
	{ruleReplicas, "replicas unset", func(t *testing.T, cfg *Config, in *Input) {
		del(object(t, in, "Deployment"), "spec", "replicas")
	}, "replicas is not set"},
	{ruleReplicas, "autoscaler keeps one", func(t *testing.T, cfg *Config, in *Input) {
		in.Objects = append(in.Objects, Object{Object: yamlMap(t, `
kind: HorizontalPodAutoscaler
metadata: {name: api}
spec: {scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: api}, maxReplicas: 5}`)})
	}, "HorizontalPodAutoscaler api keeps only 1 instance(s)"},
	{ruleReplicas, "policy wants three", func(t *testing.T, cfg *Config, in *Input) { cfg.MinReplicas = 3 },
		"replicas is 2; at least 3"},
	{ruleZoneSpread, "no constraint", func(t *testing.T, cfg *Config, in *Input) {
		del(podSpec(t, in), "topologySpreadConstraints")
	}, "no topologySpreadConstraint or podAntiAffinity on topology.kubernetes.io/zone"},
	{ruleZoneSpread, "anti-affinity on hostname", func(t *testing.T, cfg *Config, in *Input) {
		spec := podSpec(t, in)
		delete(spec, "topologySpreadConstraints")
		spec["affinity"] = yamlMap(t, `
podAntiAffinity:
  requiredDuringSchedulingIgnoredDuringExecution:
    - topologyKey: kubernetes.io/hostname
      labelSelector: {matchLabels: {app.kubernetes.io/name: api}}`)
	}, "podAntiAffinity on kubernetes.io/hostname spreads over nodes"},
	{ruleDisruptionBudget, "budget selects other pods", func(t *testing.T, cfg *Config, in *Input) {
		set(object(t, in, "PodDisruptionBudget"), map[string]any{"app.kubernetes.io/name": "web"}, "spec", "selector", "matchLabels")
	}, "no PodDisruptionBudget selects its pods (labels app.kubernetes.io/instance=api,app.kubernetes.io/name=api)"},
	{ruleDisruptionBudget, "expression excludes the pods", func(t *testing.T, cfg *Config, in *Input) {
		pdb := object(t, in, "PodDisruptionBudget")
		set(pdb, []any{map[string]any{"key": "app.kubernetes.io/instance", "operator": "NotIn", "values": []any{"api"}}},
			"spec", "selector", "matchExpressions")
	}, "no PodDisruptionBudget"},
	{ruleProbes, "no liveness probe", func(t *testing.T, cfg *Config, in *Input) {
		delete(container(t, in), "livenessProbe")
	}, "container api has no livenessProbe"},
	{ruleProbes, "TCP readiness probe", func(t *testing.T, cfg *Config, in *Input) {
		container(t, in)["readinessProbe"] = map[string]any{"tcpSocket": map[string]any{"port": 8080}}
	}, "container api's readinessProbe is tcpSocket, not httpGet"},
	{ruleProbes, "probe on another path", func(t *testing.T, cfg *Config, in *Input) {
		set(container(t, in), "/ready", "readinessProbe", "httpGet", "path")
	}, "container api's readinessProbe checks /ready, not /healthz"},
	{ruleProbes, "policy health path", func(t *testing.T, cfg *Config, in *Input) { cfg.HealthPath = "/actuator/health" },
		"checks /healthz/ready, not /actuator/health"},
	{ruleResources, "no memory limit", func(t *testing.T, cfg *Config, in *Input) {
		del(container(t, in), "resources", "limits")
	}, "container api sets no limits.memory"},
	{ruleResources, "init container without requests", func(t *testing.T, cfg *Config, in *Input) {
		init := listAt(podSpec(t, in), "initContainers")[0].(map[string]any)
		del(init, "resources", "requests")
	}, "container migrate sets no requests.memory, requests.cpu"},
	{ruleRunAsNonRoot, "pod allows root", func(t *testing.T, cfg *Config, in *Input) {
		set(podSpec(t, in), false, "securityContext", "runAsNonRoot")
	}, "container api does not set runAsNonRoot: true"},
	{ruleRunAsNonRoot, "container runs as uid 0", func(t *testing.T, cfg *Config, in *Input) {
		set(container(t, in), 0, "securityContext", "runAsUser")
	}, "container api runs as runAsUser 0"},
	{ruleNoPrivilegeEscal, "escalation allowed", func(t *testing.T, cfg *Config, in *Input) {
		set(container(t, in), true, "securityContext", "allowPrivilegeEscalation")
	}, "container api does not set allowPrivilegeEscalation: false"},
	{ruleNoPrivilegeEscal, "escalation unset", func(t *testing.T, cfg *Config, in *Input) {
		del(container(t, in), "securityContext", "allowPrivilegeEscalation")
	}, "allowPrivilegeEscalation: false"},
	{ruleNoPrivilegeEscal, "privileged", func(t *testing.T, cfg *Config, in *Input) {
		set(container(t, in), true, "securityContext", "privileged")
	}, "container api is privileged"},
	{ruleStateless, "a claim", func(t *testing.T, cfg *Config, in *Input) {
		in.Objects = append(in.Objects, Object{Object: yamlMap(t, "kind: PersistentVolumeClaim\nmetadata: {name: data}\n")})
	}, "claims a persistent volume"},
	{ruleStateless, "hostPath volume", func(t *testing.T, cfg *Config, in *Input) {
		spec := podSpec(t, in)
		spec["volumes"] = append(listAt(spec, "volumes"), map[string]any{"name": "logs", "hostPath": map[string]any{"path": "/var/log"}})
	}, "volume logs mounts /var/log from the node (hostPath)"},
	{ruleStateless, "claim volume", func(t *testing.T, cfg *Config, in *Input) {
		spec := podSpec(t, in)
		spec["volumes"] = append(listAt(spec, "volumes"), map[string]any{"name": "data", "persistentVolumeClaim": map[string]any{"claimName": "data"}})
	}, "volume data mounts the persistent volume claim data"},
	{ruleNoStatefulSet, "a StatefulSet", func(t *testing.T, cfg *Config, in *Input) {
		d := object(t, in, "Deployment")
		d["kind"] = "StatefulSet"
		del(d, "spec", "strategy")
	}, "a StatefulSet"},
	{ruleGracePeriod, "unset", func(t *testing.T, cfg *Config, in *Input) {
		delete(podSpec(t, in), "terminationGracePeriodSeconds")
	}, "is not set, so Kubernetes waits 30s; the platform kills pods after 10s"},
	{ruleGracePeriod, "a minute", func(t *testing.T, cfg *Config, in *Input) {
		podSpec(t, in)["terminationGracePeriodSeconds"] = 60
	}, "terminationGracePeriodSeconds is 60"},
	{ruleRollingUpdate, "default maxUnavailable", func(t *testing.T, cfg *Config, in *Input) {
		del(object(t, in, "Deployment"), "spec", "strategy", "rollingUpdate", "maxUnavailable")
	}, "default 25%"},
	{ruleRollingUpdate, "Recreate", func(t *testing.T, cfg *Config, in *Input) {
		set(object(t, in, "Deployment"), map[string]any{"type": "Recreate"}, "spec", "strategy")
	}, "strategy Recreate"},
	{ruleRollingUpdate, "one unavailable", func(t *testing.T, cfg *Config, in *Input) {
		set(object(t, in, "Deployment"), "10%", "spec", "strategy", "rollingUpdate", "maxUnavailable")
	}, "maxUnavailable is 10%"},
	{ruleRollingUpdate, "no surge either", func(t *testing.T, cfg *Config, in *Input) {
		set(object(t, in, "Deployment"), "0%", "spec", "strategy", "rollingUpdate", "maxSurge")
	}, "cannot progress"},
	{ruleSecretsByReference, "literal password", func(t *testing.T, cfg *Config, in *Input) {
		c := container(t, in)
		c["env"] = append(listAt(c, "env"), map[string]any{"name": "dbPassword", "value": "hunter2"})
	}, "container api sets dbPassword to a literal value"},
	{ruleSecretsByReference, "token in a ConfigMap", func(t *testing.T, cfg *Config, in *Input) {
		set(object(t, in, "ConfigMap"), "s3cr3t", "data", "API_TOKEN")
	}, "the ConfigMap holds API_TOKEN as plain data"},

	{ruleStateAppPresent, "missing", func(t *testing.T, cfg *Config, in *Input) { in.State = &StateEntry{File: "exttest/dsf.yaml"} },
		"app api is not in the desired state of exttest"},
	{ruleStateImageSet, "no image", func(t *testing.T, cfg *Config, in *Input) { in.State.Image = "" }, "names no image"},
	{ruleStateChartSet, "no chart", func(t *testing.T, cfg *Config, in *Input) { in.State.Chart = "" }, "names no chart"},
	{ruleStateChartPinned, "caret range", func(t *testing.T, cfg *Config, in *Input) { in.State.ChartVersion = "^1.4" },
		`version "^1.4" is a range`},
	{ruleStateChartPinned, "no version", func(t *testing.T, cfg *Config, in *Input) { in.State.ChartVersion = "" },
		"has no version"},
	{ruleStateChartPinned, "star", func(t *testing.T, cfg *Config, in *Input) { in.State.ChartVersion = "*" }, "range"},

	{ruleDocsComponent, "no resource section", func(t *testing.T, cfg *Config, in *Input) {
		in.Chart.README = "# api\n\n## Purpose\n\nx\n\n## Dependencies\n\ny\n\n```\n# Resources\n```\n"
	}, "the README has no section on resource usage"},
	{ruleDocsComponent, "no README", func(t *testing.T, cfg *Config, in *Input) { in.Chart.README = "" },
		"the chart has no README and no annotation for purpose, service requirements, resource usage"},
}

func TestEachRuleBrokenAlone(t *testing.T) {
	for _, b := range breaks {
		t.Run(b.rule+"/"+b.name, func(t *testing.T) {
			cfg, in := passing(t)
			b.change(t, &cfg, &in)
			fs := (*Policy)(nil).Check(cfg, in, now)
			if got := ruleIDs(fs); !slices.Equal(got, []string{b.rule}) {
				for _, f := range fs {
					t.Logf("%s: %s", f.Rule, f.Message)
				}
				t.Fatalf("rules = %v, want [%s]", got, b.rule)
			}
			f := fs[0]
			if !strings.Contains(f.Message, b.message) {
				t.Errorf("message %q does not contain %q", f.Message, b.message)
			}
			r, _ := ruleByID(f.Rule)
			if f.Severity != r.Severity || f.Category != r.Category || f.Fix != r.Fix || f.Link != r.Link {
				t.Errorf("finding %+v does not carry the rule's severity, category, fix and link", f)
			}
			if f.Env != "exttest" || f.App != "api" || f.Object == "" {
				t.Errorf("finding does not say where: %+v", f)
			}
		})
	}
}

func TestEveryRuleHasABreakingCase(t *testing.T) {
	for _, r := range Rules() {
		if !slices.ContainsFunc(breaks, func(b breakCase) bool { return b.rule == r.ID }) {
			t.Errorf("rule %s has no case in breaks", r.ID)
		}
	}
}

func TestRuleList(t *testing.T) {
	kebab := regexp.MustCompile(`^[a-z]+(-[a-z]+)+$`)
	seen := map[string]bool{}
	for _, r := range Rules() {
		if !kebab.MatchString(r.ID) || seen[r.ID] {
			t.Errorf("rule id %q is not kebab-case or not unique", r.ID)
		}
		seen[r.ID] = true
		if !strings.HasPrefix(r.ID, prefixOf(r.Category)) {
			t.Errorf("rule %s: id does not start with its category %s", r.ID, r.Category)
		}
		if r.Title == "" || r.Fix == "" || r.Link != linkPrefix+r.ID || r.Severity == Off || r.Severity == "" {
			t.Errorf("rule %s is incomplete: %+v", r.ID, r)
		}
	}
}

func prefixOf(c Category) string {
	return map[Category]string{CategoryImage: "image-", CategoryChart: "chart-", CategoryManifest: "manifest-",
		CategoryDesiredState: "state-", CategoryDocs: "docs-", CategoryRuntime: "runtime-"}[c]
}

func ruleByID(id string) (Rule, bool) {
	for _, r := range Rules() {
		if r.ID == id {
			return r, true
		}
	}
	return Rule{}, false
}

// Under a platform (a profile or a platform file), a platform rule whose
// input the platform left out is broken, never "not checked": without
// baseImages, an image cannot be shown to be built on an approved base.
func TestPlatformRuleWithoutInputIsBroken(t *testing.T) {
	in := Input{App: "api", Image: &Image{Ref: "r.example/v/api@sha256:" + strings.Repeat("a", 64), User: "65532", Signature: SignatureResult{Verified: true}}}
	for _, platform := range []bool{false, true} {
		var base *Finding
		for _, f := range checkImage(Config{PlatformRules: platform}, in) {
			if f.Rule == ruleImageApprovedBase {
				base = &f
			}
		}
		switch {
		case base == nil:
			t.Errorf("platform=%v: no %s finding", platform, ruleImageApprovedBase)
		case platform && (base.Severity == Info || !strings.Contains(base.Message, "platform names no approved base images")):
			t.Errorf("platform: %+v, want a broken rule", *base)
		case !platform && base.Severity != Info:
			t.Errorf("no platform: %+v, want not checked", *base)
		}
	}
}
