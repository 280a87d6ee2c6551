package land_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stepper-cd/stepper/internal/land"
	"github.com/stepper-cd/stepper/internal/release"
)

// The clone cache of the privileged job is private, and what a previous
// job planted in a cached checkout (hooks, an fsmonitor command) does not
// run when the next landing reuses it.
func TestCachedCheckoutIsPrivateAndRunsNothingPlanted(t *testing.T) {
	f := newFixture(t)
	cache := filepath.Join(t.TempDir(), "git")
	if err := os.Mkdir(cache, 0o755); err != nil { // as an older stepper or a umask left it
		t.Fatal(err)
	}
	f.lander.Checkouts = &land.Checkouts{CacheDir: cache}
	first := release.Ref{Repository: "registry.example/vendor/api", Tag: "2.0.0", Digest: digest('a')}
	if _, err := f.lander.Land(t.Context(), f.spec, land.Route{Via: land.ViaCommit}, change("api", first, time.Now())); err != nil {
		t.Fatal(err)
	}
	var checkout string
	entries, err := os.ReadDir(cache)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			checkout = filepath.Join(cache, e.Name())
		}
	}
	if checkout == "" {
		t.Fatalf("no cached checkout in %s: %v", cache, entries)
	}

	marker := filepath.Join(t.TempDir(), "ran")
	payload := []byte("#!/bin/sh\necho \"$0 $*\" >>'" + marker + "'\n")
	for _, hook := range []string{"post-checkout", "reference-transaction", "post-commit", "pre-push"} {
		if err := os.WriteFile(filepath.Join(checkout, ".git", "hooks", hook), payload, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	monitor := filepath.Join(t.TempDir(), "monitor")
	if err := os.WriteFile(monitor, payload, 0o755); err != nil {
		t.Fatal(err)
	}
	config, err := os.OpenFile(filepath.Join(checkout, ".git", "config"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = config.WriteString("[core]\n\tfsmonitor = " + monitor + "\n")
	config.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{cache, checkout} {
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}

	second := release.Ref{Repository: "registry.example/vendor/api", Tag: "2.0.1", Digest: digest('b')}
	got, err := f.lander.Land(t.Context(), f.spec, land.Route{Via: land.ViaCommit}, change("api", second, time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if got.Commit != rev(t, f.repo, "master") {
		t.Errorf("landed %s; master is %s", got.Commit, rev(t, f.repo, "master"))
	}
	if content, _ := f.repo.ReadFile("master", "exttest/dsf.yaml"); !strings.Contains(content, second.Digest) {
		t.Errorf("the second landing is not on master:\n%s", content)
	}
	if ran, err := os.ReadFile(marker); err == nil {
		t.Errorf("planted commands ran in the landing:\n%s", ran)
	}
	for _, dir := range []string{cache, checkout} {
		if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: mode %v, %v; want 0700", dir, fi.Mode().Perm(), err)
		}
	}
}
