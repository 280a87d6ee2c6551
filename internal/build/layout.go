package build

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// loadLayout reads the one image of an OCI layout directory, choosing by
// platform when the layout holds several.
func loadLayout(dir, platform string) (v1.Image, error) {
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("read OCI layout %s: %w", dir, err)
	}
	var want *v1.Platform
	if platform != "" {
		if want, err = v1.ParsePlatform(platform); err != nil {
			return nil, fmt.Errorf("platform %q: %w", platform, err)
		}
	}
	images, err := collectImages(idx, want)
	if err != nil {
		return nil, fmt.Errorf("read OCI layout %s: %w", dir, err)
	}
	switch len(images) {
	case 1:
		return images[0].image, nil
	case 0:
		if want != nil {
			return nil, fmt.Errorf("OCI layout %s holds no image for platform %s", dir, platform)
		}
		return nil, fmt.Errorf("OCI layout %s holds no image", dir)
	}
	var names []string
	for _, i := range images {
		names = append(names, i.platform)
	}
	return nil, fmt.Errorf("OCI layout %s holds %d images (%s): choose one with --platform", dir, len(images), strings.Join(names, ", "))
}

type platformImage struct {
	image    v1.Image
	platform string
}

// collectImages lists the images an index holds, nested indexes included,
// leaving out attestation manifests (platform unknown/unknown) and images
// for other platforms.
func collectImages(idx v1.ImageIndex, want *v1.Platform) ([]platformImage, error) {
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var out []platformImage
	for _, d := range m.Manifests {
		if p := d.Platform; p != nil && (p.OS == "unknown" || want != nil && !p.Satisfies(*want)) {
			continue
		}
		switch {
		case d.MediaType.IsIndex():
			child, err := idx.ImageIndex(d.Digest)
			if err != nil {
				return nil, err
			}
			nested, err := collectImages(child, want)
			if err != nil {
				return nil, err
			}
			out = append(out, nested...)
		case d.MediaType.IsImage():
			img, err := idx.Image(d.Digest)
			if err != nil {
				return nil, err
			}
			name := d.Digest.String()
			if d.Platform != nil {
				name = d.Platform.String()
			}
			out = append(out, platformImage{image: img, platform: name})
		}
	}
	return out, nil
}

// untar unpacks an OCI layout tarball into dir, refusing entries that would
// land outside it.
func untar(file, dir string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", file, err)
		}
		target := filepath.Join(dir, filepath.FromSlash(h.Name))
		if !strings.HasPrefix(target, filepath.Clean(dir)+string(filepath.Separator)) {
			return fmt.Errorf("read %s: entry %q leaves the layout", file, h.Name)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			out, err := os.Create(target)
			if err != nil {
				return err
			}
			_, err = io.Copy(out, tr)
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("read %s: %w", file, err)
			}
		}
	}
}
