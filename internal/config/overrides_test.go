package config_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stepper-cd/stepper/internal/config"
)

// TestBadOverrides: variables and flags get the same clean errors as the
// file, located at the variable or the flag.
func TestBadOverrides(t *testing.T) {
	sample := filepath.Join(testdata, "ehealth-helmsman.yaml")
	tests := []struct {
		name string
		mod  func(*config.Options)
		want string
	}{
		{"env wrong type", withEnv("STEPPER_REGISTRY_INSECURE=maybe"),
			`env STEPPER_REGISTRY_INSECURE: registry.insecure: "maybe" is not a boolean; write true or false`},
		{"set wrong type", withSet("registry.insecure=maybe"),
			`--config-set registry.insecure=maybe: registry.insecure: "maybe" is not a boolean; write true or false`},
		{"env enum", withEnv("STEPPER_ENVIRONMENTS_PREPROD_LAND_VIA=pr"),
			`env STEPPER_ENVIRONMENTS_PREPROD_LAND_VIA: environments[preprod].land.via: "pr" is not allowed; use one of commit, merge-request, jenkins, tag`},
		{"env unknown chain", withEnv("STEPPER_CHAIN=vendro"),
			`env STEPPER_CHAIN: chain: unknown chain "vendro"; did you mean "vendor"?; defined chains: internal, vendor`},
		{"set chain with undefined environment", withSet("chains.vendor=devenvcgi,exttest,preprd,prod"),
			`--config-set chains.vendor=devenvcgi,exttest,preprd,prod: chains.vendor[2]: environment "preprd" is not defined; did you mean "preprod"?; defined: inttest, devenvcgi, exttest, preprod, prod; define it under environments:`},
		{"set unknown key", withSet("registry.hots=x"),
			`--config-set registry.hots: registry.hots: unknown key "hots"; did you mean "host"?; known keys: host, project, insecure, credentials`},
		{"set section", withSet("registry=x"),
			`--config-set registry: registry: is a section, not a single value; set one of its keys: host, project, insecure, credentials`},
		{"set below a value", withSet("registry.host.name=x"),
			`--config-set registry.host.name: registry.host: is a single value; it has no key "name"`},
		{"set below a map value", withSet("chains.vendor.first=x"),
			`--config-set chains.vendor.first: chains.vendor: is a single value; it has no key "first"`},
		{"set without value", withSet("registry.host"),
			`--config-set registry.host: want key.path=value; like --config-set registry.host=127.0.0.1:5000`},
		{"set bad path", withSet("environments[.x=1"),
			`--config-set environments[.x: "environments[.x" is not a key path; write dotted keys, environments by name: environments.preprod.desiredState.branch`},
		{"set list of mappings", withSet("signing.publicKeys=a"),
			`--config-set signing.publicKeys=a: signing.publicKeys: is a list of mappings; set it in stepper.yaml`},
		{"set bad environment name", withSet("environments.Pre_Prod.land.via=commit"),
			`--config-set environments.Pre_Prod.land.via: environments[Pre_Prod]: "Pre_Prod" is not a valid environment name; use lower-case letters, digits and -, at most 63, like preprod`},
		{"set literal secret", withSet("gitlab.token=glpat-0123456789"),
			`--config-set gitlab.token=[MASKED]: gitlab.token: a literal secret is not allowed here; write env://NAME to read the variable NAME, or file://PATH to read a file; keep the secret itself out of configuration`},
		{"env literal secret", withEnv("STEPPER_SIGNING_PASSWORD=hunter2hunter2"),
			`env STEPPER_SIGNING_PASSWORD: signing.password: a literal secret is not allowed here; write env://NAME to read the variable NAME, or file://PATH to read a file; keep the secret itself out of configuration`},
		{"unknown profile option", withProfile("ehelth"),
			`--profile: profile: "ehelth" is not a built-in profile; did you mean "ehealth"?; built-in profiles: ehealth; leave profile empty or write none for no profile`},
		{"env bad host", withEnv("STEPPER_REGISTRY_HOST=https://registry.example"),
			`env STEPPER_REGISTRY_HOST: registry.host: "https://registry.example" has a scheme; write only host[:port], like registry.example:443; registry.insecure chooses plain HTTP`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, sample, tt.mod)
			configError(t, err)
			if err.Error() != tt.want {
				t.Errorf("\n got %s\nwant %s", err, tt.want)
			}
		})
	}
}

func TestSetFlagName(t *testing.T) {
	_, err := load(t, filepath.Join(testdata, "ehealth-helmsman.yaml"), withSet("registry.insecure=maybe"),
		func(o *config.Options) { o.SetFlag = "--config-set" })
	configError(t, err)
	if want := `--config-set registry.insecure=maybe: registry.insecure: "maybe" is not a boolean; write true or false`; err.Error() != want {
		t.Errorf("got  %s\nwant %s", err, want)
	}
	c := mustLoad(t, "", withProfile("ehealth"), func(o *config.Options) { o.SetFlag = "--config-set" })
	e, _ := c.Environment("prod")
	if err := e.Check(); err == nil || !strings.Contains(err.Error(), "--config-set environments.prod.desiredState.repo=...") {
		t.Errorf("Check = %v", err)
	}
}
