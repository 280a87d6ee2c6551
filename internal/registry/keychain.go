package registry

import (
	"cmp"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/types"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/secret"
)

// KeychainOptions are the places Keychain looks for credentials.
type KeychainOptions struct {
	// Host is the registry Username and Password are for (registry.host).
	Host string
	// Username and Password are explicit credentials
	// (registry.credentials); they win over everything else for Host.
	Username, Password secret.Value
	// DockerConfig is a docker config.json, or a directory holding one.
	DockerConfig string
	// Environ is the environment to read (CI_REGISTRY*, CI_JOB_TOKEN,
	// REGISTRY_AUTH_FILE, DOCKER_CONFIG, HOME); nil means os.Environ().
	Environ []string
}

// Keychain returns the keychain stepper authenticates with. For a registry
// it takes the first of:
//
//  1. Username and Password, when the registry is Host;
//  2. GitLab CI's variables, when the registry is CI_REGISTRY:
//     CI_REGISTRY_USER and CI_REGISTRY_PASSWORD, or else CI_JOB_TOKEN as
//     user gitlab-ci-token;
//  3. the first docker config with an entry for the registry, of
//     REGISTRY_AUTH_FILE, DockerConfig, $DOCKER_CONFIG/config.json and
//     ~/.docker/config.json (credential helpers included);
//  4. anonymous access.
func Keychain(o KeychainOptions) authn.Keychain {
	if o.Environ == nil {
		o.Environ = os.Environ()
	}
	return &keychain{o: o, env: environ(o.Environ)}
}

type keychain struct {
	o   KeychainOptions
	env map[string]string
}

func environ(kvs []string) map[string]string {
	env := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	return env
}

// Resolve implements authn.Keychain.
func (k *keychain) Resolve(target authn.Resource) (authn.Authenticator, error) {
	host := target.RegistryStr()
	if !k.o.Username.IsZero() && sameRegistry(k.o.Host, host) {
		return basic(k.o.Username.Reveal(), k.o.Password.Reveal()), nil
	}
	if ci := k.env["CI_REGISTRY"]; ci != "" && sameRegistry(ci, host) {
		if user, password := k.env["CI_REGISTRY_USER"], k.env["CI_REGISTRY_PASSWORD"]; user != "" && password != "" {
			return basic(user, password), nil
		}
		if token := k.env["CI_JOB_TOKEN"]; token != "" {
			return basic("gitlab-ci-token", token), nil
		}
	}
	for _, path := range k.dockerConfigs() {
		auth, err := fromDockerConfig(path, target)
		if err != nil {
			return nil, err
		}
		if auth != nil {
			return auth, nil
		}
	}
	return authn.Anonymous, nil
}

func basic(user, password string) authn.Authenticator {
	return authn.FromConfig(authn.AuthConfig{Username: user, Password: password})
}

// sameRegistry compares registry hosts the way image references do, so
// that docker.io and index.docker.io are one.
func sameRegistry(a, b string) bool {
	norm := func(h string) string {
		h = strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(h, "https://"), "http://"), "/")
		if r, err := name.NewRegistry(h); err == nil {
			return r.RegistryStr()
		}
		return h
	}
	return a != "" && norm(a) == norm(b)
}

// dockerConfigs lists the docker config files to try, in order.
func (k *keychain) dockerConfigs() []string {
	var paths []string
	if p := k.env["REGISTRY_AUTH_FILE"]; p != "" {
		paths = append(paths, p)
	}
	if p := k.o.DockerConfig; p != "" {
		if info, err := os.Stat(p); err == nil && info.IsDir() {
			p = filepath.Join(p, "config.json")
		}
		paths = append(paths, p)
	}
	if dir := k.env["DOCKER_CONFIG"]; dir != "" {
		paths = append(paths, filepath.Join(dir, "config.json"))
	}
	if home := k.env["HOME"]; home != "" {
		paths = append(paths, filepath.Join(home, ".docker", "config.json"))
	}
	return paths
}

// fromDockerConfig returns the credentials the docker config at path has
// for target, nil when it has none or does not exist.
func fromDockerConfig(path string, target authn.Resource) (authn.Authenticator, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, exit.Usagef("docker config %s: %w", path, err)
	}
	defer f.Close()
	cf, err := config.LoadFromReader(f)
	if err != nil {
		// The parser's message may quote the file; the file holds secrets.
		return nil, exit.Usagef("docker config %s: not a valid docker config.json", path)
	}
	var empty types.AuthConfig
	// Entries are keyed by the full target or by the registry; Docker Hub's
	// by its historical URL.
	for _, key := range []string{target.String(), target.RegistryStr()} {
		if key == name.DefaultRegistry {
			key = authn.DefaultAuthKey
		}
		cfg, err := cf.GetAuthConfig(key)
		if err != nil {
			// The helper's output may hold a secret; name the helper only.
			helper := cmp.Or(cf.CredentialHelpers[target.RegistryStr()], cf.CredentialsStore)
			return nil, exit.Usagef("docker config %s: credentials for %s: docker-credential-%s failed; run it by hand to see why",
				path, key, helper)
		}
		cfg.ServerAddress = ""
		if cfg != empty {
			return authn.FromConfig(authn.AuthConfig{
				Username:      cfg.Username,
				Password:      cfg.Password,
				Auth:          cfg.Auth,
				IdentityToken: cfg.IdentityToken,
				RegistryToken: cfg.RegistryToken,
			}), nil
		}
	}
	return nil, nil
}
