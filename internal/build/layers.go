package build

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/stepper-cd/stepper/internal/exit"
)

// layersBuilder appends the application's files to an approved base image
// as new layers, as ko does: in-process, without a daemon or a Dockerfile,
// and reproducible, since every date is the request's and every tar is
// written the same way. The base's layers stay the registry's, so a push
// mounts them.
type layersBuilder struct{}

func (layersBuilder) build(ctx context.Context, b *Builders, r *Request, work string) (v1.Image, *baseImage, error) {
	if r.Base == "" {
		return nil, nil, exit.Usagef("builder %s needs --base, the approved base image to put the layers on", Layers)
	}
	if len(r.Layers) == 0 {
		return nil, nil, exit.Usagef("builder %s needs at least one --layer SRC[:DEST]", Layers)
	}
	own, err := parseChown(r.Chown)
	if err != nil {
		return nil, nil, err
	}
	if err := r.Config.validate(); err != nil {
		return nil, nil, err
	}
	base, err := b.checkBase(ctx, r, "--base", r.Base)
	if err != nil {
		return nil, nil, err
	}
	mediaType := types.DockerLayer
	if mt, err := base.image.MediaType(); err == nil && mt == types.OCIManifestSchema1 {
		mediaType = types.OCILayer
	}
	var adds []mutate.Addendum
	for i, spec := range r.Layers {
		layer, err := appLayer(spec, r, own, mediaType, filepath.Join(work, fmt.Sprintf("layer-%d.tar", i)))
		if err != nil {
			return nil, nil, err
		}
		adds = append(adds, mutate.Addendum{
			Layer:   layer,
			History: v1.History{Created: v1.Time{Time: r.Created}, CreatedBy: "stepper build --layer " + spec},
		})
	}
	img, err := mutate.Append(base.image, adds...)
	if err != nil {
		return nil, nil, fmt.Errorf("append layers: %w", err)
	}
	cfg, err := base.image.ConfigFile()
	if err != nil {
		return nil, nil, fmt.Errorf("read base image config: %w", err)
	}
	if img, err = mutate.Config(img, r.Config.apply(cfg.Config)); err != nil {
		return nil, nil, err
	}
	if img, err = mutate.CreatedAt(img, v1.Time{Time: r.Created}); err != nil {
		return nil, nil, err
	}
	return img, base, nil
}

// appLayer makes the layer for one SRC[:DEST].
func appLayer(spec string, r *Request, own owner, mediaType types.MediaType, tarPath string) (v1.Layer, error) {
	src, dest, hasDest := strings.Cut(spec, ":")
	if src == "" || hasDest && dest == "" {
		return nil, exit.Usagef("--layer %q: want SRC[:DEST]", spec)
	}
	if !filepath.IsAbs(src) && r.Context != "" {
		src = filepath.Join(r.Context, src)
	}
	info, err := os.Stat(src)
	if err != nil {
		return nil, exit.Usagef("--layer %q: %s not found (SRC is relative to --context)", spec, src)
	}
	if isTarball(src) && !info.IsDir() {
		if hasDest {
			return nil, exit.Usagef("--layer %q: a tarball is used as it is, so it takes no DEST", spec)
		}
		if strings.HasSuffix(src, ".tar") {
			return gzipLayer(src, tarPath, mediaType)
		}
		return tarball.LayerFromFile(src, tarball.WithMediaType(mediaType))
	}
	if !hasDest {
		dest = "/" + filepath.Base(src)
	} else if !info.IsDir() && strings.HasSuffix(dest, "/") {
		dest += filepath.Base(src) // a file into a directory, as COPY does
	}
	if err := writeLayerTar(src, path.Clean("/"+dest), own, r.Created, tarPath); err != nil {
		return nil, fmt.Errorf("--layer %q: %w", spec, err)
	}
	return gzipLayer(tarPath, tarPath, mediaType)
}

func isTarball(name string) bool {
	for _, ext := range []string{".tar", ".tar.gz", ".tgz"} {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}

// owner owns the files of packed layers.
type owner struct{ uid, gid int }

func parseChown(s string) (owner, error) {
	if s == "" {
		return owner{}, nil
	}
	u, g, hasGroup := strings.Cut(s, ":")
	if !hasGroup {
		g = u
	}
	uid, err1 := strconv.Atoi(u)
	gid, err2 := strconv.Atoi(g)
	if err1 != nil || err2 != nil || uid < 0 || gid < 0 {
		return owner{}, exit.Usagef("chown %q: want UID[:GID], numbers, since the image's users are not this machine's", s)
	}
	return owner{uid, gid}, nil
}

func (c ImageConfig) validate() error {
	for _, e := range c.Env {
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
			return exit.Usagef("env %q: want KEY=VALUE", e)
		}
	}
	for _, p := range c.ExposedPorts {
		if _, err := exposedPort(p); err != nil {
			return err
		}
	}
	return nil
}

// exposedPort normalizes PORT[/PROTO] to the config's PORT/PROTO key.
func exposedPort(p string) (string, error) {
	port, proto, hasProto := strings.Cut(p, "/")
	if !hasProto {
		proto = "tcp"
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 || proto != "tcp" && proto != "udp" && proto != "sctp" {
		return "", exit.Usagef("exposed port %q: want PORT[/tcp|udp|sctp]", p)
	}
	return strconv.Itoa(n) + "/" + proto, nil
}

// apply sets c's fields on the base's runtime config.
func (c ImageConfig) apply(cfg v1.Config) v1.Config {
	if c.User != "" {
		cfg.User = c.User
	}
	if c.Entrypoint != nil {
		cfg.Entrypoint, cfg.Cmd = slices.Clone(c.Entrypoint), slices.Clone(c.Cmd)
	} else if c.Cmd != nil {
		cfg.Cmd = slices.Clone(c.Cmd)
	}
	if c.WorkingDir != "" {
		cfg.WorkingDir = c.WorkingDir
	}
	env := slices.Clone(cfg.Env)
	for _, e := range c.Env {
		k, _, _ := strings.Cut(e, "=")
		env = slices.DeleteFunc(env, func(old string) bool { return strings.HasPrefix(old, k+"=") })
		env = append(env, e)
	}
	cfg.Env = env
	if len(c.ExposedPorts) > 0 {
		ports := maps.Clone(cfg.ExposedPorts)
		if ports == nil {
			ports = map[string]struct{}{}
		}
		for _, p := range c.ExposedPorts {
			key, _ := exposedPort(p)
			ports[key] = struct{}{}
		}
		cfg.ExposedPorts = ports
	}
	if len(c.Labels) > 0 {
		labels := maps.Clone(cfg.Labels)
		if labels == nil {
			labels = map[string]string{}
		}
		maps.Copy(labels, c.Labels)
		cfg.Labels = labels
	}
	return cfg
}
