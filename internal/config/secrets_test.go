package config_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stepper-cd/stepper/internal/config"
	"github.com/stepper-cd/stepper/internal/secret"
)

// Canaries: made-up secrets for this test. If any output of the package
// contains one, a secret has leaked.
const (
	urlCanary = "canary-url-pw-7d1e"    // a password written into a repo URL
	refCanary = "canary-ref-pw-52b9"    // a value reached through env://
	litCanary = "canary-literal-pw-c03" // a literal where a reference belongs
)

func assertNoCanary(t *testing.T, what, text string) {
	t.Helper()
	for _, c := range []string{urlCanary, refCanary, litCanary} {
		for _, form := range []string{c, base64.StdEncoding.EncodeToString([]byte(c)), url.QueryEscape(c)} {
			if strings.Contains(text, form) {
				t.Errorf("%s leaks %q:\n%s", what, form, text)
			}
		}
	}
}

// TestSecretsNeverPrinted plants canaries in a repo URL's userinfo and
// behind an env:// reference, then checks the effective configuration (every
// format, with and without sources), the warnings and the resolved value.
func TestSecretsNeverPrinted(t *testing.T) {
	t.Setenv("STEPPER_TEST_REGISTRY_PASSWORD", refCanary)
	repo := "https://deploy:" + urlCanary + "@gitlab.example/vendor-x/dsf.git"
	file := writeConfig(t, `profile: ehealth
registry:
  credentials: {username: ci, password: env://STEPPER_TEST_REGISTRY_PASSWORD}
environments:
  - name: inttest
    desiredState: {repo: "`+repo+`", path: inttest/dsf.yaml}
gitlab: {url: "https://ci:pw1@gitlab.example", token: env://GITLAB_TOKEN}
`)
	set := secret.NewSet()
	c := mustLoad(t, file, func(o *config.Options) { o.Secrets = set },
		withSet("environments.exttest.desiredState.repo=https://deploy:"+urlCanary+"@gitlab.example/other.git"))

	// The loaded value is intact for the Git adapter, which needs it.
	if e, _ := c.Environment("inttest"); e.DesiredState.Repo != repo {
		t.Errorf("repo = %q", e.DesiredState.Repo)
	}
	v, err := c.Registry.Credentials.Password.Resolve(context.Background(), set)
	if err != nil || v.Reveal() != refCanary {
		t.Fatalf("Resolve = %v, %v", v, err)
	}
	if !strings.Contains(set.Mask("x "+urlCanary+" "+refCanary), secret.Masked) {
		t.Error("the set does not mask the canaries")
	}

	for _, format := range []string{"yaml", "json"} {
		for _, opts := range [][]config.EffectiveOption{nil, {config.WithSources()}} {
			var buf bytes.Buffer
			if err := c.WriteEffective(&buf, format, opts...); err != nil {
				t.Fatal(err)
			}
			assertNoCanary(t, "WriteEffective "+format, buf.String())
			// A password too short for the set to mask is still hidden.
			if strings.Contains(buf.String(), ":pw1@") {
				t.Errorf("WriteEffective %s shows a short URL password:\n%s", format, buf.String())
			}
			if !strings.Contains(buf.String(), "deploy:"+secret.Masked+"@gitlab.example") {
				t.Errorf("WriteEffective %s lost the masked URL:\n%s", format, buf.String())
			}
		}
	}
	assertNoCanary(t, "Warnings", strings.Join(c.Warnings(), "\n"))
	if !strings.Contains(strings.Join(c.Warnings(), "\n"), "environments[inttest].desiredState.repo carries a password") {
		t.Errorf("no warning about the password in the URL: %q", c.Warnings())
	}
	assertNoCanary(t, "fmt of the resolved value", v.String())
}

