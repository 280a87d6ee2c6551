package policy

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestUnconfiguredRulesAreNotChecked(t *testing.T) {
	_, in := passing(t)
	in.Chart.Latest = ""
	fs := (*Policy)(nil).Check(Config{}, in, now)
	want := []string{ruleImageApprovedBase, ruleImageApprovedRegistry, ruleChartOfficialRepo, ruleChartLatest}
	if got := ruleIDs(fs); !slices.Equal(got, want) {
		t.Fatalf("rules = %v, want %v", got, want)
	}
	for _, f := range fs {
		if f.Severity != Info || !strings.HasPrefix(f.Message, "not checked: ") {
			t.Errorf("%s: %s %q", f.Rule, f.Severity, f.Message)
		}
	}
	if (&Report{Findings: fs}).Failed() {
		t.Error("rules that were not checked failed the report")
	}
}

func TestCheckIsSortedAndDeterministic(t *testing.T) {
	cfg, in := passing(t)
	in.Image.User = "root"
	in.State.ChartVersion = "~1"
	spec := podSpec(t, &in)
	delete(spec, "terminationGracePeriodSeconds")
	in.Objects = append(in.Objects,
		Object{Object: yamlMap(t, "kind: PersistentVolumeClaim\nmetadata: {name: b}\n")},
		Object{Object: yamlMap(t, "kind: PersistentVolumeClaim\nmetadata: {name: a}\n")})
	first := (*Policy)(nil).Check(cfg, in, now)
	want := []string{ruleImageNonRoot, ruleStateless, ruleStateless, ruleGracePeriod, ruleStateChartPinned}
	if got := ruleIDs(first); !slices.Equal(got, want) {
		t.Fatalf("rules = %v, want %v", got, want)
	}
	if first[1].Object != "PersistentVolumeClaim/a" || first[2].Object != "PersistentVolumeClaim/b" {
		t.Errorf("objects not in order: %s, %s", first[1].Object, first[2].Object)
	}
	slices.Reverse(in.Objects)
	if again := (*Policy)(nil).Check(cfg, in, now); !slices.EqualFunc(first, again, func(a, b Finding) bool {
		return a.Rule == b.Rule && a.Object == b.Object && a.Message == b.Message
	}) {
		t.Error("findings depend on the order of the objects")
	}
}

func TestFindingsLocate(t *testing.T) {
	cfg, in := passing(t)
	in.State.ChartVersion = ""
	delete(podSpec(t, &in), "terminationGracePeriodSeconds")
	fs := (*Policy)(nil).Check(cfg, in, now)
	if len(fs) != 2 {
		t.Fatalf("findings %+v", fs)
	}
	if f := fs[0]; f.File != "api/templates/deployment.yaml" || f.Object != "Deployment/api" {
		t.Errorf("manifest finding at %s %s", f.File, f.Object)
	}
	if f := fs[1]; f.File != "exttest/dsf.yaml" || f.Line != 12 || f.Object != "desired state exttest/api" {
		t.Errorf("state finding at %s:%d %s", f.File, f.Line, f.Object)
	}
}

func TestPartsOfTheInput(t *testing.T) {
	cfg, in := passing(t)
	only := func(in Input) []string { return (*Policy)(nil).Checked(in) }
	imageOnly := Input{App: "api", Image: in.Image}
	for _, id := range only(imageOnly) {
		if !strings.HasPrefix(id, "image-") {
			t.Errorf("image-only input checks %s", id)
		}
	}
	if fs := (*Policy)(nil).Check(cfg, imageOnly, now); len(fs) != 0 {
		t.Errorf("findings %+v", fs)
	}
	if got := only(Input{}); len(got) != 0 {
		t.Errorf("an empty input checks %v", got)
	}
	// A missing app is the only desired-state finding: the rest of its
	// entry does not exist.
	fs := (*Policy)(nil).Check(cfg, Input{Env: "prod", App: "api", State: &StateEntry{}}, now)
	if got := ruleIDs(fs); !slices.Equal(got, []string{ruleStateAppPresent}) {
		t.Errorf("rules = %v", got)
	}
	problem := `no app "api" in the desired state of prod (did you mean "api-v2"?)`
	fs = (*Policy)(nil).Check(cfg, Input{Env: "prod", App: "api", State: &StateEntry{Problem: problem}}, now)
	if len(fs) != 1 || fs[0].Message != problem {
		t.Errorf("findings %+v", fs)
	}
}

