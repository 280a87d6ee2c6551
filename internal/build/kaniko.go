package build

import (
	"context"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/stepper-cd/stepper/internal/exit"
)

// kanikoBuilder builds a Dockerfile inside a kaniko job, the executor image
// GitLab runners on Kubernetes use where no daemon may run.
type kanikoBuilder struct{}

func (kanikoBuilder) build(ctx context.Context, b *Builders, r *Request, work string) (v1.Image, *baseImage, error) {
	executor := b.kanikoExecutor()
	if !isExecutable(executor) {
		return nil, nil, exit.Usagef("builder kaniko needs %s, which is missing: run the job in the kaniko executor image or choose another --builder (%s needs no tool)", executor, Layers)
	}
	d, err := b.prepareDockerfile(ctx, r)
	if err != nil {
		return nil, nil, err
	}
	// kaniko has no secret mounts: a --build-arg would put the credential
	// in argv and in the image's history.
	if len(d.secrets) > 0 {
		return nil, nil, exit.Usagef("build argument %s looks like a credential (its name matches %s) and kaniko can only pass it as --build-arg, which lands in the image's history: use --builder buildah or docker, which mount it as a secret, or rename the argument if it holds no credential", d.secrets[0].id, SecretArgName)
	}
	dir := filepath.Join(work, "image")
	// --reproducible dates everything at the epoch; the created annotation
	// and label still carry the request's time.
	args := []string{executor, "--context", d.context, "--dockerfile", d.dockerfile}
	args = append(args, buildArgFlags("--build-arg", d.buildArgs)...)
	args = append(args, "--no-push", "--reproducible", "--oci-layout-path", dir)
	if r.Platform != "" {
		args = append(args, "--custom-platform", r.Platform)
	}
	if r.Insecure {
		args = append(args, "--insecure-pull", "--skip-tls-verify-pull")
	}
	if err := b.run(ctx, "kaniko executor", d.context, nil, args...); err != nil {
		return nil, nil, err
	}
	img, err := loadLayout(dir, r.Platform)
	if err != nil {
		return nil, nil, err
	}
	return img, d.base, nil
}