// TestSecretsNeverInErrors: every error a secret could reach, in the file,
// a variable or a flag, must leave it out.
func TestSecretsNeverInErrors(t *testing.T) {
	repo := "https://deploy:" + urlCanary + "@gitlab.example/x.git"
	files := map[string]string{
		"bad key next to a URL":   "environments:\n  - name: dev\n    desiredState: {repo: \"" + repo + "\", branch: \"a..b\"}\n",
		"bad URL":                 "environments:\n  - name: dev\n    desiredState: {repo: \"ftp://u:" + urlCanary + "@x/y\"}\n",
		"scp URL with password":   "environments:\n  - name: dev\n    desiredState: {repo: \"u:" + urlCanary + "@x y:z\"}\n",
		"host with userinfo":      "registry: {host: \"u:" + urlCanary + "@registry.example\"}\n",
		"gitlab URL bad scheme":   "gitlab: {url: \"ftp://u:" + urlCanary + "@x\"}\n",
		"URL under unknown key":   "environments:\n  - name: dev\n    desiredState: {rpo: \"" + repo + "\"}\n",
		"URL where a list goes":   "baseImages: \"" + repo + "\"\n",
		"URL in a chain":          "chains: {main: [\"" + repo + "\"]}\nenvironments: [{name: dev}]\n",
		"literal password":        "registry: {credentials: {username: ci, password: " + litCanary + "}}\n",
		"literal key":             "signing: {key: " + litCanary + "}\n",
		"literal token in a list": "jenkins: {token: [" + litCanary + "]}\n",
		"password in a bad enum":  "signing: {format: \"https://u:" + urlCanary + "@x\"}\n",
		"secret in a boolean":     "registry: {insecure: \"https://u:" + urlCanary + "@x\"}\n",
		"secret under a bad tag":  "gitlab: {token: !vault " + litCanary + "}\n",
	}
	for name, text := range files {
		t.Run(name, func(t *testing.T) {
			_, err := load(t, writeConfig(t, text))
			configError(t, err)
			assertNoCanary(t, "error", err.Error())
		})
	}
	overrides := map[string]func(*config.Options){
		"set literal":        withSet("registry.credentials.password=" + litCanary),
		"set unknown key":    withSet("gitlab.tokn=" + litCanary),
		"set URL, bad value": withSet("environments.dev.desiredState.branch=a..b", "environments.dev.desiredState.repo="+repo, "environments.dev.land.via=x"),
		"env literal":        withEnv("STEPPER_GITLAB_TOKEN=" + litCanary),
		"env URL bad scheme": withEnv("STEPPER_GITLAB_URL=ftp://u:" + urlCanary + "@x"),
		"set profile URL":    withSet("profile=https://u:" + urlCanary + "@x"),
	}
	for name, mod := range overrides {
		t.Run(name, func(t *testing.T) {
			_, err := load(t, writeConfig(t, "environments: [{name: dev}]\n"), mod)
			configError(t, err)
			assertNoCanary(t, "error", err.Error())
		})
	}
}

func TestResolve(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "token")
	os.WriteFile(keyFile, []byte(refCanary+"\n"), 0o600)
	t.Setenv("STEPPER_TEST_TOKEN", refCanary)
	t.Setenv("STEPPER_TEST_EMPTY", "")
	tests := []struct {
		ref     config.SecretRef
		want    string
		wantErr string
	}{
		{"env://STEPPER_TEST_TOKEN", refCanary, ""},
		{config.SecretRef("file://" + keyFile), refCanary, ""}, // trailing newline dropped
		{"env://STEPPER_TEST_EMPTY", "", ""},
		{"ci-user", "ci-user", ""}, // a literal user name
		{"", "", ""},
		{"env://STEPPER_TEST_UNSET", "", "environment variable STEPPER_TEST_UNSET is not set"},
		{config.SecretRef("file://" + filepath.Join(dir, "missing")), "", "no such file"},
		{"awskms://alias/release", "", config.ErrKeyReference.Error()},
	}
	for _, tt := range tests {
		set := secret.NewSet()
		v, err := tt.ref.Resolve(context.Background(), set)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Resolve(%s) error = %v, want %q", tt.ref, err, tt.wantErr)
			}
			continue
		}
		if err != nil || v.Reveal() != tt.want {
			t.Errorf("Resolve(%s) = %q, %v; want %q", tt.ref, v.Reveal(), err, tt.want)
		}
		if tt.want == refCanary && set.Mask(refCanary) != secret.Masked {
			t.Errorf("Resolve(%s) did not register the secret", tt.ref)
		}
	}
	if _, err := config.SecretRef("gcpkms://projects/p/keys/k").Resolve(context.Background(), nil); !errors.Is(err, config.ErrKeyReference) {
		t.Errorf("a KMS URI resolved: %v", err)
	}
	if uri, ok := config.SecretRef("hashivault://release").KeyReference(); !ok || uri != "hashivault://release" {
		t.Errorf("KeyReference = %q, %v", uri, ok)
	}
	if _, ok := config.SecretRef("env://X").KeyReference(); ok {
		t.Error("env:// taken for a KMS key")
	}
}
