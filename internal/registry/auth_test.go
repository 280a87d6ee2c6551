package registry_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/logging"
	"github.com/stepper-cd/stepper/internal/registry"
	"github.com/stepper-cd/stepper/internal/secret"
	"github.com/stepper-cd/stepper/internal/testenv"
)

// Made for these tests; the canary must never show up in any output.
const (
	authUser     = "stepper-ci"
	authPassword = "canary-registry-password-9b2e"
)

func startAuthRegistry(t *testing.T) *testenv.Registry {
	t.Helper()
	testenv.RequireTool(t, "docker-registry")
	reg, err := testenv.StartRegistryAuth(t.Context(), t.TempDir(), authUser, authPassword)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Stop)
	return reg
}

func dockerConfig(t *testing.T, host, user, password string) string {
	t.Helper()
	dir := t.TempDir()
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
	cfg := fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, host, auth)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestAuth(t *testing.T) {
	reg := startAuthRegistry(t)
	repo := reg.Host + "/auth/app"
	for _, tc := range []struct {
		name string
		kc   registry.KeychainOptions
		ok   bool
	}{
		{"anonymous", registry.KeychainOptions{Environ: []string{}}, false},
		{"wrong password", registry.KeychainOptions{Host: reg.Host, Username: secret.NewValue(authUser, nil),
			Password: secret.NewValue("wrong-"+authPassword, nil), Environ: []string{}}, false},
		{"explicit", registry.KeychainOptions{Host: reg.Host, Username: secret.NewValue(authUser, nil),
			Password: secret.NewValue(authPassword, nil), Environ: []string{}}, true},
		{"explicit wins over CI variables", registry.KeychainOptions{Host: reg.Host, Username: secret.NewValue(authUser, nil),
			Password: secret.NewValue(authPassword, nil),
			Environ:  []string{"CI_REGISTRY=" + reg.Host, "CI_REGISTRY_USER=someone", "CI_REGISTRY_PASSWORD=else"}}, true},
		{"explicit for another host", registry.KeychainOptions{Host: "registry.example", Username: secret.NewValue(authUser, nil),
			Password: secret.NewValue(authPassword, nil), Environ: []string{}}, false},
		{"CI variables", registry.KeychainOptions{
			Environ: []string{"CI_REGISTRY=" + reg.Host, "CI_REGISTRY_USER=" + authUser, "CI_REGISTRY_PASSWORD=" + authPassword}}, true},
		{"docker config option", registry.KeychainOptions{DockerConfig: dockerConfig(t, reg.Host, authUser, authPassword),
			Environ: []string{}}, true},
		{"DOCKER_CONFIG", registry.KeychainOptions{
			Environ: []string{"DOCKER_CONFIG=" + dockerConfig(t, reg.Host, authUser, authPassword)}}, true},
		{"REGISTRY_AUTH_FILE", registry.KeychainOptions{
			Environ: []string{"REGISTRY_AUTH_FILE=" + filepath.Join(dockerConfig(t, reg.Host, authUser, authPassword), "config.json")}}, true},
		{"HOME", registry.KeychainOptions{
			Environ: []string{"HOME=" + homeWithDockerConfig(t, reg.Host)}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set := secret.NewSet()
			set.Add(authPassword)
			var logs bytes.Buffer
			log, err := logging.New(&logs, logging.Options{Format: logging.FormatJSON, Level: "debug"})
			if err != nil {
				t.Fatal(err)
			}
			ctx := logging.WithContext(t.Context(), log)
			c := registry.New(registry.Options{Keychain: registry.Keychain(tc.kc), Progress: registry.NewLogProgress(ctx)})
			pushed, err := c.Push(ctx, repo, randomImage(t, 1024, 1))
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				if _, _, err := c.Image(ctx, pushed.Ref.String()); err != nil {
					t.Fatalf("pull back: %v", err)
				}
			} else {
				if exit.ClassOf(err) != exit.Usage {
					t.Fatalf("push: %v (class %s), want a usage error", err, exit.ClassOf(err))
				}
				for _, hint := range []string{reg.Host, "auth/app", "registry.credentials", "CI_REGISTRY_USER", "docker config"} {
					if !strings.Contains(err.Error(), hint) {
						t.Errorf("error %q does not mention %q", err, hint)
					}
				}
				logs.WriteString(err.Error())
			}
			if strings.Contains(logs.String(), authPassword) || strings.Contains(logs.String(), base64.StdEncoding.EncodeToString([]byte(authUser+":"+authPassword))) {
				t.Fatalf("the password leaked: %s", logs.String())
			}
		})
	}
}

