package signing_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/stepper-cd/stepper/internal/signing"
	"github.com/stepper-cd/stepper/internal/testenv"
)

var platform = testenv.NewShared(testenv.Options{SkipGit: true, SkipKube: true})

func TestMain(m *testing.M) {
	code := m.Run()
	platform.Stop()
	os.Exit(code)
}

// testOnlyPassword encrypts the keys the tests generate; a test constant.
const testOnlyPassword = testenv.TestOnlyKeyPassword

// testKey is a freshly generated cosign key pair, in files and in memory.
type testKey struct {
	testenv.CosignKey
	PEM    []byte // encrypted with testOnlyPassword
	PubPEM []byte
}

// newTestKey generates a key pair encrypted the way cosign
// generate-key-pair does, without running the CLI.
func newTestKey(t testing.TB) testKey {
	t.Helper()
	files, err := testenv.NewCosignKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	k := testKey{CosignKey: files}
	if k.PEM, err = os.ReadFile(files.Private); err != nil {
		t.Fatal(err)
	}
	if k.PubPEM, err = os.ReadFile(files.Public); err != nil {
		t.Fatal(err)
	}
	return k
}

func (k testKey) load(t testing.TB) *signing.Key {
	t.Helper()
	key, err := signing.LoadKey(t.Context(), signing.KeySource{PEM: k.PEM, Password: []byte(testOnlyPassword)})
	if err != nil {
		t.Fatalf("LoadKey: %v", err)
	}
	return key
}

func (k testKey) pubPath() string { return k.Public }

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// pushImage pushes a small random image to host/repo and returns it by digest.
func pushImage(t testing.TB, host, repo string) name.Digest {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag(host+"/"+repo+":latest", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img, remote.WithContext(t.Context())); err != nil {
		t.Fatalf("push %s: %v", tag, err)
	}
	h, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return tag.Context().Digest(h.String())
}

// cosign runs the official cosign CLI offline (see testenv.Cosign).
func cosign(t testing.TB, env []string, args ...string) (string, error) {
	t.Helper()
	return testenv.Cosign(t, env, args...)
}

// cosignVerify runs cosign verify with the flags a private, offline
// platform needs, and fails the test unless it passes.
func cosignVerify(t testing.TB, pub string, img name.Digest, extra ...string) {
	t.Helper()
	args := append([]string{"verify", "--key", pub, "--insecure-ignore-tlog=true", "--allow-http-registry"}, extra...)
	out, err := cosign(t, nil, append(args, img.String())...)
	if err != nil {
		t.Fatalf("cosign %s %s: %v\n%s", strings.Join(args, " "), img, err, out)
	}
}

func cosignVerifyAttestation(t testing.TB, pub string, img name.Digest, extra ...string) string {
	t.Helper()
	args := append([]string{"verify-attestation", "--key", pub, "--insecure-ignore-tlog=true", "--allow-http-registry", "--type", "slsaprovenance1"}, extra...)
	out, err := cosign(t, nil, append(args, img.String())...)
	if err != nil {
		t.Fatalf("cosign %s %s: %v\n%s", strings.Join(args, " "), img, err, out)
	}
	return out
}

func provenance() signing.Provenance {
	start := time.Date(2025, 5, 1, 10, 0, 0, 0, time.UTC)
	return signing.Provenance{
		BuilderID:      "https://gitlab.example.test/runners/42",
		SourceRepo:     "https://gitlab.example.test/shop/api.git",
		SourceRevision: "0123456789abcdef0123456789abcdef01234567",
		PipelineURL:    "https://gitlab.example.test/shop/api/-/pipelines/7",
		JobURL:         "https://gitlab.example.test/shop/api/-/jobs/99",
		BaseImage:      "registry.example.test/base/debian:12",
		BaseDigest:     "sha256:" + strings.Repeat("ab", 32),
		Parameters:     map[string]string{"dockerfile": "Dockerfile", "target": "runtime"},
		StartedOn:      start,
		FinishedOn:     start.Add(3 * time.Minute),
	}
}

func execCommand(t testing.TB, bin string, args ...string) *exec.Cmd {
	t.Helper()
	return exec.CommandContext(t.Context(), bin, args...)
}

// plainTestKey returns an unencrypted PKCS#8 ECDSA key and its public key,
// both PEM, for the test-only KMS plugin.
func plainTestKey(t testing.TB) (priv, pub []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
}
