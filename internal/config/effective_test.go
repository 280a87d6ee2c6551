package config_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stepper-cd/stepper/internal/config"
	"github.com/stepper-cd/stepper/internal/exit"
)

func effective(t *testing.T, c *config.Config, format string, opts ...config.EffectiveOption) string {
	t.Helper()
	var buf bytes.Buffer
	if err := c.WriteEffective(&buf, format, opts...); err != nil {
		t.Fatalf("WriteEffective(%s): %v", format, err)
	}
	return buf.String()
}

// TestEffectiveGolden pins the effective configuration of the eHealth
// sample, with sources, so a change in merging or output shows in review.
func TestEffectiveGolden(t *testing.T) {
	c := mustLoad(t, filepath.Join(testdata, "ehealth-helmsman.yaml"))
	abs, _ := filepath.Abs(testdata)
	got := effective(t, c, "yaml", config.WithSources())
	got = strings.ReplaceAll(got, abs, "$TESTDATA")
	got = strings.ReplaceAll(got, testdata, "$TESTDATA")
	golden(t, filepath.Join(testdata, "ehealth-helmsman.effective.golden"), got)
}

// TestEffectiveRoundTrip: the effective YAML is itself a valid stepper.yaml
// that loads to the same configuration.
func TestEffectiveRoundTrip(t *testing.T) {
	for _, sample := range []string{"ehealth-helmsman.yaml", "shop-flux.yaml", "gov-helmfile.yaml"} {
		t.Run(sample, func(t *testing.T) {
			first := mustLoad(t, filepath.Join(testdata, sample), withSet("environments.extra.land.via=jenkins"))
			text := effective(t, first, "yaml", config.WithSources())
			var again []func(*config.Options)
			if sample == "ehealth-helmsman.yaml" { // the platform's file comes along again
				again = append(again, withPlatform(filepath.Join(testdata, "ehealth-platform.yaml")))
			}
			second := mustLoad(t, writeConfig(t, text), again...)
			if a, b := effective(t, first, "json"), effective(t, second, "json"); a != b {
				t.Errorf("round trip changed the configuration:\nfirst:  %s\nsecond: %s", a, b)
			}
		})
	}
}

func TestEffectiveJSON(t *testing.T) {
	c := mustLoad(t, filepath.Join(testdata, "gov-helmfile.yaml"), withEnv("STEPPER_REGISTRY_INSECURE=true"))
	var plain struct {
		Registry struct {
			Host     string `json:"host"`
			Insecure bool   `json:"insecure"`
		} `json:"registry"`
		Environments []struct {
			Name string `json:"name"`
		} `json:"environments"`
	}
	if err := json.Unmarshal([]byte(effective(t, c, "json")), &plain); err != nil {
		t.Fatal(err)
	}
	if plain.Registry.Host != "registry.gov.example" || !plain.Registry.Insecure || len(plain.Environments) != 3 {
		t.Errorf("got %+v", plain)
	}
	var withSources struct {
		Config  map[string]any    `json:"config"`
		Sources map[string]string `json:"sources"`
	}
	if err := json.Unmarshal([]byte(effective(t, c, "json", config.WithSources())), &withSources); err != nil {
		t.Fatal(err)
	}
	if withSources.Sources["registry.insecure"] != "env STEPPER_REGISTRY_INSECURE" ||
		!strings.HasSuffix(withSources.Sources["environments[qa].land.via"], "gov-helmfile.yaml:45") ||
		withSources.Sources["signing.format"] != "default" || withSources.Config["chain"] != "release" {
		t.Errorf("sources = %v", withSources.Sources)
	}
}

func TestEffectiveEmptyAndBadFormat(t *testing.T) {
	c := mustLoad(t, "")
	if got := effective(t, c, "json"); !strings.Contains(got, `"format": "sig-tag"`) {
		t.Errorf("empty config as JSON = %s", got)
	}
	err := c.WriteEffective(&bytes.Buffer{}, "toml")
	if err == nil || exit.Code(err) != 2 || !strings.Contains(err.Error(), "use yaml or json") {
		t.Errorf("WriteEffective(toml) = %v", err)
	}
}

func TestReferenceAndProfileText(t *testing.T) {
	if !strings.HasPrefix(config.Reference(), "# stepper.yaml reference") {
		t.Error("Reference() does not return REFERENCE.md")
	}
	if got := config.Profiles(); len(got) != 1 || got[0] != "ehealth" {
		t.Errorf("Profiles() = %v", got)
	}
	text, ok := config.Profile("ehealth")
	if !ok || !strings.Contains(text, "ehealth-promote-prod") {
		t.Error("Profile(ehealth) is not the embedded profile")
	}
	if _, ok := config.Profile("../REFERENCE.md"); ok {
		t.Error("Profile reads outside the profiles")
	}
	data, _ := os.ReadFile("profiles/ehealth.yaml")
	if string(data) != text {
		t.Error("the embedded profile differs from profiles/ehealth.yaml")
	}
}
