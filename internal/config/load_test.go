package config_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stepper-cd/stepper/internal/config"
	"github.com/stepper-cd/stepper/internal/exit"
)

func names(envs []*config.Environment) []string {
	var out []string
	for _, e := range envs {
		out = append(out, e.Name)
	}
	return out
}

// TestSamples loads every sample under testdata/config and checks that
// each is complete for every environment of its chain.
func TestSamples(t *testing.T) {
	tests := []struct {
		file   string
		chain  []string
		format config.StateFormat
	}{
		{"ehealth-helmsman.yaml", []string{"devenvcgi", "exttest", "preprod", "prod"}, config.Helmsman},
		{"shop-flux.yaml", []string{"staging", "production"}, config.Flux},
		{"gov-helmfile.yaml", []string{"dev", "qa", "prod"}, config.Helmfile},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			c := mustLoad(t, filepath.Join(testdata, tt.file))
			if got := names(c.Chain()); !slices.Equal(got, tt.chain) {
				t.Errorf("chain = %v, want %v", got, tt.chain)
			}
			for _, e := range c.Chain() {
				if e.DesiredState.Format != tt.format {
					t.Errorf("%s: format %q, want %q", e.Name, e.DesiredState.Format, tt.format)
				}
				if err := e.Check(); err != nil {
					t.Errorf("%s: Check: %v", e.Name, err)
				}
			}
			if w := c.Warnings(); len(w) > 0 {
				t.Errorf("warnings: %q", w)
			}
		})
	}
}

func TestEHealthSample(t *testing.T) {
	c := mustLoad(t, filepath.Join(testdata, "ehealth-helmsman.yaml"))
	preprod, err := c.Environment("preprod")
	if err != nil {
		t.Fatal(err)
	}
	want := config.Land{Via: config.ViaMergeRequest, SourceBranch: "master", TargetBranch: "prod"}
	if !equalLand(preprod.Land, want) || preprod.DesiredState.Branch != "prod" {
		t.Errorf("preprod = %+v, want land %+v on branch prod", preprod, want)
	}
	// The anchor and merge key in the sample share the repository.
	if preprod.DesiredState.Repo != "https://gitlab.ehealth.example/vendor-x/desired-state.git" || preprod.DesiredState.Path != "preprod/dsf.yaml" {
		t.Errorf("preprod desired state = %+v", preprod.DesiredState)
	}
	prod, _ := c.Environment("prod")
	if prod.Land.Via != config.ViaJenkins || prod.Land.Job != "platform/promote-prod" || prod.Land.Parameters["ENVIRONMENT"] != "prod" {
		t.Errorf("prod land = %+v", prod.Land)
	}
	if c.Registry.Host != "registry.admin.ehealth.sundhed.dk" || c.Registry.Project != "vendor-x" {
		t.Errorf("registry = %+v", c.Registry)
	}
	// Relative paths in a file are anchored at its directory.
	abs, _ := filepath.Abs(filepath.Join(testdata, "keys", "ehealth-2026.pub"))
	if got := string(c.Signing.PublicKeys[0].Path); got != abs {
		t.Errorf("public key path = %q, want %q", got, abs)
	}
}

func equalLand(a, b config.Land) bool {
	return a.Via == b.Via && a.SourceBranch == b.SourceBranch && a.TargetBranch == b.TargetBranch && a.Job == b.Job
}

func TestEHealthProfile(t *testing.T) {
	c := mustLoad(t, "", withProfile("ehealth"))
	if c.ChainName != "internal" || !slices.Equal(names(c.Chain()), []string{"inttest", "exttest", "preprod", "prod"}) {
		t.Errorf("chain %s = %v", c.ChainName, names(c.Chain()))
	}
	if !slices.Equal(c.Chains["vendor"], []string{"devenvcgi", "exttest", "preprod", "prod"}) {
		t.Errorf("vendor chain = %v", c.Chains["vendor"])
	}
	for _, name := range []string{"exttest", "preprod", "prod"} {
		e, _ := c.Environment(name)
		if !slices.Equal(e.Promoters, []string{"group:sre"}) {
			t.Errorf("%s promoters = %v", name, e.Promoters)
		}
	}
	inttest, _ := c.Environment("inttest")
	if len(inttest.Promoters) != 0 || inttest.Land.Via != config.ViaCommit {
		t.Errorf("inttest = %+v", inttest)
	}
	if c.Signing.Format != config.SigTag {
		t.Errorf("signing.format = %q", c.Signing.Format)
	}
}

