package testenv

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
)

// TestOnlyKeyPassword encrypts the cosign keys NewCosignKey makes. It is a
// test constant, never a real secret.
const TestOnlyKeyPassword = "test-only-password-not-a-secret"

// CosignKey is a freshly generated cosign key pair in files.
type CosignKey struct {
	Private string // ENCRYPTED SIGSTORE PRIVATE KEY, under TestOnlyKeyPassword
	Public  string // PUBLIC KEY
}

// NewCosignKey writes an ECDSA P-256 key pair to dir as
// test-only-cosign.key and .pub, encrypted the way `cosign
// generate-key-pair` does, so both stepper and the cosign CLI read it.
func NewCosignKey(dir string) (CosignKey, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return CosignKey{}, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return CosignKey{}, err
	}
	ct, err := encrypted.Encrypt(der, []byte(TestOnlyKeyPassword))
	if err != nil {
		return CosignKey{}, fmt.Errorf("encrypt test key: %w", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		return CosignKey{}, err
	}
	k := CosignKey{Private: filepath.Join(dir, "test-only-cosign.key"), Public: filepath.Join(dir, "test-only-cosign.pub")}
	if err := os.WriteFile(k.Private, pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED SIGSTORE PRIVATE KEY", Bytes: ct}), 0o600); err != nil {
		return CosignKey{}, err
	}
	if err := os.WriteFile(k.Public, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644); err != nil {
		return CosignKey{}, err
	}
	return k, nil
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
