package cli

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/stepper-cd/stepper/internal/registry"
	"github.com/stepper-cd/stepper/internal/secret"
)

// A password the registry keychain reads from a docker config is masked from
// then on, whether or not the config was read up front.
func TestDockerConfigPasswordsMasked(t *testing.T) {
	const pass = "docker-cfg-test-only-77e1" // test secret, made for the test
	home := t.TempDir()
	os.MkdirAll(filepath.Join(home, ".docker"), 0o700)
	auth := base64.StdEncoding.EncodeToString([]byte("robot:" + pass))
	os.WriteFile(filepath.Join(home, ".docker", "config.json"), []byte(`{"auths":{"registry.example.test":{"auth":"`+auth+`"}}}`), 0o600)
	environ := []string{"HOME=" + home}

	t.Run("up front", func(t *testing.T) {
		set := secret.NewSet()
		registerDockerConfigSecrets(set, "", environ)
		if got := set.Mask("login " + pass + " " + auth); strings.Contains(got, pass) || strings.Contains(got, auth) {
			t.Errorf("docker config password not masked: %q", got)
		}
	})
	t.Run("on resolve", func(t *testing.T) {
		set := secret.NewSet()
		kc := maskingKeychain{set: set, inner: registry.Keychain(registry.KeychainOptions{Environ: environ})}
		reg, _ := name.NewRegistry("registry.example.test")
		a, err := kc.Resolve(reg)
		if err != nil {
			t.Fatal(err)
		}
		if cfg, _ := a.Authorization(); cfg.Password != pass {
			t.Fatalf("keychain lost the credentials: %+v", cfg)
		}
		if got := set.Mask("login " + pass); strings.Contains(got, pass) {
			t.Errorf("resolved password not masked: %q", got)
		}
		anon, _ := name.NewRegistry("anon.example.test")
		if a, _ := kc.Resolve(anon); a != authn.Anonymous {
			t.Errorf("a registry without credentials resolved to %v", a)
		}
	})
}

// Credentials in the CI environment are masked before anything logs.
func TestCISecretsRegistered(t *testing.T) {
	auth := base64.StdEncoding.EncodeToString([]byte("u:dac-test-only-pass"))
	set := secret.NewSet()
	registerCISecrets(set, []string{
		`DOCKER_AUTH_CONFIG={"auths":{"r.example.test":{"auth":"` + auth + `"}}}`,
		"VAULT_TOKEN=hvs.vault-test-only", "AWS_SECRET_ACCESS_KEY=aws-test-only/secret",
	})
	out := set.Mask("dac-test-only-pass " + auth + " hvs.vault-test-only aws-test-only/secret")
	for _, leak := range []string{"dac-test-only-pass", auth, "hvs.vault", "aws-test-only"} {
		if strings.Contains(out, leak) {
			t.Errorf("%q leaked: %q", leak, out)
		}
	}
}
