package desiredstate

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// WriteFiles writes a document's files under dir (names are relative to
// it; absolute names are used as they are). Each file is written to a
// temporary file in the same directory and renamed over the old one, so a
// reader never sees half a file. Files whose contents did not change are
// not touched at all.
func WriteFiles(dir string, files map[string][]byte) error {
	for _, name := range sortedFiles(files) {
		path := name
		if !filepath.IsAbs(name) {
			clean := filepath.Clean(name)
			if clean == ".." || strings.HasPrefix(clean, ".."+string(filepath.Separator)) {
				return fmt.Errorf("write %s: the name leaves %s", name, dir)
			}
			path = filepath.Join(dir, clean)
		}
		if err := writeAtomic(path, files[name]); err != nil {
			return err
		}
	}
	return nil
}

func writeAtomic(path string, data []byte) (err error) {
	mode := os.FileMode(0o644)
	if fi, statErr := os.Stat(path); statErr == nil {
		mode = fi.Mode().Perm()
		if old, readErr := os.ReadFile(path); readErr == nil && bytes.Equal(old, data) {
			return nil
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err == nil {
		err = tmp.Sync()
	}
	if closeErr := tmp.Close(); err == nil {
		err = closeErr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), mode)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