func TestChainNavigation(t *testing.T) {
	c := mustLoad(t, filepath.Join(testdata, "ehealth-helmsman.yaml"))
	tests := []struct {
		name           string
		next, previous string // "" = none
	}{
		{"devenvcgi", "exttest", ""},
		{"exttest", "preprod", "devenvcgi"},
		{"preprod", "prod", "exttest"},
		{"prod", "", "preprod"},
		{"inttest", "", ""}, // defined, but not in the vendor chain
		{"nowhere", "", ""},
	}
	for _, tt := range tests {
		next, ok := c.Next(tt.name)
		if got := envName(next, ok); got != tt.next {
			t.Errorf("Next(%s) = %q, want %q", tt.name, got, tt.next)
		}
		prev, ok := c.Previous(tt.name)
		if got := envName(prev, ok); got != tt.previous {
			t.Errorf("Previous(%s) = %q, want %q", tt.name, got, tt.previous)
		}
	}
}

func envName(e *config.Environment, ok bool) string {
	if !ok {
		return ""
	}
	return e.Name
}

func TestEnvironmentLookup(t *testing.T) {
	c := mustLoad(t, filepath.Join(testdata, "ehealth-helmsman.yaml"))
	if e, err := c.Environment("EXTTEST"); err != nil || e.Name != "exttest" {
		t.Errorf("Environment(EXTTEST) = %v, %v", e, err)
	}
	tests := []struct{ name, want string }{
		{"exttst", `unknown environment "exttst"; the vendor chain is devenvcgi → exttest → preprod → prod; did you mean "exttest"?`},
		{"qa", `unknown environment "qa"; the vendor chain is devenvcgi → exttest → preprod → prod`},
		{"inttest", `environment "inttest" is not in the selected chain; the vendor chain is devenvcgi → exttest → preprod → prod; choose another chain with chain: in stepper.yaml, STEPPER_CHAIN or --config-set chain=NAME`},
	}
	for _, tt := range tests {
		_, err := c.Environment(tt.name)
		configError(t, err)
		if err.Error() != tt.want {
			t.Errorf("Environment(%s):\n got %s\nwant %s", tt.name, err, tt.want)
		}
	}
}

// TestCheckNamesEveryGap: the profile alone cannot know a repository, so
// Load accepts it, and Check names each missing key with its three forms.
func TestCheckNamesEveryGap(t *testing.T) {
	c := mustLoad(t, "", withProfile("ehealth"))
	preprod, _ := c.Environment("preprod")
	err := preprod.Check()
	configError(t, err)
	msg := err.Error()
	for _, want := range []string{
		"environments[preprod].desiredState.repo: is not set; add it to stepper.yaml, or set STEPPER_ENVIRONMENTS_PREPROD_DESIRED_STATE_REPO or --config-set environments.preprod.desiredState.repo=...",
		"environments[preprod].desiredState.path: is not set",
		"gitlab.url: is not set",
		"gitlab.token: is not set",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("Check() = %q\nwant it to contain %q", msg, want)
		}
	}
	if strings.Contains(msg, "desiredState.branch") {
		t.Errorf("branch comes from the profile, but Check reports it: %s", msg)
	}
	prod, _ := c.Environment("prod")
	if err := prod.Check(); err == nil || !strings.Contains(err.Error(), "jenkins.url: is not set") {
		t.Errorf("prod Check() = %v, want jenkins.url missing", err)
	}
}

