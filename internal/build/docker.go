package build

import (
	"context"
	"os/exec"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/stepper-cd/stepper/internal/exit"
)

// dockerBuilder builds a Dockerfile with docker buildx, where a Docker
// engine answers, and takes the image as an OCI tarball rather than from the
// engine's store.
type dockerBuilder struct{}

func (dockerBuilder) build(ctx context.Context, b *Builders, r *Request, work string) (v1.Image, *baseImage, error) {
	docker, err := b.tool(Docker, "docker")
	if err != nil {
		return nil, nil, err
	}
	if !b.dockerAnswers(docker) {
		return nil, nil, exit.Usagef("builder docker needs a Docker engine, and `docker info` found none: start one or choose another --builder (%s needs none)", Layers)
	}
	d, err := b.prepareDockerfile(ctx, r)
	if err != nil {
		return nil, nil, err
	}
	tarball := filepath.Join(work, "image.tar")
	args := []string{docker, "buildx", "build", "-f", d.dockerfile, "--provenance=false"}
	if r.Platform != "" {
		args = append(args, "--platform", r.Platform)
	}
	args = append(args, buildArgFlags("--build-arg", d.buildArgs)...)
	args = append(args, secretFlags(d.secrets)...)
	args = append(args, "--output", "type=oci,dest="+tarball, d.context)
	// BuildKit dates the image from SOURCE_DATE_EPOCH.
	if err := b.run(ctx, "docker buildx build", d.context, append([]string{"SOURCE_DATE_EPOCH=" + d.created}, secretEnv(d.secrets)...), args...); err != nil {
		return nil, nil, err
	}
	dir := filepath.Join(work, "image")
	if err := untar(tarball, dir); err != nil {
		return nil, nil, err
	}
	img, err := loadLayout(dir, r.Platform)
	if err != nil {
		return nil, nil, err
	}
	return img, d.base, nil
}

// dockerAnswers tells whether a Docker engine answers `docker info`.
func (b *Builders) dockerAnswers(docker string) bool {
	cmd := exec.Command(docker, "info")
	cmd.Env = b.toolEnviron()
	cmd.WaitDelay = time.Second
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		return false
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err == nil
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		return false
	}
}