func homeWithDockerConfig(t *testing.T, host string) string {
	home := t.TempDir()
	if err := os.Rename(dockerConfig(t, host, authUser, authPassword), filepath.Join(home, ".docker")); err != nil {
		t.Fatal(err)
	}
	return home
}

func TestKeychainOrder(t *testing.T) {
	const host = "registry.example:5000"
	target, err := name.NewRepository(host + "/group/app")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		o        registry.KeychainOptions
		wantUser string // "" for anonymous
	}{
		{"nothing", registry.KeychainOptions{Environ: []string{}}, ""},
		{"job token", registry.KeychainOptions{Environ: []string{"CI_REGISTRY=" + host, "CI_JOB_TOKEN=job-token-value"}}, "gitlab-ci-token"},
		{"registry user over job token", registry.KeychainOptions{Environ: []string{"CI_REGISTRY=" + host,
			"CI_REGISTRY_USER=ci-user", "CI_REGISTRY_PASSWORD=ci-pass", "CI_JOB_TOKEN=job-token-value"}}, "ci-user"},
		{"CI variables for another registry", registry.KeychainOptions{Environ: []string{"CI_REGISTRY=gitlab.example",
			"CI_JOB_TOKEN=job-token-value"}}, ""},
		{"CI variables over docker config", registry.KeychainOptions{DockerConfig: dockerConfig(t, host, "from-config", "p"),
			Environ: []string{"CI_REGISTRY=" + host, "CI_JOB_TOKEN=job-token-value"}}, "gitlab-ci-token"},
		{"REGISTRY_AUTH_FILE over the docker config option", registry.KeychainOptions{
			DockerConfig: dockerConfig(t, host, "from-option", "p"),
			Environ:      []string{"REGISTRY_AUTH_FILE=" + filepath.Join(dockerConfig(t, host, "from-auth-file", "p"), "config.json")}}, "from-auth-file"},
		{"a config without the host falls through", registry.KeychainOptions{
			DockerConfig: dockerConfig(t, "other.example", "other", "p"),
			Environ:      []string{"DOCKER_CONFIG=" + dockerConfig(t, host, "from-env", "p")}}, "from-env"},
		{"missing files are skipped", registry.KeychainOptions{DockerConfig: filepath.Join(t.TempDir(), "nope.json"),
			Environ: []string{"HOME=" + t.TempDir()}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			auth, err := registry.Keychain(tt.o).Resolve(target)
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantUser == "" {
				if auth != authn.Anonymous {
					t.Fatalf("got %T, want anonymous", auth)
				}
				return
			}
			cfg, err := authn.Authorization(t.Context(), auth)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Username != tt.wantUser {
				t.Errorf("user %q, want %q", cfg.Username, tt.wantUser)
			}
		})
	}
}

func TestKeychainBadConfigDoesNotQuoteIt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(path, []byte(`{"auths": {"x": {"auth": "`+authPassword), 0o600); err != nil {
		t.Fatal(err)
	}
	target, _ := name.NewRepository("registry.example/app")
	_, err := registry.Keychain(registry.KeychainOptions{DockerConfig: path, Environ: []string{}}).Resolve(target)
	if exit.ClassOf(err) != exit.Usage || !strings.Contains(err.Error(), path) || strings.Contains(err.Error(), authPassword) {
		t.Fatalf("err = %v; want a usage error naming the file without its content", err)
	}
}
