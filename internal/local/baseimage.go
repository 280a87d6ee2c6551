package local

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// BaseImageUID is the non-root user BaseImage defines, as distroless's
// nonroot.
const BaseImageUID = 65532

// BaseImage builds a small base image in-process, the same bytes every time
// on a given architecture: a first layer with /etc/passwd (root and
// nonroot:65532), /etc/group, /tmp and /home/nonroot, and a second with
// /etc/os-release. It has no shell, as distroless has none, so Dockerfiles
// built on it may COPY and set USER but not RUN.
func BaseImage() (v1.Image, error) {
	epoch := time.Unix(0, 0).UTC()
	passwd := "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	group := "root:x:0:\nnonroot:x:65532:\n"
	first, err := tarLayer([]tarEntry{
		{name: "etc/", mode: 0o755},
		{name: "etc/group", mode: 0o644, body: group},
		{name: "etc/passwd", mode: 0o644, body: passwd},
		{name: "home/", mode: 0o755},
		{name: "home/nonroot/", mode: 0o700, uid: BaseImageUID},
		{name: "tmp/", mode: 0o1777},
	})
	if err != nil {
		return nil, err
	}
	second, err := tarLayer([]tarEntry{
		{name: "etc/os-release", mode: 0o644, body: "ID=stepper-test-base\nNAME=\"stepper test base\"\n"},
	})
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img,
		mutate.Addendum{Layer: first, History: v1.History{Created: v1.Time{Time: epoch}, CreatedBy: "testenv base: users"}},
		mutate.Addendum{Layer: second, History: v1.History{Created: v1.Time{Time: epoch}, CreatedBy: "testenv base: os-release"}})
	if err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", runtime.GOARCH
	cfg.Created = v1.Time{Time: epoch}
	cfg.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	return mutate.ConfigFile(img, cfg)
}

// PushBaseImage pushes BaseImage to registryHost/repo, tagged latest, and
// returns its digest reference, the form an approved base image list pins.
func PushBaseImage(ctx context.Context, registryHost, repo string) (name.Digest, error) {
	img, err := BaseImage()
	if err != nil {
		return name.Digest{}, fmt.Errorf("build base image: %w", err)
	}
	return pushBase(ctx, registryHost, repo, img)
}

// PushNonRootBaseImage pushes BaseImage with its user set to nonroot
// (65532:65532), as distroless's :nonroot images are: an image built on it
// runs as non-root unless it says otherwise.
func PushNonRootBaseImage(ctx context.Context, registryHost, repo string) (name.Digest, error) {
	img, err := BaseImage()
	if err != nil {
		return name.Digest{}, fmt.Errorf("build base image: %w", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return name.Digest{}, fmt.Errorf("build base image: %w", err)
	}
	cfg = cfg.DeepCopy()
	cfg.Config.User = fmt.Sprintf("%d:%d", BaseImageUID, BaseImageUID)
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		return name.Digest{}, fmt.Errorf("build base image: %w", err)
	}
	return pushBase(ctx, registryHost, repo, img)
}

func pushBase(ctx context.Context, registryHost, repo string, img v1.Image) (name.Digest, error) {
	tag, err := name.NewTag(registryHost+"/"+repo+":latest", name.Insecure)
	if err != nil {
		return name.Digest{}, fmt.Errorf("push base image: %w", err)
	}
	if err := remote.Write(tag, img, remote.WithContext(ctx)); err != nil {
		return name.Digest{}, fmt.Errorf("push base image %s: %w", tag, err)
	}
	digest, err := img.Digest()
	if err != nil {
		return name.Digest{}, err
	}
	return tag.Context().Digest(digest.String()), nil
}

type tarEntry struct {
	name string
	mode int64
	uid  int
	body string
}

// tarLayer packs entries, dated at the epoch, into an OCI layer.
func tarLayer(entries []tarEntry) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, Uid: e.uid, Gid: e.uid, ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg, Size: int64(len(e.body))}
		if e.name[len(e.name)-1] == '/' {
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer))
}
