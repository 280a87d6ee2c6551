package config_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stepper-cd/stepper/internal/config"
	"github.com/stepper-cd/stepper/internal/exit"
)

// FuzzLoad feeds arbitrary bytes to Load as stepper.yaml. Whatever the
// input, Load must not panic or hang, and must return either a configuration
// that renders in both formats or a usage-class *config.Error. The seed
// corpus is every fixture under testdata/config; without -fuzz the seeds
// run as a normal test.
//
//	go test ./internal/config -run '^$' -fuzz FuzzLoad -fuzztime 60s -fuzzminimizetime 5s
//
// (Minimizing each new input takes up to a minute by default, during which
// the exec count stands still.)
func FuzzLoad(f *testing.F) {
	for _, pattern := range []string{"*.yaml", "bad/*.yaml"} {
		files, _ := filepath.Glob(filepath.Join(testdata, pattern))
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		file := filepath.Join(dir, "stepper.yaml")
		if err := os.WriteFile(file, data, 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := config.Load(context.Background(), config.Options{
			Path: file, PathExplicit: true,
			Environ: []string{"STEPPER_REGISTRY_INSECURE=false", "STEPPER_ENVIRONMENTS_PROD_LAND_VIA=jenkins"},
		})
		if err != nil {
			var ce *config.Error
			if !errors.As(err, &ce) || exit.Code(err) != int(exit.Usage) {
				t.Fatalf("Load error %q (%T) is not a usage *config.Error", err, err)
			}
			if ce.File == "" {
				t.Fatalf("error without a location: %q", err)
			}
			return
		}
		for _, format := range []string{"yaml", "json"} {
			if err := c.WriteEffective(&bytes.Buffer{}, format, config.WithSources()); err != nil {
				t.Fatalf("WriteEffective(%s): %v", format, err)
			}
		}
		for _, e := range c.Chain() {
			_ = e.Check()
			c.Next(e.Name)
			c.Previous(e.Name)
		}
	})
}

// FuzzOverrides feeds arbitrary --set flags and variable values.
func FuzzOverrides(f *testing.F) {
	f.Add("registry.host", "127.0.0.1:5000", "STEPPER_CHAIN", "vendor")
	f.Add("environments[preprod].land.via", "pr", "STEPPER_ENVIRONMENTS_PROD_LAND_PARAMETERS_X", "1")
	f.Add("chains.vendor", "devenvcgi,exttest", "STEPPER_REGISTRY_INSECURE", "maybe")
	f.Add("environments.new.desiredState.repo", "https://u:p@h/x.git", "STEPPER_", "x")
	f.Fuzz(func(t *testing.T, key, value, name, envValue string) {
		_, err := config.Load(context.Background(), config.Options{
			Profile: "ehealth",
			Sets:    []string{key + "=" + value},
			Environ: []string{name + "=" + envValue},
		})
		if err != nil {
			var ce *config.Error
			if !errors.As(err, &ce) || exit.Code(err) != int(exit.Usage) {
				t.Fatalf("error %q (%T) is not a usage *config.Error", err, err)
			}
		}
	})
}