// TestWorkloadKinds checks which rules each kind of workload is held to.
func TestWorkloadKinds(t *testing.T) {
	pod := `
      terminationGracePeriodSeconds: 5
      securityContext: {runAsNonRoot: true}
      containers:
        - name: c
          resources: {requests: {memory: 1Mi, cpu: 1m}, limits: {memory: 1Mi}}
          securityContext: {allowPrivilegeEscalation: false}`
	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{
		{"DaemonSet needs probes but not replicas or spread", `
kind: DaemonSet
metadata: {name: agent}
spec:
  template:
    spec:` + pod, []string{ruleProbes}},
		{"Job needs neither probes nor replicas", `
kind: Job
metadata: {name: migrate}
spec:
  template:
    spec:` + pod, nil},
		{"CronJob pod template is found", `
kind: CronJob
metadata: {name: nightly}
spec:
  jobTemplate:
    spec:
      template:
        spec:
          containers: [{name: c}]`, []string{ruleResources, ruleRunAsNonRoot, ruleNoPrivilegeEscal, ruleGracePeriod}},
		{"bare Pod is one instance", `
kind: Pod
metadata: {name: single}
spec:` + strings.ReplaceAll(pod, "\n  ", "\n"), []string{ruleReplicas, ruleProbes}},
		{"ReplicaSet is held to replicas, spread and budget", `
kind: ReplicaSet
metadata: {name: rs}
spec:
  replicas: 2
  template:
    spec:` + pod, []string{ruleZoneSpread, ruleDisruptionBudget, ruleProbes}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _ := passing(t)
			in := Input{App: "x", Objects: []Object{{Object: yamlMap(t, tc.yaml)}}}
			fs := (*Policy)(nil).Check(cfg, in, now)
			if got := ruleIDs(fs); !slices.Equal(got, tc.want) {
				for _, f := range fs {
					t.Logf("%s: %s", f.Rule, f.Message)
				}
				t.Errorf("rules = %v, want %v", got, tc.want)
			}
		})
	}
}

// A render without a workload names the chart and what it rendered, and
// cuts a long list short.
func TestWorkloadPresentSaysWhatRendered(t *testing.T) {
	var configMaps []Object
	for i := range 10 {
		configMaps = append(configMaps, Object{Object: map[string]any{"kind": "ConfigMap", "metadata": map[string]any{"name": fmt.Sprint("c", i)}}})
	}
	for _, tc := range []struct {
		name    string
		chart   *Chart
		objects []Object
		object  string
		message string
	}{
		{"ten ConfigMaps", &Chart{Name: "api", Version: "1.4.2"}, configMaps, "chart api 1.4.2",
			"the chart renders only ConfigMap/c0, ConfigMap/c1, ConfigMap/c2, ConfigMap/c3, ConfigMap/c4, ConfigMap/c5, ConfigMap/c6, ConfigMap/c7 and 2 more: " +
				"no Deployment, StatefulSet, DaemonSet, Job, CronJob or Pod, so the container rules had no pod to check"},
		{"manifests without chart facts", nil, configMaps[:1], "the chart",
			"the chart renders only ConfigMap/c0: no Deployment, StatefulSet, DaemonSet, Job, CronJob or Pod, so the container rules had no pod to check"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _ := passing(t)
			fs := (*Policy)(nil).Check(cfg, Input{App: "api", Chart: tc.chart, Objects: tc.objects}, now)
			fs = slices.DeleteFunc(fs, func(f Finding) bool { return f.Category != CategoryManifest })
			if len(fs) != 1 || fs[0].Rule != ruleWorkloadPresent || fs[0].Severity != Error || fs[0].Object != tc.object || fs[0].Message != tc.message {
				t.Errorf("findings %+v\nwant %s on %q: %s", fs, ruleWorkloadPresent, tc.object, tc.message)
			}
		})
	}
}

