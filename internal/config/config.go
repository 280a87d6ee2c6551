package config

import (
	"fmt"
	"slices"
	"strings"

	"github.com/stepper-cd/stepper/internal/secret"
)

func newConfig(set *secret.Set) *Config {
	return &Config{sources: map[string]origin{}, pos: map[string]origin{}, secrets: set}
}

// File is the configuration file that was read, or "" if none was.
func (c *Config) File() string { return c.file }

// PlatformRules reports whether a platform (a profile or a platform file)
// owns the platform's rules: a rule whose input it left out is then an
// error, never "not checked".
func (c *Config) PlatformRules() bool { return c.Profile != "" || c.platformFile != "" }

// Warnings are problems that do not stop the run, such as an unknown
// STEPPER_* variable or an insecure registry that is not local.
func (c *Config) Warnings() []string { return slices.Clone(c.warnings) }

// Secrets is the set every secret seen while loading was registered with.
func (c *Config) Secrets() *secret.Set { return c.secrets }

// Source says where the value at key came from: "profile ehealth",
// "stepper.yaml:12", "env STEPPER_REGISTRY_HOST", "--set registry.host=...",
// "default", or "" when the key is not set. key is a path as --set takes it.
func (c *Config) Source(key string) string {
	segs, ok := parseDotted(key)
	if !ok {
		return ""
	}
	d := &decoder{layer: origin{kind: fromOption}, c: c}
	sl, err := d.resolve(segs, false)
	if err != nil {
		return ""
	}
	if o, ok := c.sources[sl.p.String()]; ok {
		return o.String()
	}
	return ""
}

// flagName is the CLI's name for --set, for hints.
func (c *Config) flagName() string {
	if c.setFlag == "" {
		return "--config-set"
	}
	return c.setFlag
}

func (c *Config) warnf(format string, args ...any) {
	c.warnings = append(c.warnings, c.secrets.Mask(fmt.Sprintf(format, args...)))
}

// forget drops what is recorded at p and below it, before a new value
// replaces the old one: a shorter list must not keep the positions of the
// entries it dropped.
func (c *Config) forget(p path) {
	key := p.String()
	for _, m := range []map[string]origin{c.sources, c.pos} {
		for k := range m {
			if k == key || strings.HasPrefix(k, key+".") || strings.HasPrefix(k, key+"[") {
				delete(m, k)
			}
		}
	}
}

// posOf is where the value at p, or the nearest enclosing key, was written;
// for a key nobody wrote, it is the config file without a line.
func (c *Config) posOf(p path) origin {
	for i := len(p); i > 0; i-- {
		if o, ok := c.pos[p[:i].String()]; ok {
			return o
		}
	}
	return c.fileOrigin()
}

func (c *Config) fileOrigin() origin {
	if c.file == "" {
		return origin{}
	}
	return origin{kind: fromFile, name: c.file}
}

func (c *Config) environmentNames() []string {
	names := make([]string, len(c.Environments))
	for i, e := range c.Environments {
		names[i] = e.Name
	}
	return names
}

func (c *Config) defined(name string) *Environment {
	for _, e := range c.Environments {
		if e.Name == name {
			return e
		}
	}
	return nil
}

func joinNames(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}
