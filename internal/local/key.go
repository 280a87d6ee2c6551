package local

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"

	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
)

// KeyPair is a cosign key pair in files.
type KeyPair struct {
	Private string // ENCRYPTED SIGSTORE PRIVATE KEY
	Public  string // PUBLIC KEY
}

// NewKeyPair writes a fresh ECDSA P-256 key pair to dir as NAME.key and
// NAME.pub, the private key encrypted under password the way `cosign
// generate-key-pair` does, so both stepper and the cosign CLI read it.
func NewKeyPair(dir, name string, password []byte) (KeyPair, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return KeyPair{}, fmt.Errorf("generate key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return KeyPair{}, fmt.Errorf("generate key: %w", err)
	}
	ct, err := encrypted.Encrypt(der, password)
	if err != nil {
		return KeyPair{}, fmt.Errorf("encrypt key: %w", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		return KeyPair{}, fmt.Errorf("generate key: %w", err)
	}
	k := KeyPair{Private: filepath.Join(dir, name+".key"), Public: filepath.Join(dir, name+".pub")}
	if err := os.WriteFile(k.Private, pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED SIGSTORE PRIVATE KEY", Bytes: ct}), 0o600); err != nil {
		return KeyPair{}, fmt.Errorf("write key: %w", err)
	}
	if err := os.WriteFile(k.Public, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644); err != nil {
		return KeyPair{}, fmt.Errorf("write key: %w", err)
	}
	return k, nil
}