func TestRequire(t *testing.T) {
	c := mustLoad(t, filepath.Join(testdata, "shop-flux.yaml"))
	if err := c.Require("registry.host", "signing.key", "environments.staging.desiredState.repo", "chains.release"); err != nil {
		t.Errorf("Require: %v", err)
	}
	err := c.Require("validate.policy", "jenkins.url", "environments[production].land.parameters.TICKET")
	configError(t, err)
	for _, want := range []string{"validate.policy: is not set", "jenkins.url: is not set", "environments[production].land.parameters.TICKET: is not set"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Require = %q, want %q in it", err, want)
		}
	}
	if err := c.Require("environments.nope.desiredState.repo"); err == nil || !strings.Contains(err.Error(), `no environment "nope"`) {
		t.Errorf("Require(unknown environment) = %v", err)
	}
	if err := c.Require("registry.hots"); err == nil || !strings.Contains(err.Error(), `did you mean "host"`) {
		t.Errorf("Require(typo) = %v", err)
	}
}

func TestNoFile(t *testing.T) {
	t.Run("default path missing means defaults", func(t *testing.T) {
		c, err := config.Load(context.Background(), config.Options{Path: filepath.Join(t.TempDir(), "stepper.yaml")})
		if err != nil {
			t.Fatal(err)
		}
		if c.File() != "" || len(c.Chain()) != 0 || c.Signing.Format != config.SigTag {
			t.Errorf("got file %q, chain %v, format %q", c.File(), names(c.Chain()), c.Signing.Format)
		}
		_, err = c.Environment("prod")
		if err == nil || !strings.Contains(err.Error(), "no environments are defined") {
			t.Errorf("Environment on an empty config = %v", err)
		}
	})
	t.Run("explicit path missing is an error", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "nope.yaml")
		_, err := load(t, p)
		if ce := configError(t, err); ce.File != p || !strings.Contains(ce.Problem, "does not exist") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("a directory", func(t *testing.T) {
		_, err := load(t, t.TempDir())
		if ce := configError(t, err); !strings.Contains(ce.Problem, "directory") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("unreadable", func(t *testing.T) {
		if os.Getuid() == 0 {
			t.Skip("root reads anything")
		}
		p := writeConfig(t, "profile: ehealth\n")
		os.Chmod(p, 0)
		_, err := load(t, p)
		if ce := configError(t, err); !strings.Contains(ce.Problem, "permission denied") {
			t.Errorf("got %v", err)
		}
	})
}

func TestImplicitChain(t *testing.T) {
	c := mustLoad(t, writeConfig(t, "environments:\n  - name: b\n  - name: a\n  - name: c\n"))
	if got := names(c.Chain()); !slices.Equal(got, []string{"b", "a", "c"}) {
		t.Errorf("chain = %v, want the listed order", got)
	}
	c = mustLoad(t, writeConfig(t, "chains: {only: [a]}\nenvironments:\n  - name: a\n"))
	if c.ChainName != "only" || c.Source("chain") != "default" {
		t.Errorf("the only chain was not selected: %q from %q", c.ChainName, c.Source("chain"))
	}
}

func TestCancelledBeforeRead(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := config.Load(ctx, config.Options{Path: filepath.Join(testdata, "shop-flux.yaml"), PathExplicit: true})
	if !errors.Is(err, context.Canceled) || exit.ClassOf(err) != exit.Interrupted {
		t.Errorf("got %v (class %v)", err, exit.ClassOf(err))
	}
}

func TestCheckOnHandBuiltEnvironment(t *testing.T) {
	e := &config.Environment{Name: "dev", DesiredState: config.DesiredState{Repo: "/srv/dsf.git", Branch: "main", Path: "dsf.yaml", Format: config.Helmfile}}
	if err := e.Check(); err != nil {
		t.Errorf("Check: %v", err)
	}
	e.Land.Via = config.ViaJenkins
	if err := e.Check(); err == nil || !strings.Contains(err.Error(), "environments[dev].land.job: is not set") {
		t.Errorf("Check = %v", err)
	}
}
