package build

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"

	"github.com/stepper-cd/stepper/internal/exit"
)

// dockerfileBuild is a checked Dockerfile build, ready for a tool to run.
type dockerfileBuild struct {
	context    string   // absolute
	dockerfile string   // absolute
	buildArgs  []string // KEY=VALUE, bare names resolved; no credentials
	secrets    []buildSecret
	base       *baseImage
	created    string // unix seconds
}

// prepareDockerfile finds the Dockerfile, resolves the final stage's base
// image and refuses it unless it is approved, all before any tool runs.
func (b *Builders) prepareDockerfile(ctx context.Context, r *Request) (*dockerfileBuild, error) {
	dir := r.Context
	if dir == "" {
		dir = "."
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("build context %s: %w", dir, err)
	}
	if info, err := os.Stat(abs); err != nil || !info.IsDir() {
		return nil, exit.Usagef("build context not found: %s is not a directory (--context)", dir)
	}
	if r.Dockerfile == "" {
		r.Dockerfile = "Dockerfile"
		if !exists(filepath.Join(abs, "Dockerfile")) && exists(filepath.Join(abs, "Containerfile")) {
			r.Dockerfile = "Containerfile"
		}
	}
	file := r.Dockerfile
	if !filepath.IsAbs(file) {
		file = filepath.Join(abs, file)
	}
	content, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, exit.Usagef("Dockerfile not found: %s (--file is relative to --context %s)", file, dir)
	}
	if err != nil {
		return nil, exit.Usagef("read Dockerfile: %w", err)
	}
	args, resolved := b.buildArgs(r.BuildArgs)
	r.BuildArgs = resolved
	plain, secrets := splitSecretArgs(resolved)
	for _, s := range secrets {
		delete(args, s.id) // a secret mount is no ARG: the Dockerfile cannot name a base with it
	}
	stages, err := parseDockerfile(string(content), args, platformArgs(r.Platform, runtime.GOOS+"/"+runtime.GOARCH))
	if err != nil {
		var de *dockerfileError
		if errors.As(err, &de) {
			return nil, exit.Usagef("%s:%d: %s", r.Dockerfile, de.line, de.msg)
		}
		return nil, exit.Usagef("%s: %w", r.Dockerfile, err)
	}
	ref, line := finalBase(stages)
	where := fmt.Sprintf("%s:%d", r.Dockerfile, line)
	if strings.EqualFold(ref, "scratch") {
		return nil, notApproved(where, "scratch", r.Approved)
	}
	base, err := b.checkBase(ctx, r, where, ref)
	if err != nil {
		return nil, err
	}
	return &dockerfileBuild{
		context:    abs,
		dockerfile: file,
		buildArgs:  plain,
		secrets:    secrets,
		base:       base,
		created:    strconv.FormatInt(r.Created.Unix(), 10),
	}, nil
}

// buildArgs resolves bare names from the environment, as build tools do;
// a bare name the environment lacks is dropped, as they drop it.
func (b *Builders) buildArgs(list []string) (map[string]string, []string) {
	env := map[string]string{}
	for _, kv := range b.environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	args := map[string]string{}
	var resolved []string
	for _, a := range list {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			if v, ok = env[k]; !ok {
				continue
			}
		}
		args[k] = v
		resolved = append(resolved, k+"="+v)
	}
	return args, resolved
}

// SecretArgName matches build argument names that usually carry
// credentials. Such an argument is never passed as --build-arg, which lands
// in argv, debug logs and the image's history and config; the builder gets
// it as a secret mount instead (see buildSecret).
var SecretArgName = regexp.MustCompile(`(?i)pass|secret|token|key|credential|auth|cert|pwd`)

// buildSecret is a credential build argument handed to the builder as a
// BuildKit secret: `--secret id=<id>,env=<env>`, with the value only in the
// tool's environment under env. A Dockerfile reads it with
// `RUN --mount=type=secret,id=<id>,env=<id> ...` (or from /run/secrets/<id>).
type buildSecret struct {
	id    string // the build argument's name
	env   string // the variable the tool reads the value from
	value string
}

// secretEnvPrefix keeps secret variables apart from the tool's own
// (REGISTRY_AUTH_FILE looks like a credential name, and must stay the tool's).
const secretEnvPrefix = "STEPPER_BUILD_SECRET_"

// splitSecretArgs separates credential build arguments (KEY=VALUE form)
// from the rest.
func splitSecretArgs(resolved []string) (plain []string, secrets []buildSecret) {
	for _, kv := range resolved {
		k, v, _ := strings.Cut(kv, "=")
		if !SecretArgName.MatchString(k) {
			plain = append(plain, kv)
			continue
		}
		secrets = append(secrets, buildSecret{id: k, env: secretEnvPrefix + k, value: v})
	}
	return plain, secrets
}

// secretFlags are the builder flags that mount secrets.
func secretFlags(secrets []buildSecret) []string {
	var out []string
	for _, s := range secrets {
		out = append(out, "--secret", "id="+s.id+",env="+s.env)
	}
	return out
}

// secretEnv is the environment that carries secrets' values to the tool.
func secretEnv(secrets []buildSecret) []string {
	var out []string
	for _, s := range secrets {
		out = append(out, s.env+"="+s.value)
	}
	return out
}

// buildArgFlags repeats flag for each build argument.
func buildArgFlags(flag string, args []string) []string {
	var out []string
	for _, a := range args {
		out = append(out, flag, a)
	}
	return out
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
