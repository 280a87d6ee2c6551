package config_test

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stepper-cd/stepper/internal/config"
	"github.com/stepper-cd/stepper/internal/exit"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/config")

// testdata is the shared fixture directory at the repository root.
const testdata = "../../testdata/config"

// load is Load with a file and nothing else; the eHealth vendor sample
// comes with its platform's file, as the platform's jobs pass it.
func load(t *testing.T, file string, mods ...func(*config.Options)) (*config.Config, error) {
	t.Helper()
	o := config.Options{Path: file, PathExplicit: file != ""}
	if filepath.Base(file) == "ehealth-helmsman.yaml" {
		o.Platform = filepath.Join(filepath.Dir(file), "ehealth-platform.yaml")
	}
	for _, m := range mods {
		m(&o)
	}
	return config.Load(context.Background(), o)
}

func mustLoad(t *testing.T, file string, mods ...func(*config.Options)) *config.Config {
	t.Helper()
	c, err := load(t, file, mods...)
	if err != nil {
		t.Fatalf("Load(%s): %v", file, err)
	}
	return c
}

func withEnv(vars ...string) func(*config.Options) {
	return func(o *config.Options) { o.Environ = append(o.Environ, vars...) }
}

func withSet(sets ...string) func(*config.Options) {
	return func(o *config.Options) { o.Sets = append(o.Sets, sets...) }
}

func withPlatform(p string) func(*config.Options) {
	return func(o *config.Options) { o.Platform = p }
}

func withProfile(p string) func(*config.Options) {
	return func(o *config.Options) { o.Profile = p }
}

// writeConfig writes text to a stepper.yaml in a fresh directory.
func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "stepper.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// configError asserts err is a usage-class *config.Error and returns it.
func configError(t *testing.T, err error) *config.Error {
	t.Helper()
	if err == nil {
		t.Fatal("Load succeeded, want an error")
	}
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %q (%T) is not a *config.Error", err, err)
	}
	if code := exit.Code(err); code != int(exit.Usage) {
		t.Errorf("exit code %d for %q, want %d", code, err, exit.Usage)
	}
	return ce
}

// golden compares got with the file at name, or rewrites it under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(name, []byte(got+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(name)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if strings.TrimRight(string(want), "\n") != strings.TrimRight(got, "\n") {
		t.Errorf("%s differs (run go test -update to accept):\n got: %s\nwant: %s", name, got, want)
	}
}
