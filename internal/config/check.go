package config

import (
	"errors"
	"fmt"
	"reflect"

	"github.com/stepper-cd/stepper/internal/exit"
)

// Load accepts a configuration with gaps, because the profile cannot know a
// vendor's repository URL and a verb like validate needs none of it. A verb
// states what it needs with Require or Check, and gets every gap at once,
// each with the three ways to fill it.

// Require reports, in one error, every key among keys that has no value.
// keys are paths as --set takes them: "registry.host", "signing.key",
// "environments.preprod.desiredState.repo".
func (c *Config) Require(keys ...string) error {
	var errs []error
	for _, key := range keys {
		if err := c.require(key); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return exit.Mark(exit.Usage, errors.Join(errs...))
}

func (c *Config) require(key string) error {
	segs, ok := parseDotted(key)
	if !ok {
		return fmt.Errorf("config: %q is not a key path", key)
	}
	d := &decoder{layer: c.fileOrigin(), c: c}
	sl, err := d.resolve(segs, false)
	if err != nil {
		return err
	}
	if !sl.get.IsValid() || sl.get.IsZero() || (sl.get.Kind() == reflect.Slice && sl.get.Len() == 0) {
		return missing(c, sl.p)
	}
	return nil
}

func missing(c *Config, p path) error {
	return &Error{
		File:    c.file,
		Path:    p.String(),
		Problem: "is not set",
		Hint:    fmt.Sprintf("add it to stepper.yaml, or set %s or %s %s=...", p.envVar(), c.flagName(), p.dotted()),
	}
}

// Check reports every key the environment needs before a verb can change
// it: where its desired state lives, and what its way of landing needs.
func (e *Environment) Check() error {
	base := "environments." + e.Name + "."
	keys := []string{
		base + "desiredState.repo",
		base + "desiredState.branch",
		base + "desiredState.path",
		base + "desiredState.format",
	}
	switch e.Land.Via {
	case ViaMergeRequest:
		keys = append(keys, base+"land.targetBranch", "gitlab.url", "gitlab.token")
	case ViaJenkins:
		keys = append(keys, base+"land.job", "jenkins.url", "jenkins.token")
	case ViaTag:
		keys = append(keys, base+"tagPrefix")
	}
	cfg := e.cfg
	if cfg == nil { // built by hand, not by Load: check it on its own
		cfg = &Config{Environments: []*Environment{e}}
	}
	return cfg.Require(keys...)
}
