package config_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stepper-cd/stepper/internal/config"
)

// The platform's rules (profile and platform file) cannot be widened by the
// vendor's file, STEPPER_* variables or --config-set; each attack names
// where the vendor's value was written.
func TestVendorCannotWidenThePlatformsRules(t *testing.T) {
	vendor := filepath.Join(testdata, "ehealth-helmsman.yaml")
	for _, tc := range []struct {
		name string
		mods []func(*config.Options)
		file string // extra vendor file text, in place of the sample
		want []string
	}{
		{name: "prod route by --config-set", mods: []func(*config.Options){withSet("environments.prod.land.via=commit")},
			want: []string{"--config-set environments.prod.land.via=commit", "environments[prod].land", "via jenkins"}},
		{name: "prod route by a variable", mods: []func(*config.Options){withEnv("STEPPER_ENVIRONMENTS_PROD_LAND_VIA=commit")},
			want: []string{"env STEPPER_ENVIRONMENTS_PROD_LAND_VIA", "environments[prod].land"}},
		{name: "prod route in stepper.yaml", file: "profile: ehealth\nenvironments:\n  - name: prod\n    land: {via: commit}\n",
			want: []string{"stepper.yaml:4", "environments[prod].land"}},
		{name: "the Jenkins job", mods: []func(*config.Options){withSet("environments.prod.land.job=vendor/own-job")},
			want: []string{"environments[prod].land"}},
		{name: "the chain order", mods: []func(*config.Options){withSet("chains.vendor=prod")}, want: []string{"chains.vendor", "chains and their order"}},
		{name: "a new chain", mods: []func(*config.Options){withSet("chains.mine=prod", "chain=mine")}, want: []string{"chains.mine"}},
		{name: "promoters widened", mods: []func(*config.Options){withSet("environments.prod.promoters=group:sre,user:mallory")},
			want: []string{"environments[prod].promoters", "group:sre"}},
		{name: "promoters emptied (anyone)", mods: []func(*config.Options){withSet("environments.prod.promoters=")},
			want: []string{"environments[prod].promoters"}},
		{name: "a key of the vendor's own", file: "profile: ehealth\nsigning:\n  publicKeys:\n    - {id: mine, path: mine.pub}\n",
			want: []string{"stepper.yaml:4", "signing.publicKeys", "approved signing keys"}},
		{name: "a revoked key restored", mods: []func(*config.Options){withSet("signing.revokedKeys=")},
			want: []string{"signing.revokedKeys", "stay revoked"}},
		{name: "another base image", mods: []func(*config.Options){withEnv("STEPPER_BASE_IMAGES=docker.io/library/alpine")},
			want: []string{"baseImages", "STEPPER_BASE_IMAGES"}},
		{name: "another chart repository", mods: []func(*config.Options){withSet("charts.repositories=https://charts.example.invalid")},
			want: []string{"charts.repositories"}},
		{name: "the chart keyring", mods: []func(*config.Options){withSet("charts.keyring=/tmp/vendor.gpg")},
			want: []string{"charts.keyring"}},
		{name: "another registry", mods: []func(*config.Options){withEnv("STEPPER_REGISTRY_HOST=evil.example")},
			want: []string{"registry.host", "registry.admin.ehealth.sundhed.dk"}},
		{name: "no profile", mods: []func(*config.Options){withProfile("none")}, want: []string{"--profile", "names profile \"ehealth\""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := vendor
			mods := tc.mods
			if tc.file != "" {
				file = writeConfig(t, tc.file)
				mods = append(mods, withPlatform(filepath.Join(testdata, "ehealth-platform.yaml")))
			}
			_, err := load(t, file, mods...)
			configError(t, err)
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

// Narrowing is the vendor's to do: fewer base images, fewer promoters, more
// revoked keys, one of the platform's chains.
func TestVendorMayNarrowThePlatformsRules(t *testing.T) {
	c := mustLoad(t, filepath.Join(testdata, "ehealth-helmsman.yaml"), withSet(
		"baseImages=registry.admin.ehealth.sundhed.dk/ehealth/base/java",
		"signing.revokedKeys=ehealth-2024,ehealth-2026",
		"environments.exttest.promoters=group:sre",
		"chain=internal",
	))
	if len(c.BaseImages) != 1 || len(c.Signing.RevokedKeys) != 2 || c.ChainName != "internal" {
		t.Errorf("baseImages %v, revokedKeys %v, chain %s", c.BaseImages, c.Signing.RevokedKeys, c.ChainName)
	}
}

// Without a profile or a platform file there is no platform: the shop runs
// its own, and its file decides everything.
func TestNoPlatformNoLocks(t *testing.T) {
	c := mustLoad(t, filepath.Join(testdata, "shop-flux.yaml"), withSet("environments.production.land.via=merge-request", "registry.host=127.0.0.1:5000"))
	if c.Registry.Host != "127.0.0.1:5000" {
		t.Errorf("registry.host = %s", c.Registry.Host)
	}
}

// Under a profile, a platform rule with no platform value is still the
// platform's: the vendor's file cannot supply the keys deploy verifies with.
func TestProfileWithoutPlatformFileRefusesVendorKeys(t *testing.T) {
	file := writeConfig(t, "profile: ehealth\nsigning:\n  publicKeys:\n    - {id: mine, path: mine.pub}\n")
	_, err := load(t, file)
	if ce := configError(t, err); !strings.Contains(err.Error(), "signing.publicKeys") || ce.Line != 4 {
		t.Errorf("%v (line %d)", err, ce.Line)
	}
}
