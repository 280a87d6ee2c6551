package config

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/secret"
)

// SecretRef says where a secret is, never what it is:
//
//	env://NAME   the value of the environment variable NAME
//	file://PATH  the contents of the file PATH (one trailing newline dropped)
//
// signing.key also takes a KMS key URI (awskms://, gcpkms://, azurekms://,
// hashivault://, k8s://), which names a key the signer uses in place and is
// never read here. Fields that hold a user name (registry.credentials.username,
// jenkins.user) also take the literal name; fields that hold a password or
// token refuse a literal, because a config file is committed to Git.
type SecretRef string

// ErrKeyReference is returned by Resolve for a KMS key URI: such a key is
// not a value to read but a reference to hand to the signer as it is.
var ErrKeyReference = errors.New("a KMS key is used in place and never read")

// kmsSchemes are the key URI schemes cosign signs with directly.
var kmsSchemes = []string{"awskms://", "gcpkms://", "azurekms://", "hashivault://", "k8s://"}

// IsReference reports whether r is env:// or file://, as opposed to a literal
// or a KMS key URI.
func (r SecretRef) IsReference() bool {
	return strings.HasPrefix(string(r), "env://") || strings.HasPrefix(string(r), "file://")
}

// KeyReference returns r and true when r is a KMS key URI for the signer.
func (r SecretRef) KeyReference() (string, bool) {
	for _, s := range kmsSchemes {
		if strings.HasPrefix(string(r), s) {
			return string(r), true
		}
	}
	return "", false
}

// Resolve reads the secret r refers to and registers it with set, so it is
// masked wherever it might be printed later. A literal (allowed only for user
// names) is returned as it is. A variable that is set but empty gives a zero
// Value: an empty cosign key password is legitimate. A KMS URI gives
// ErrKeyReference.
func (r SecretRef) Resolve(ctx context.Context, set *secret.Set) (secret.Value, error) {
	s := string(r)
	switch {
	case s == "":
		return secret.Value{}, nil
	case strings.HasPrefix(s, "env://"):
		name := strings.TrimPrefix(s, "env://")
		v, ok := os.LookupEnv(name)
		if !ok {
			return secret.Value{}, exit.Usagef("secret %s: environment variable %s is not set; export it in the job or change the reference", s, name)
		}
		return secret.NewValue(v, set), nil
	case strings.HasPrefix(s, "file://"):
		name := strings.TrimPrefix(s, "file://")
		data, err := readFile(ctx, expandHome(name))
		if err != nil {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return secret.Value{}, err
			}
			return secret.Value{}, exit.Mark(exit.Usage, fmt.Errorf("secret %s: %w", s, err))
		}
		v := strings.TrimSuffix(strings.TrimSuffix(string(data), "\n"), "\r")
		return secret.NewValue(v, set), nil
	}
	if _, ok := r.KeyReference(); ok {
		return secret.Value{}, fmt.Errorf("secret %s: %w", s, ErrKeyReference)
	}
	return secret.NewValue(s, nil), nil
}

// FilePath is a path to a local file. A relative path written in stepper.yaml
// is taken relative to that file's directory and stored absolute; one given
// by a variable or --set is relative to the working directory. A leading ~/
// is kept and expanded by Expand, when the file is used.
type FilePath string

// Expand returns the path with a leading ~/ replaced by the home directory.
func (p FilePath) Expand() string { return expandHome(string(p)) }

func expandHome(p string) string {
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, rest)
		}
	}
	return p
}

// relativeTo anchors a relative path at dir; dir "" leaves it alone.
func relativeTo(dir, p string) string {
	if dir == "" || p == "" || filepath.IsAbs(p) || strings.HasPrefix(p, "~/") {
		return p
	}
	abs, err := filepath.Abs(filepath.Join(dir, p))
	if err != nil {
		return filepath.Join(dir, p)
	}
	return abs
}
