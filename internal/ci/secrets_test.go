package ci

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestSecretValues(t *testing.T) {
	// Test-only credentials, made for this test.
	auth := base64.StdEncoding.EncodeToString([]byte("robot$vendor:auth-pass-51c2"))
	dockerAuth := `{"auths":{"registry.example":{"auth":"` + auth + `"},"other.example":{"username":"u","password":"plain-pass-93aa"}}}`
	gcp := filepath.Join(t.TempDir(), "sa.json")
	os.WriteFile(gcp, []byte(`{"type":"service_account","private_key":"-----BEGIN PRIVATE KEY-----\nTESTONLY\n-----END PRIVATE KEY-----\n"}`), 0o600)
	got := SecretValues([]string{
		"DOCKER_AUTH_CONFIG=" + dockerAuth,
		"VAULT_TOKEN=hvs.test-only-vault",
		"AWS_SECRET_ACCESS_KEY=aws-test-only-secret",
		"AWS_SESSION_TOKEN=aws-test-only-session",
		"AZURE_CLIENT_SECRET=az-test-only", "ARM_CLIENT_SECRET=arm-test-only",
		"GOOGLE_OAUTH_ACCESS_TOKEN=ya29.test-only", "GITHUB_TOKEN=ghp_test-only", "NPM_TOKEN=npm-test-only",
		"GOOGLE_APPLICATION_CREDENTIALS=" + gcp,
		"PATH=/usr/bin", "CI_COMMIT_SHA=0123",
	})
	for _, want := range []string{
		dockerAuth, auth, "auth-pass-51c2", "plain-pass-93aa", "hvs.test-only-vault",
		"aws-test-only-secret", "aws-test-only-session", "az-test-only", "arm-test-only",
		"ya29.test-only", "ghp_test-only", "npm-test-only",
		"-----BEGIN PRIVATE KEY-----\nTESTONLY\n-----END PRIVATE KEY-----\n",
	} {
		if !slices.Contains(got, want) {
			t.Errorf("SecretValues misses %q", want)
		}
	}
	for _, not := range []string{"/usr/bin", "0123", "u"} {
		if slices.Contains(got, not) {
			t.Errorf("SecretValues holds %q, which is no secret", not)
		}
	}
}

func TestSecretValuesBadJSON(t *testing.T) {
	got := SecretValues([]string{"DOCKER_AUTH_CONFIG={not json", "GOOGLE_APPLICATION_CREDENTIALS=/nonexistent/sa.json"})
	if !slices.Equal(got, []string{"{not json"}) {
		t.Errorf("got %q", got)
	}
}
