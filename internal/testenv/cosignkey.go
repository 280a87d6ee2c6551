package testenv

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stepper-cd/stepper/internal/local"
)

// TestOnlyKeyPassword encrypts the cosign keys NewCosignKey makes. It is a
// test constant, never a real secret.
const TestOnlyKeyPassword = "test-only-password-not-a-secret"

// CosignKey is a freshly generated cosign key pair in files.
type CosignKey = local.KeyPair

// NewCosignKey writes an ECDSA P-256 key pair to dir as
// test-only-cosign.key and .pub, encrypted under TestOnlyKeyPassword the
// way `cosign generate-key-pair` does, so both stepper and the cosign CLI
// read it.
func NewCosignKey(dir string) (CosignKey, error) {
	return local.NewKeyPair(dir, "test-only-cosign", []byte(TestOnlyKeyPassword))
}

// Cosign runs the official cosign CLI offline, the way a private platform
// verifies: a proxy that refuses every connection catches any attempt to
// leave 127.0.0.1 (Rekor, Fulcio, TUF), and HOME is a fresh directory.
func Cosign(t testing.TB, env []string, args ...string) (string, error) {
	t.Helper()
	bin := RequireTool(t, "cosign")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	home := t.TempDir()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append([]string{
		"HOME=" + home,
		"PATH=" + os.Getenv("PATH"),
		"TUF_ROOT=" + filepath.Join(home, "tuf"),
		"HTTPS_PROXY=http://127.0.0.1:9",
		"HTTP_PROXY=http://127.0.0.1:9",
		"NO_PROXY=127.0.0.1,localhost",
		"COSIGN_YES=true",
	}, env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}
