package helm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"helm.sh/helm/v4/pkg/chart/loader/archive"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/ignore"

	"github.com/stepper-cd/stepper/internal/exit"
)

// This file reads what a desired state names (chart paths, values files)
// only inside the checkout it came from, and checks cached chart packages
// against the repository's index before they are used: the privileged
// apply job must not be made to read a file of the agent, nor install a
// package someone changed on disk.

// ConfinedName turns a path a desired state names into a name inside its
// checkout root: slash-separated, relative, with no ".." leaving the root.
// An absolute path or one that climbs out is a usage error.
func ConfinedName(what, p string) (string, error) {
	if p == "" {
		return "", exit.Usagef("%s: empty path", what)
	}
	if filepath.IsAbs(p) || strings.HasPrefix(p, "/") {
		return "", exit.Usagef("%s %q is an absolute path: name a file inside the desired-state checkout, relative to it", what, p)
	}
	name := path.Clean(filepath.ToSlash(p))
	if !fs.ValidPath(name) {
		return "", exit.Usagef("%s %q leaves the desired-state checkout: name a file inside it", what, p)
	}
	return name, nil
}

// confinedError explains a failure to read name inside root.
func confinedError(what, name string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return exit.Usagef("%s %s: no such file in the desired-state checkout", what, name)
	}
	// os.Root reports "path escapes from parent" for a symlink or ".." out
	// of the root.
	if strings.Contains(err.Error(), "escapes") {
		return exit.Usagef("%s %s leads out of the desired-state checkout (a symlink or ..): refused; keep the file inside the checkout", what, name)
	}
	return exit.Usagef("%s %s: %v", what, name, err)
}

// ReadConfined reads name inside fsys, refusing what leads outside it.
func ReadConfined(fsys fs.FS, what, name string) ([]byte, error) {
	name, err := ConfinedName(what, name)
	if err != nil {
		return nil, err
	}
	data, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, confinedError(what, name, err)
	}
	return data, nil
}

// loadConfined loads the chart directory or .tgz name inside fsys. A chart
// directory is read file by file through fsys, honouring .helmignore, so a
// symlink in the chart that points out of the checkout is refused too.
func loadConfined(fsys fs.FS, p string) (*LoadedChart, error) {
	name, err := ConfinedName("chart path", p)
	if err != nil {
		return nil, err
	}
	fi, err := fs.Stat(fsys, name)
	if err != nil {
		return nil, confinedError("chart path", name, err)
	}
	if !fi.IsDir() {
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, confinedError("chart path", name, err)
		}
		ch, err := loader.LoadArchive(bytes.NewReader(data))
		if err != nil {
			return nil, exit.Failedf("chart %s: %w", p, err)
		}
		return newLoadedChart(ch, p, sha256Digest(data)), nil
	}
	sub, err := fs.Sub(fsys, name)
	if err != nil {
		return nil, confinedError("chart path", name, err)
	}
	rules := ignore.Empty()
	if data, err := fs.ReadFile(sub, ignore.HelmIgnore); err == nil {
		if rules, err = ignore.Parse(bytes.NewReader(data)); err != nil {
			return nil, exit.Failedf("chart %s: %s: %w", p, ignore.HelmIgnore, err)
		}
	}
	rules.AddDefaults()
	var files []*archive.BufferedFile
	var total int64
	err = fs.WalkDir(sub, ".", func(n string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if n == "." {
			return nil
		}
		fi, err := fs.Stat(sub, n) // follows a symlink, inside the root only
		if err != nil {
			return confinedError("chart file", path.Join(name, n), err)
		}
		if rules.Ignore(n, fi) {
			if fi.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if fi.IsDir() {
			if d.Type()&fs.ModeSymlink != 0 {
				return exit.Usagef("chart %s: %s is a symlink to a directory; copy the directory into the chart", p, n)
			}
			return nil
		}
		if !fi.Mode().IsRegular() {
			return exit.Usagef("chart %s: %s is not a regular file", p, n)
		}
		if total += fi.Size(); total > archive.MaxDecompressedChartSize {
			return exit.Usagef("chart %s is larger than %d MiB", p, archive.MaxDecompressedChartSize>>20)
		}
		data, err := fs.ReadFile(sub, n)
		if err != nil {
			return confinedError("chart file", path.Join(name, n), err)
		}
		files = append(files, &archive.BufferedFile{Name: n, ModTime: fi.ModTime(), Data: bytes.TrimPrefix(data, []byte("\xEF\xBB\xBF"))})
		return nil
	})
	if err != nil {
		if c := exit.ClassOf(err); c == exit.Usage || c == exit.Failed {
			return nil, err
		}
		return nil, confinedError("chart path", name, err)
	}
	ch, err := loader.LoadFiles(files)
	if err != nil {
		return nil, exit.Failedf("chart %s: %w", p, err)
	}
	return newLoadedChart(ch, p, ""), nil
}

// checkCached checks a chart package read from the disk cache against the
// digest its repository's index lists, on every read: the cache is a
// directory on the agent that anyone with its user can write. A package
// that does not match is removed and refused. OCI charts are not checked
// here yet.
func (c *Client) checkCached(ctx context.Context, ref ChartRef, file string, data []byte) error {
	if ref.isOCI() {
		return nil
	}
	idx, err := c.index(ctx, ref.Repo)
	if err != nil {
		return err
	}
	want := ""
	for _, e := range idx.Entries[ref.Name] {
		if e.Version == ref.Version {
			want = e.Digest
		}
	}
	if want == "" {
		return exit.Failedf("chart %s: the index of %s lists no digest for it, so the cached package %s cannot be checked; "+
			"have the repository re-indexed (helm repo index)", ref, ref.Repo, file)
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); !strings.EqualFold(got, strings.TrimPrefix(want, "sha256:")) {
		_ = os.Remove(file)
		return exit.Failedf("chart %s: the cached package %s has sha256 %s, but the index of %s says %s: "+
			"the cache was changed after the download; it is removed, so the next run downloads the chart afresh. "+
			"Find out who can write the cache directory", ref, file, got, ref.Repo, want)
	}
	return nil
}

// CheckValueFiles reads and parses values files inside fsys as an upgrade
// would, so that a desired state naming a file it may not read is refused
// before anything is written to a cluster.
func CheckValueFiles(fsys fs.FS, names []string) error {
	_, err := mergeValues(RenderOptions{ValueFiles: names, ValuesFS: fsys})
	return err
}
