package config_test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stepper-cd/stepper/internal/config"
)

const layered = `profile: ehealth
registry:
  project: vendor-x
environments:
  - name: preprod
    desiredState:
      repo: https://gitlab.example/x/dsf.git
      path: preprod/dsf.yaml
  - name: pre-live
    desiredState: {format: helmfile}
`

// TestLayerOrder: profile < file < STEPPER_* < --set, with the source of
// each value recorded.
func TestLayerOrder(t *testing.T) {
	file := writeConfig(t, layered)
	c := mustLoad(t, file,
		withEnv("STEPPER_REGISTRY_PROJECT=from-env", "STEPPER_REGISTRY_INSECURE=true", "STEPPER_GITLAB_URL=https://gitlab.example"),
		withSet("registry.project=from-set"))
	tests := []struct{ key, value, source string }{
		{"gitlab.url", c.GitLab.URL, "env STEPPER_GITLAB_URL"},
		{"registry.host", c.Registry.Host, "profile ehealth"},
		{"registry.project", c.Registry.Project, "--config-set registry.project=from-set"},
		{"registry.insecure", boolText(c.Registry.Insecure), "env STEPPER_REGISTRY_INSECURE"},
		{"environments.preprod.desiredState.repo", mustEnv(t, c, "preprod").DesiredState.Repo, file + ":7"},
		{"environments[preprod].desiredState.branch", mustEnv(t, c, "preprod").DesiredState.Branch, "profile ehealth"},
		{"signing.format", string(c.Signing.Format), "profile ehealth"},
		{"environments.pre-live.land.via", string(mustEnv(t, c, "pre-live").Land.Via), "default"},
		{"profile", c.Profile, file + ":1"},
	}
	wantValues := map[string]string{
		"gitlab.url": "https://gitlab.example", "registry.host": "registry.admin.ehealth.sundhed.dk", "registry.project": "from-set", "registry.insecure": "true",
		"environments.preprod.desiredState.repo":    "https://gitlab.example/x/dsf.git",
		"environments[preprod].desiredState.branch": "prod", "signing.format": "sig-tag",
		"environments.pre-live.land.via": "commit", "profile": "ehealth",
	}
	for _, tt := range tests {
		if tt.value != wantValues[tt.key] {
			t.Errorf("%s = %q, want %q", tt.key, tt.value, wantValues[tt.key])
		}
		if got := c.Source(tt.key); got != tt.source {
			t.Errorf("Source(%s) = %q, want %q", tt.key, got, tt.source)
		}
	}
	// The chains are the profile's.
	if got := names(c.Chain()); !slices.Equal(got, []string{"inttest", "exttest", "preprod", "prod"}) {
		t.Errorf("chain = %v", got)
	}
	if len(c.Chains["vendor"]) != 4 {
		t.Errorf("the profile's vendor chain was lost: %v", c.Chains)
	}
	// pre-live is added after the profile's environments.
	if got := names(c.Environments); got[len(got)-1] != "pre-live" {
		t.Errorf("environments = %v", got)
	}
}

