package build

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// writeLayerTar packs src (a file or a directory) into a layer tar at dest
// in the image, the same bytes for the same files: entries in name order,
// every date mtime, owner own, the modes as on disk, and dest's parent
// directories as root-owned 0755 entries.
func writeLayerTar(src, dest string, own owner, mtime time.Time, tarPath string) (err error) {
	f, err := os.Create(tarPath)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	tw := tar.NewWriter(f)
	w := layerWriter{tw: tw, own: own, mtime: mtime}
	name := strings.TrimPrefix(dest, "/")
	if name != "" {
		if err := w.parents(name); err != nil {
			return err
		}
	}
	err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		entry := path.Join(name, filepath.ToSlash(rel))
		if entry == "" || entry == "." {
			return nil // the image's root is the base's
		}
		return w.add(p, entry)
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

type layerWriter struct {
	tw    *tar.Writer
	own   owner
	mtime time.Time
}

// parents writes the directories above name, root's own.
func (w layerWriter) parents(name string) error {
	dir := path.Dir(name)
	if dir == "." {
		return nil
	}
	if err := w.parents(dir); err != nil {
		return err
	}
	return w.tw.WriteHeader(&tar.Header{
		Typeflag: tar.TypeDir, Name: dir + "/", Mode: 0o755, ModTime: w.mtime,
	})
}

// add writes the file at p as entry.
func (w layerWriter) add(p, entry string) error {
	info, err := os.Lstat(p)
	if err != nil {
		return err
	}
	h := &tar.Header{
		Name:    entry,
		Mode:    int64(info.Mode().Perm()),
		Uid:     w.own.uid,
		Gid:     w.own.gid,
		ModTime: w.mtime,
	}
	mode := info.Mode()
	if mode&fs.ModeSetuid != 0 {
		h.Mode |= 0o4000
	}
	if mode&fs.ModeSetgid != 0 {
		h.Mode |= 0o2000
	}
	if mode&fs.ModeSticky != 0 {
		h.Mode |= 0o1000
	}
	switch {
	case mode.IsDir():
		h.Typeflag, h.Name = tar.TypeDir, entry+"/"
		return w.tw.WriteHeader(h)
	case mode&fs.ModeSymlink != 0:
		target, err := os.Readlink(p)
		if err != nil {
			return err
		}
		h.Typeflag, h.Linkname = tar.TypeSymlink, target
		return w.tw.WriteHeader(h)
	case mode.IsRegular():
		h.Typeflag, h.Size = tar.TypeReg, info.Size()
		if err := w.tw.WriteHeader(h); err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		n, err := io.Copy(w.tw, f)
		if err == nil && n != info.Size() {
			err = fmt.Errorf("%s changed while being packed", p)
		}
		return err
	}
	return fmt.Errorf("%s is a %s, which a layer cannot hold", p, mode.Type())
}