// TestPassingVariants are other ways to follow the rules.
func TestPassingVariants(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, cfg *Config, in *Input)
	}{
		{"autoscaler with two or more", func(t *testing.T, cfg *Config, in *Input) {
			set(object(t, in, "Deployment"), 1, "spec", "replicas")
			in.Objects = append(in.Objects, Object{Object: yamlMap(t, `
kind: HorizontalPodAutoscaler
metadata: {name: api}
spec: {scaleTargetRef: {kind: Deployment, name: api}, minReplicas: 3, maxReplicas: 6}`)})
		}},
		{"zone anti-affinity", func(t *testing.T, cfg *Config, in *Input) {
			spec := podSpec(t, in)
			delete(spec, "topologySpreadConstraints")
			spec["affinity"] = yamlMap(t, `
podAntiAffinity:
  preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      podAffinityTerm: {topologyKey: topology.kubernetes.io/zone}`)
		}},
		{"shell that execs the application", func(t *testing.T, cfg *Config, in *Input) {
			in.Image.Entrypoint = []string{"/bin/sh", "-c", "exec java -jar /app/api.jar"}
		}},
		{"tini in exec form", func(t *testing.T, cfg *Config, in *Input) {
			in.Image.Entrypoint = []string{"/sbin/tini", "--", "java", "-jar", "/app/api.jar"}
		}},
		{"non-root user in the root group", func(t *testing.T, cfg *Config, in *Input) { in.Image.User = "1001:0" }},
		{"tag that resolves to the built digest", func(t *testing.T, cfg *Config, in *Input) {
			in.Image.Ref, in.Image.Digest, in.Image.ExpectedDigest = "registry.ehealth.example/vendor/api:1.2.3", "", "sha256:aaaa"
		}},
		{"approved registry project", func(t *testing.T, cfg *Config, in *Input) { cfg.ApprovedRegistry = "registry.ehealth.example/vendor" }},
		{"oci chart below an official project", func(t *testing.T, cfg *Config, in *Input) {
			cfg.OfficialRepos = []string{"oci://registry.ehealth.example/charts"}
			in.Chart.Repo = "oci://registry.ehealth.example/charts/api"
		}},
		{"docs in annotations", func(t *testing.T, cfg *Config, in *Input) {
			in.Chart.README = ""
			in.Chart.Annotations = map[string]string{annotationPurpose: "p", annotationRequirements: "r", annotationResources: "u"}
		}},
		{"Danish README", func(t *testing.T, cfg *Config, in *Input) {
			in.Chart.README = "Formål\n======\n\nx\n\n## Krav til drift\n\n## Ressourceforbrug\n"
		}},
		{"container-level runAsNonRoot", func(t *testing.T, cfg *Config, in *Input) {
			delete(podSpec(t, in), "securityContext")
			for _, c := range listAt(podSpec(t, in), "initContainers") {
				set(c.(map[string]any), true, "securityContext", "runAsNonRoot")
			}
			set(container(t, in), true, "securityContext", "runAsNonRoot")
		}},
		{"maxUnavailable 0%", func(t *testing.T, cfg *Config, in *Input) {
			set(object(t, in, "Deployment"), "0%", "spec", "strategy", "rollingUpdate", "maxUnavailable")
		}},
		{"empty PDB selector matches every pod", func(t *testing.T, cfg *Config, in *Input) {
			set(object(t, in, "PodDisruptionBudget"), map[string]any{}, "spec", "selector")
		}},
		{"higher grace allowed by config", func(t *testing.T, cfg *Config, in *Input) {
			cfg.MaxGracePeriod = 30
			podSpec(t, in)["terminationGracePeriodSeconds"] = 30
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, in := passing(t)
			tc.change(t, &cfg, &in)
			if fs := (*Policy)(nil).Check(cfg, in, now); len(fs) != 0 {
				for _, f := range fs {
					t.Errorf("%s: %s", f.Rule, f.Message)
				}
			}
		})
	}
}

func TestSecretName(t *testing.T) {
	for name, want := range map[string]bool{
		"DB_PASSWORD": true, "dbPassword": true, "jwt.secret": true, "API_KEY": true, "apiKey": true,
		"GITHUB_TOKEN": true, "KEYSTORE_PASSWORD": true, "AWS_SECRET_ACCESS_KEY": true, "PRIVATE_KEY": true,
		"TOKEN_URL": false, "PUBLIC_KEY": false, "KEYCLOAK_URL": false, "API_KEY_ID": false, "SECRET_FILE": false,
		"LOG_LEVEL": false, "PWD": false, "DB_USER": false, "CACHE_KEY_PREFIX": false,
	} {
		if got := secretName(name); got != want {
			t.Errorf("secretName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestShellForm(t *testing.T) {
	for _, tc := range []struct {
		argv []string
		want bool
	}{
		{[]string{"/bin/sh", "-c", "java"}, true},
		{[]string{"bash", "-xc", "java"}, true},
		{[]string{"dumb-init", "sh", "-c", "java"}, true},
		{[]string{"/bin/sh", "/start.sh"}, false},
		{[]string{"/bin/sh", "-c", "  exec java"}, false},
		{[]string{"java", "-cp", "x"}, false},
		{[]string{"sh", "--login"}, false},
		{nil, false},
	} {
		if got := shellForm(tc.argv) != ""; got != tc.want {
			t.Errorf("shellForm(%q) = %v, want %v", tc.argv, got, tc.want)
		}
	}
}