func boolText(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func mustEnv(t *testing.T, c *config.Config, name string) *config.Environment {
	t.Helper()
	for _, e := range c.Environments {
		if e.Name == name {
			return e
		}
	}
	t.Fatalf("no environment %s", name)
	return nil
}

// unlocked is the layered configuration written out in full, with no
// profile: no platform, so every key is the file's and the variables' and
// flags' mechanics can be seen on every key.
func unlocked(t *testing.T) string {
	t.Helper()
	return writeConfig(t, `chain: internal
chains:
  internal: [inttest, exttest, preprod, pre-live, prod]
  vendor: [devenvcgi, exttest, preprod, prod]
registry: {host: registry.admin.ehealth.sundhed.dk, project: vendor-x}
environments:
  - {name: inttest, desiredState: {branch: master, format: helmsman}, land: {via: commit}}
  - {name: devenvcgi, desiredState: {branch: master, format: helmsman}, land: {via: commit}}
  - {name: exttest, desiredState: {branch: master, format: helmsman}, land: {via: commit}}
  - name: preprod
    desiredState: {repo: https://gitlab.example/x/dsf.git, path: preprod/dsf.yaml, branch: prod, format: helmsman}
    land: {via: merge-request, sourceBranch: master, targetBranch: prod}
  - name: prod
    desiredState: {branch: prod, format: helmsman}
    land: {via: jenkins, job: ehealth-promote-prod, parameters: {ENVIRONMENT: prod}}
  - name: pre-live
    desiredState: {format: helmfile}
`)
}

func TestEnvironmentVariables(t *testing.T) {
	file := unlocked(t)
	c := mustLoad(t, file, withEnv(
		"STEPPER_ENVIRONMENTS_PREPROD_DESIRED_STATE_BRANCH=release",
		"STEPPER_ENVIRONMENTS_PRE_LIVE_DESIRED_STATE_FORMAT=flux", // pre-live: - is written _
		"STEPPER_ENVIRONMENTS_PROD_LAND_PARAMETERS_TICKET=CHG-1",  // adds a map entry
		"STEPPER_ENVIRONMENTS_PROD_LAND_PARAMETERS_ENVIRONMENT=production",
		"STEPPER_CHAINS_VENDOR=devenvcgi, exttest,prod", // a list, comma-separated
		"STEPPER_CHAIN=vendor",
		"STEPPER_BASE_IMAGES=registry.example/base/java,registry.example/base/go",
		"STEPPER_REGISTRY_CREDENTIALS_DOCKER_CONFIG=~/.docker/config.json",
		"STEPPER_LOG_LEVEL=debug",      // a CLI flag's variable: ignored
		"STEPPER_REGISTRY_PROJECT=",    // empty: unset
		"STEPPER_BUILD_NUMBER=17",      // not ours: a warning
		"STEPPER_REGISTRY_HOTS=x:5000", // a typo: a warning with a suggestion
		"OTHER_VAR=1",
	), func(o *config.Options) { o.IgnoreEnv = []string{"STEPPER_LOG_LEVEL", "STEPPER_CONFIG"} })

	if got := mustEnv(t, c, "preprod").DesiredState.Branch; got != "release" {
		t.Errorf("preprod branch = %q", got)
	}
	if got := mustEnv(t, c, "pre-live").DesiredState.Format; got != config.Flux {
		t.Errorf("pre-live format = %q", got)
	}
	if p := mustEnv(t, c, "prod").Land.Parameters; p["TICKET"] != "CHG-1" || p["ENVIRONMENT"] != "production" {
		t.Errorf("prod parameters = %v", p)
	}
	if got := names(c.Chain()); c.ChainName != "vendor" || !slices.Equal(got, []string{"devenvcgi", "exttest", "prod"}) {
		t.Errorf("chain %s = %v", c.ChainName, got)
	}
	if len(c.BaseImages) != 2 || c.Registry.Credentials.DockerConfig != "~/.docker/config.json" {
		t.Errorf("baseImages %v, dockerConfig %q", c.BaseImages, c.Registry.Credentials.DockerConfig)
	}
	if c.Registry.Project != "vendor-x" {
		t.Errorf("an empty variable erased registry.project: %q", c.Registry.Project)
	}
	w := strings.Join(c.Warnings(), "\n")
	for _, want := range []string{
		"STEPPER_BUILD_NUMBER is not a configuration key and is ignored",
		`STEPPER_REGISTRY_HOTS is not a configuration key and is ignored; did you mean "STEPPER_REGISTRY_HOST"?`,
	} {
		if !strings.Contains(w, want) {
			t.Errorf("warnings %q lack %q", w, want)
		}
	}
	if strings.Contains(w, "LOG_LEVEL") {
		t.Errorf("an ignored variable was warned about: %q", w)
	}
}

func TestSetFlags(t *testing.T) {
	file := unlocked(t)
	c := mustLoad(t, file, withSet(
		"environments[preprod].land.via=commit", // the form errors print
		"environments.qa.desiredState.format=flux",
		"chains.internal=inttest,qa,prod",
		"registry.host=127.0.0.1:5000",
		"registry.host=127.0.0.1:5001",
		"signing.revokedKeys=",
	))
	if got := mustEnv(t, c, "preprod").Land.Via; got != config.ViaCommit {
		t.Errorf("preprod land.via = %q", got)
	}
	if got := mustEnv(t, c, "qa").DesiredState.Format; got != config.Flux {
		t.Errorf("qa was not added: %q", got)
	}
	if got := names(c.Chain()); !slices.Equal(got, []string{"inttest", "qa", "prod"}) {
		t.Errorf("chain = %v", got)
	}
	if c.Registry.Host != "127.0.0.1:5001" || c.Source("registry.host") != "--config-set registry.host=127.0.0.1:5001" {
		t.Errorf("registry.host = %q from %q", c.Registry.Host, c.Source("registry.host"))
	}
	if c.Signing.RevokedKeys == nil || len(c.Signing.RevokedKeys) != 0 {
		t.Errorf("revokedKeys = %#v, want an empty list", c.Signing.RevokedKeys)
	}
}

func TestProfileSelection(t *testing.T) {
	file := writeConfig(t, "profile: ehealth\nenvironments:\n  - name: solo\n")
	tests := []struct {
		name    string
		mods    []func(*config.Options)
		profile string
		source  string
	}{
		{"file", nil, "ehealth", file + ":1"},
		{"option none", []func(*config.Options){withProfile("none")}, "", ""},
		{"option", []func(*config.Options){withProfile("ehealth"), withEnv("STEPPER_PROFILE=none")}, "ehealth", "--profile"},
		{"set beats env", []func(*config.Options){withEnv("STEPPER_PROFILE=ehealth"), withSet("profile=none")}, "", ""},
		{"env", []func(*config.Options){withEnv("STEPPER_PROFILE=none")}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustLoad(t, file, tt.mods...)
			if c.Profile != tt.profile || c.Source("profile") != tt.source {
				t.Errorf("profile %q from %q, want %q from %q", c.Profile, c.Source("profile"), tt.profile, tt.source)
			}
			_, hasProfileEnv := c.Chains["vendor"]
			if hasProfileEnv != (tt.profile != "") {
				t.Errorf("profile chains present = %v", hasProfileEnv)
			}
		})
	}
}

