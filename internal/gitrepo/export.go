package gitrepo

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
)

// Export writes the tree of commit rev into dir (which must exist and be
// empty), as it was at that commit: what a rollback reads the desired
// state of an earlier release from, without touching the checkout. Files
// and symbolic links are written inside dir only; a link that would point
// out of it is refused, as is a path that would leave it.
func (r *Repo) Export(ctx context.Context, rev, dir string) error {
	if strings.HasPrefix(rev, "-") || rev == "" {
		return fmt.Errorf("export %q: not a revision", rev)
	}
	out, err := r.git(ctx, "", "archive", "--format=tar", rev)
	if err != nil {
		return fmt.Errorf("read commit %s of %s: %w", rev, r.safeURL, err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	tr := tar.NewReader(strings.NewReader(out))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read commit %s: %w", rev, err)
		}
		name := path.Clean(h.Name)
		if name == "." || h.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		if err := exportEntry(root, name, h, tr); err != nil {
			return fmt.Errorf("read commit %s: %s: %w", rev, h.Name, err)
		}
	}
}

func exportEntry(root *os.Root, name string, h *tar.Header, body io.Reader) error {
	switch h.Typeflag {
	case tar.TypeDir:
		return root.MkdirAll(name, 0o755)
	case tar.TypeReg:
		if err := root.MkdirAll(path.Dir(name), 0o755); err != nil {
			return err
		}
		f, err := root.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, os.FileMode(h.Mode)&0o755|0o600)
		if err != nil {
			return err
		}
		_, err = io.Copy(f, body)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	case tar.TypeSymlink:
		target := h.Linkname
		if path.IsAbs(target) || !pathLocal(path.Join(path.Dir(name), target)) {
			return fmt.Errorf("symbolic link to %q leaves the repository", target)
		}
		if err := root.MkdirAll(path.Dir(name), 0o755); err != nil {
			return err
		}
		return root.Symlink(target, name)
	}
	return nil // submodules (commits) and the like have no content here
}

func pathLocal(p string) bool {
	p = path.Clean(p)
	return p != ".." && !strings.HasPrefix(p, "../") && !path.IsAbs(p)
}
