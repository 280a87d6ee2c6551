package desiredstate

import (
	"path"
	"strings"
)

// Keys maps the app model onto the Helm values keys of a platform's charts.
// Helmsman carries an app's image and configuration in `set`/`setString`,
// whose keys are whatever the charts expect, so every platform may differ.
//
// Patterns use path.Match syntax on the whole key; "*" does not cross "/"
// but does cross ".", so "env.*" matches "env.DB_HOST".
type Keys struct {
	ImageRepository string // default "image.repository"
	ImageTag        string // default "image.tag"
	ImageDigest     string // default "image.digest"
	Replicas        string // default "replicaCount"
	Memory          string // default "resources.limits.memory"
	EnvPrefix       string // default "env."; the rest of the key is the variable name
	Ports           []string
	SecretRefs      []string
	DNS             []string
	// PerEnvironment lists extra patterns whose values belong to one
	// environment and are never copied by a promotion. Replicas, DNS and
	// secret references are always per-environment.
	PerEnvironment []string
}

// DefaultKeys follows the conventions of charts made with `helm create`.
func DefaultKeys() Keys {
	return Keys{
		ImageRepository: "image.repository",
		ImageTag:        "image.tag",
		ImageDigest:     "image.digest",
		Replicas:        "replicaCount",
		Memory:          "resources.limits.memory",
		EnvPrefix:       "env.",
		Ports:           []string{"service.port", "service.ports.*", "service.targetPort"},
		SecretRefs:      []string{"*.existingSecret", "existingSecret", "secrets.*", "*.secretName"},
		DNS:             []string{"ingress.host", "ingress.hosts*", "ingress.tls*"},
	}
}

// Merge returns k with o laid over it: every non-empty field of o replaces
// k's. PerEnvironment adds to k's, since a platform's extra keys never make
// the defaults movable. This is how stepper.yaml's values section is
// layered over DefaultKeys.
func (k Keys) Merge(o Keys) Keys {
	str := func(dst *string, src string) {
		if src != "" {
			*dst = src
		}
	}
	list := func(dst *[]string, src []string) {
		if len(src) > 0 {
			*dst = append([]string(nil), src...)
		}
	}
	str(&k.ImageRepository, o.ImageRepository)
	str(&k.ImageTag, o.ImageTag)
	str(&k.ImageDigest, o.ImageDigest)
	str(&k.Replicas, o.Replicas)
	str(&k.Memory, o.Memory)
	str(&k.EnvPrefix, o.EnvPrefix)
	list(&k.Ports, o.Ports)
	list(&k.SecretRefs, o.SecretRefs)
	list(&k.DNS, o.DNS)
	k.PerEnvironment = append(append([]string(nil), k.PerEnvironment...), o.PerEnvironment...)
	return k
}

func matchAny(patterns []string, key string) bool {
	for _, p := range patterns {
		if globMatch(p, key) {
			return true
		}
	}
	return false
}

// globMatch is path.Match with a fast path for the common shapes "pre*",
// "*suf" and exact keys: it runs for every key of every app on every read.
func globMatch(pattern, key string) bool {
	if !strings.ContainsAny(pattern, "*?[\\") {
		return pattern == key
	}
	if i := strings.IndexByte(pattern, '*'); i >= 0 && strings.Count(pattern, "*") == 1 && !strings.ContainsAny(pattern, "?[\\") {
		pre, suf := pattern[:i], pattern[i+1:]
		return len(key) >= len(pre)+len(suf) && strings.HasPrefix(key, pre) && strings.HasSuffix(key, suf) && !strings.Contains(key[len(pre):len(key)-len(suf)], "/")
	}
	ok, _ := path.Match(pattern, key)
	return ok
}

// IsImage reports whether key is one of the image keys.
func (k Keys) IsImage(key string) bool {
	return key == k.ImageRepository || key == k.ImageTag || key == k.ImageDigest
}

// IsPerEnvironment reports whether a values key stays in its environment
// when a release is copied from another one.
func (k Keys) IsPerEnvironment(key string) bool {
	return key == k.Replicas || matchAny(k.DNS, key) || matchAny(k.SecretRefs, key) || matchAny(k.PerEnvironment, key)
}

// config reads the Config out of merged values.
func (k Keys) config(values map[string]string) Config {
	c := Config{Ports: map[string]string{}, Env: map[string]string{}, SecretRefs: map[string]string{}, DNS: map[string]string{}}
	for key, v := range values {
		switch {
		case key == k.Replicas:
			c.Replicas = v
		case key == k.Memory:
			c.Memory = v
		case k.EnvPrefix != "" && strings.HasPrefix(key, k.EnvPrefix):
			c.Env[strings.TrimPrefix(key, k.EnvPrefix)] = v
		case matchAny(k.Ports, key):
			c.Ports[key] = v
		case matchAny(k.SecretRefs, key):
			c.SecretRefs[key] = v
		case matchAny(k.DNS, key):
			c.DNS[key] = v
		}
	}
	return c
}
