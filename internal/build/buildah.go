package build

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// buildahBuilder builds a Dockerfile with buildah: daemonless, rootless if
// need be, and at home in CI images. Each build gets its own storage, so
// nothing leaks between builds and nothing needs cleaning but a directory.
type buildahBuilder struct{}

func (buildahBuilder) build(ctx context.Context, b *Builders, r *Request, work string) (v1.Image, *baseImage, error) {
	buildah, err := b.tool(Buildah, "buildah")
	if err != nil {
		return nil, nil, err
	}
	d, err := b.prepareDockerfile(ctx, r)
	if err != nil {
		return nil, nil, err
	}
	storage := filepath.Join(work, "storage")
	defer os.RemoveAll(storage)
	// The run root must be short: buildah's storage refuses run roots
	// longer than 50 characters, which nested temporary directories are.
	runroot, err := os.MkdirTemp("", "stepper-run")
	if err != nil {
		return nil, nil, fmt.Errorf("buildah run root: %w", err)
	}
	defer os.RemoveAll(runroot)
	global := []string{buildah, "--root", storage, "--runroot", runroot, "--storage-driver", "vfs"}

	iidfile := filepath.Join(work, "iid")
	if err := b.run(ctx, "buildah bud", d.context, secretEnv(d.secrets), buildahBudArgs(global, d, r, iidfile)...); err != nil {
		return nil, nil, err
	}
	id, err := os.ReadFile(iidfile)
	if err != nil {
		return nil, nil, fmt.Errorf("buildah bud wrote no image id: %w", err)
	}
	dir := filepath.Join(work, "image")
	push := append(append([]string{}, global...), "push", "--quiet", strings.TrimSpace(string(id)), "oci:"+dir+":image")
	if err := b.run(ctx, "buildah push", work, nil, push...); err != nil {
		return nil, nil, err
	}
	img, err := loadLayout(dir, "")
	if err != nil {
		return nil, nil, err
	}
	return img, d.base, nil
}

// buildahBudArgs is the buildah bud command line: chroot isolation and vfs
// storage work without privileges or a kernel overlay; no layer cache, as
// each build starts from empty storage anyway; the timestamp makes the
// image's dates the request's.
func buildahBudArgs(global []string, d *dockerfileBuild, r *Request, iidfile string) []string {
	args := append(append([]string{}, global...), "bud",
		"--isolation", "chroot",
		"--layers=false",
		"--timestamp", d.created,
		"--tls-verify="+strconv.FormatBool(!r.Insecure && !(d.base != nil && loopback(d.base.Digest.RegistryStr()))),
		"--iidfile", iidfile,
		"-f", d.dockerfile)
	if r.Platform != "" {
		args = append(args, "--platform", r.Platform)
	}
	args = append(args, buildArgFlags("--build-arg", d.buildArgs)...)
	args = append(args, secretFlags(d.secrets)...)
	return append(args, d.context)
}

// loopback reports whether a registry host is on this machine, which is
// plain HTTP the way go-containerregistry treats it; buildah would insist on
// TLS unless told.
func loopback(host string) bool {
	h, _, err := net.SplitHostPort(host)
	if err != nil {
		h = host
	}
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
