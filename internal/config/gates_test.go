package config_test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stepper-cd/stepper/internal/config"
)

// eHealth's SRE team approves internal releases, not external vendors'
// (seed 001): the vendor chain has promoters of its own choosing.
func TestPromotersDependOnTheChain(t *testing.T) {
	internal := mustLoad(t, writeConfig(t, "profile: ehealth\nchain: internal\n"))
	exttest, err := internal.Environment("exttest")
	if err != nil {
		t.Fatal(err)
	}
	if got := exttest.PromotersFor("internal"); !slices.Equal(got, []string{"group:sre"}) {
		t.Errorf("internal chain promoters of exttest = %v, want [group:sre]", got)
	}
	if got := exttest.PromotersFor("vendor"); len(got) != 0 {
		t.Errorf("vendor chain promoters of exttest = %v, want none (the vendor's choice)", got)
	}
	vendor := mustLoad(t, writeConfig(t, "profile: ehealth\nchain: vendor\nenvironments:\n  - name: prod\n    chainPromoters:\n      vendor: [group:acme-release]\n"),
		withPlatform(filepath.Join(testdata, "ehealth-platform.yaml")))
	prod, _ := vendor.Environment("prod")
	if got := prod.PromotersFor("vendor"); !slices.Equal(got, []string{"group:acme-release"}) {
		t.Errorf("vendor's own promoters of prod = %v", got)
	}
	if got := prod.PromotersFor("internal"); !slices.Equal(got, []string{"group:sre"}) {
		t.Errorf("internal promoters of prod = %v, want the platform's", got)
	}
}

func TestGatesNarrowOnly(t *testing.T) {
	platform := writeConfig(t, `profile: ehealth
environments:
  - name: prod
    gates: {off: [validated], maxAge: 168h, soak: 24h, hotfixSoak: 1h}
`)
	for _, tc := range []struct{ name, vendor, want string }{
		{"another gate off", "gates: {off: [validated, smoke-tested], maxAge: 168h, soak: 24h}", "gates switched off"},
		{"a longer max age", "gates: {maxAge: 200h, soak: 24h}", "maxAge"},
		{"a shorter soak", "gates: {maxAge: 168h, soak: 1h}", "soak"},
		{"a shorter hotfix soak", "gates: {maxAge: 168h, soak: 24h, hotfixSoak: 10m}", "hotfixSoak"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, writeConfig(t, "profile: ehealth\nenvironments:\n  - name: prod\n    "+tc.vendor+"\n"), withPlatform(platform))
			e := configError(t, err)
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(e.Path, "environments[prod].gates") {
				t.Errorf("error %q does not name %s at environments[prod].gates", err, tc.want)
			}
		})
	}
	c := mustLoad(t, writeConfig(t, "profile: ehealth\nenvironments:\n  - name: prod\n    gates: {maxAge: 24h, soak: 48h, hotfixSoak: 2h}\n"), withPlatform(platform))
	prod, _ := c.Environment("prod")
	g := prod.Gates
	if g.On(config.GateValidated) || !g.On(config.GateSmokeTested) || g.MaxAgeDuration() != 24*time.Hour ||
		g.SoakDuration(false) != 48*time.Hour || g.SoakDuration(true) != 2*time.Hour {
		t.Errorf("stricter vendor gates read as %+v", g)
	}
}

func TestGateSettingsAreChecked(t *testing.T) {
	for _, tc := range []struct{ name, text, want string }{
		{"hotfix longer than soak", "environments:\n  - name: prod\n    gates: {soak: 1h, hotfixSoak: 2h}\n", "hotfixSoak"},
		{"unknown gate", "environments:\n  - name: prod\n    gates: {off: [tested]}\n", "smoke-tested"},
		{"unknown chain", "chains: {main: [prod]}\nenvironments:\n  - name: prod\n    chainPromoters: {mian: [user:a]}\n", "did you mean"},
		{"tag route without prefix", "environments:\n  - name: prod\n    land: {via: tag}\n    desiredState: {repo: /x, branch: main, path: p, format: flux}\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := load(t, writeConfig(t, tc.text))
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				e, _ := c.Environment("prod")
				if err := e.Check(); err == nil || !strings.Contains(err.Error(), "tagPrefix") {
					t.Errorf("Check of a tag route without tagPrefix: %v", err)
				}
				return
			}
			configError(t, err)
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

func TestVendorCannotNameEvidenceKeys(t *testing.T) {
	_, err := load(t, writeConfig(t, "profile: ehealth\nsigning:\n  evidenceKeys:\n    - {id: mine, path: mine.pub}\n"),
		withPlatform(filepath.Join(testdata, "ehealth-platform.yaml")))
	configError(t, err)
	if !strings.Contains(err.Error(), "signing.evidenceKeys") {
		t.Errorf("error %q does not name signing.evidenceKeys", err)
	}
}
