package ci

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"os"
	"strings"
)

// SecretVariables are variables CI servers, registries and clouds fill with
// credentials. Their values are registered as secrets whatever the step does
// with them.
var SecretVariables = []string{
	// GitLab CI and Jenkins.
	"CI_JOB_TOKEN", "CI_REGISTRY_PASSWORD", "CI_DEPLOY_PASSWORD", "CI_DEPENDENCY_PROXY_PASSWORD",
	"CI_BUILD_TOKEN", "CI_JOB_JWT", "CI_JOB_JWT_V1", "CI_JOB_JWT_V2",
	"GITLAB_TOKEN", "GITLAB_PRIVATE_TOKEN", "JENKINS_TOKEN", "JENKINS_API_TOKEN",
	// Signing, Vault and registries.
	"COSIGN_PASSWORD", "COSIGN_PRIVATE_KEY", "VAULT_TOKEN", "DOCKER_PASSWORD", "REGISTRY_PASSWORD",
	"DOCKER_AUTH_CONFIG", "HELM_REGISTRY_PASSWORD", "HELM_REPO_PASSWORD",
	// Clouds.
	"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
	"AZURE_CLIENT_SECRET", "ARM_CLIENT_SECRET", "ARM_ACCESS_KEY", "AZURE_STORAGE_KEY", "AZURE_DEVOPS_EXT_PAT",
	"GOOGLE_OAUTH_ACCESS_TOKEN", "GOOGLE_CREDENTIALS", "CLOUDSDK_AUTH_ACCESS_TOKEN",
	// Forges and package registries.
	"GITHUB_TOKEN", "GH_TOKEN", "NPM_TOKEN", "NODE_AUTH_TOKEN", "SONAR_TOKEN", "CODECOV_TOKEN",
	"TWINE_PASSWORD", "NUGET_API_KEY", "MAVEN_PASSWORD", "GRADLE_PUBLISH_SECRET",
}

// credentialFileVariables name files holding credentials; their secrets are
// registered too.
var credentialFileVariables = []string{"GOOGLE_APPLICATION_CREDENTIALS"}

// maxCredentialFile bounds what is read of a credential file.
const maxCredentialFile = 1 << 20

// SecretValues returns the secrets in environ (os.Environ form): the value of
// every SecretVariables entry, the passwords and tokens inside
// DOCKER_AUTH_CONFIG and other JSON credentials, and the keys in the files
// credentialFileVariables name.
func SecretValues(environ []string) []string {
	env := toMap(environ)
	var out []string
	for _, name := range SecretVariables {
		v := env[name]
		if v == "" {
			continue
		}
		out = append(out, v)
		out = append(out, jsonSecrets([]byte(v))...)
	}
	for _, name := range credentialFileVariables {
		v := env[name]
		if v == "" {
			continue
		}
		if strings.HasPrefix(strings.TrimSpace(v), "{") { // the JSON itself, not a path
			out = append(out, v)
			out = append(out, jsonSecrets([]byte(v))...)
			continue
		}
		if b, ok := readSmall(v); ok {
			out = append(out, jsonSecrets(b)...)
		}
	}
	return out
}

// DockerConfigSecrets returns the passwords and tokens in a docker config
// (config.json, DOCKER_AUTH_CONFIG, an auth.json): each entry's "password",
// "auth" (base64 of user:password), the password inside it, and identity and
// registry tokens.
func DockerConfigSecrets(b []byte) []string { return jsonSecrets(b) }

// secretKeys are JSON keys whose string values are credentials, in docker
// configs and cloud credential files alike.
var secretKeys = map[string]bool{
	"password": true, "auth": true, "identitytoken": true, "registrytoken": true,
	"private_key": true, "client_secret": true, "refresh_token": true, "access_token": true,
	"token": true, "secret": true,
}

// jsonSecrets walks a JSON document and returns the values of secretKeys,
// plus the password decoded from a docker "auth" entry. Anything that is not
// JSON holds none.
func jsonSecrets(b []byte) []string {
	var doc any
	if json.Unmarshal(b, &doc) != nil {
		return nil
	}
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, val := range v {
				s, isString := val.(string)
				if !isString || !secretKeys[strings.ToLower(k)] || s == "" {
					walk(val)
					continue
				}
				out = append(out, s)
				if strings.EqualFold(k, "auth") {
					if dec, err := base64.StdEncoding.DecodeString(s); err == nil {
						if _, pass, ok := strings.Cut(string(dec), ":"); ok && pass != "" {
							out = append(out, pass)
						}
					}
				}
			}
		case []any:
			for _, val := range v {
				walk(val)
			}
		}
	}
	walk(doc)
	return out
}

func readSmall(path string) ([]byte, bool) {
	f, err := os.Open(path)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxCredentialFile))
	return b, err == nil && len(b) > 0
}
