package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadFiles loads every file under testdata/config/bad and compares the
// error with the golden message next to it (name.yaml -> name.err). Each
// must be a clean *config.Error with a location, never a panic.
func TestBadFiles(t *testing.T) {
	dir := filepath.Join(testdata, "bad")
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no bad fixtures in %s: %v", dir, err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			_, err := load(t, file)
			ce := configError(t, err)
			if ce.File != file {
				t.Errorf("File = %q, want %q", ce.File, file)
			}
			msg := strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), "")
			golden(t, strings.TrimSuffix(file, ".yaml")+".err", msg)
		})
	}
}

// TestBadFilesHaveLines checks the golden messages point at a line
// wherever the problem has one.
func TestBadFilesHaveLines(t *testing.T) {
	lineless := map[string]bool{ // problems of the whole file, or of no single line
		"empty": true, "comments-only": true, "no-chain-selected": true,
	}
	files, _ := filepath.Glob(filepath.Join(testdata, "bad", "*.err"))
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".err")
		msg, _ := os.ReadFile(file)
		if !lineless[name] && !strings.HasPrefix(string(msg), name+".yaml:") {
			t.Errorf("%s: want a file:line location, got %q", name, msg)
		}
	}
}

func TestFileTooLarge(t *testing.T) {
	big := "profile: ehealth\n# " + strings.Repeat("x", 1<<20) + "\n"
	_, err := load(t, writeConfig(t, big))
	ce := configError(t, err)
	if !strings.Contains(ce.Problem, "larger than 1 MiB") {
		t.Errorf("got %q", err)
	}
}

func TestHugeValuesAreCutShortInMessages(t *testing.T) {
	huge := strings.Repeat("a", 200_000)
	for _, text := range []string{
		"registry:\n  host: " + huge + "/x\n", // a value
		"registry:\n  " + huge + ": x\n",      // an unknown key
		"chains:\n  " + huge + ": [a]\n",      // a bad map key
	} {
		_, err := load(t, writeConfig(t, text))
		configError(t, err)
		if len(err.Error()) > 600 {
			t.Errorf("message is %d bytes long: %.200s", len(err.Error()), err)
		}
	}
}