func TestNullKeepsLowerLayer(t *testing.T) {
	c := mustLoad(t, writeConfig(t, "profile: ehealth\nregistry:\n  host:\n"))
	if c.Registry.Host != "registry.admin.ehealth.sundhed.dk" {
		t.Errorf("host: with no value erased the profile's host: %q", c.Registry.Host)
	}
	c = mustLoad(t, writeConfig(t, "smokeTest:\n  healthPaths: [/healthz]\n"), withSet("smokeTest.healthPaths="))
	if p := c.SmokeTest.HealthPaths; p == nil || len(p) != 0 {
		t.Errorf("an empty list did not empty the list: %#v", p)
	}
}

func TestRelativePathsFromEnvStayRelative(t *testing.T) {
	c := mustLoad(t, filepath.Join(testdata, "shop-flux.yaml"),
		withSet("signing.password=file://secrets/pw", "registry.credentials.dockerConfig=docker.json"))
	if c.Signing.Password != "file://secrets/pw" || c.Registry.Credentials.DockerConfig != "docker.json" {
		t.Errorf("got %q and %q, want paths relative to the working directory", c.Signing.Password, c.Registry.Credentials.DockerConfig)
	}
}

// The values section layers like every other: the file sets the chart's
// keys, a variable adds per-environment patterns, a flag overrides one key.
func TestValuesKeys(t *testing.T) {
	file := writeConfig(t, `
values:
  imageTag: app.image.tag
  secretRefs: ["*.existingSecret"]
`)
	c := mustLoad(t, file,
		withEnv("STEPPER_VALUES_PER_ENVIRONMENT=config.featureFlags.*,ingress.annotations.*"),
		func(o *config.Options) { o.Sets = []string{"values.imageRepository=app.image.repository"} })
	v := c.Values
	if v.ImageTag != "app.image.tag" || v.ImageRepository != "app.image.repository" || v.ImageDigest != "" {
		t.Errorf("image keys = %+v", v)
	}
	if len(v.PerEnvironment) != 2 || v.PerEnvironment[0] != "config.featureFlags.*" || len(v.SecretRefs) != 1 {
		t.Errorf("patterns = %+v", v)
	}
	if got := c.Source("values.imageRepository"); !strings.HasPrefix(got, "--config-set") {
		t.Errorf("source of values.imageRepository = %q", got)
	}
}
