package report

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/stepper-cd/stepper/internal/secret"
)

// GitLab's dotenv report takes names of letters, digits and underscores and
// single-line values; anything else fails the job at upload time, far from
// the cause, so it is refused here instead.
var dotenvName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// DotenvPrefix starts every variable stepper hands to later jobs.
const DotenvPrefix = "STEPPER_"

// Dotenv returns the result's outputs, plus its step, status, env, app, image
// and digest, as KEY=VALUE lines for GitLab's artifacts:reports:dotenv.
// Keys are prefixed with STEPPER_ and upper-cased.
func Dotenv(r *Result, secrets *secret.Set) ([]byte, error) {
	vars := map[string]string{}
	for k, v := range r.Outputs {
		vars[k] = v
	}
	for k, v := range map[string]string{
		"step": r.Step, "status": string(r.Status), "env": r.Env, "app": r.App, "image": r.Image, "digest": r.Digest,
	} {
		if v != "" {
			vars[k] = v
		}
	}
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		name := DotenvPrefix + strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(k))
		if !dotenvName.MatchString(name) {
			return nil, fmt.Errorf("dotenv output %q: a name may hold only letters, digits and underscores", k)
		}
		v := secrets.Mask(vars[k])
		if strings.ContainsAny(v, "\r\n") {
			return nil, fmt.Errorf("dotenv output %s: GitLab dotenv values must be one line", name)
		}
		fmt.Fprintf(&b, "%s=%s\n", name, v)
	}
	return []byte(b.String()), nil
}

// WriteDotenv writes Dotenv(r) to path.
func WriteDotenv(path string, r *Result, secrets *secret.Set) error {
	b, err := Dotenv(r, secrets)
	if err != nil {
		return err
	}
	return writeAtomic(path, b)
}
