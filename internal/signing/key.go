package signing

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/kms"
	"github.com/sigstore/sigstore/pkg/signature/options"

	"github.com/stepper-cd/stepper/internal/exit"
)

// The PEM block types cosign writes for an encrypted private key: cosign
// generate-key-pair writes the first, keys from before cosign 2.0 carry the
// second.
const (
	sigstorePrivateKeyPEMType = "ENCRYPTED SIGSTORE PRIVATE KEY"
	cosignPrivateKeyPEMType   = "ENCRYPTED COSIGN PRIVATE KEY"
)

// KeySource says where the signing key comes from: either an encrypted
// cosign private key with its password, or a KMS key reference. Exactly one of
// PEM and KMS is set.
type KeySource struct {
	// PEM is a cosign-encrypted private key, the content of a cosign.key file
	// or of the variable that holds it.
	PEM []byte
	// Password decrypts PEM; cosign keys may have an empty password.
	Password []byte
	// KMS is a key reference such as "awskms://…" or "hashivault://name". No
	// cloud provider is compiled in: sigstore runs the executable
	// sigstore-kms-<scheme> from PATH for every scheme (see the package doc).
	KMS string
}

// String describes the source without its key or password, so a KeySource
// that ends up in a log or an error reveals nothing.
func (s KeySource) String() string {
	switch {
	case s.KMS != "":
		return "kms " + s.KMS
	case len(s.PEM) > 0:
		return "key [MASKED]"
	}
	return "no key"
}

// GoString is String, for %#v.
func (s KeySource) GoString() string { return s.String() }

// Key is a loaded signing key. It never holds the password, and its private
// half never leaves the signer: nothing about it formats as key material.
type Key struct {
	sv signature.SignerVerifier
	// verifier checks signatures locally, without a KMS round trip.
	verifier signature.Verifier
	pub      crypto.PublicKey
	id       string
	// what names the key in errors and logs: "key" or the KMS reference.
	what string
}

// LoadKey loads the key src describes. A wrong password or a damaged key is
// a usage error; a KMS that cannot be reached is an infrastructure error,
// and a KMS scheme without a plugin on PATH is a usage error.
func LoadKey(ctx context.Context, src KeySource) (*Key, error) {
	switch {
	case len(src.PEM) > 0 && src.KMS != "":
		return nil, exit.Usagef("signing key: set either a key or a KMS reference, not both")
	case src.KMS != "":
		return loadKMSKey(ctx, src.KMS)
	case len(src.PEM) > 0:
		return loadPEMKey(src.PEM, src.Password)
	}
	return nil, exit.Usagef("signing key: no key given (set signing.key or signing.kms)")
}

// loadPEMKey decrypts a cosign private key the way cosign's LoadPrivateKey
// does: scrypt and secretbox (go-securesystemslib/encrypted) around PKCS#8,
// with ED25519ph for Ed25519 keys.
func loadPEMKey(data, password []byte) (*Key, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, exit.Usagef("signing key: not a PEM key (expected an %q block as written by cosign generate-key-pair)", sigstorePrivateKeyPEMType)
	}
	if block.Type != sigstorePrivateKeyPEMType && block.Type != cosignPrivateKeyPEMType {
		return nil, exit.Usagef("signing key: PEM block %q is not a cosign private key (expected %q as written by cosign generate-key-pair)", block.Type, sigstorePrivateKeyPEMType)
	}
	der, err := encrypted.Decrypt(block.Bytes, password)
	if err != nil {
		// secretbox cannot tell a wrong password from a tampered ciphertext;
		// the password is by far the likelier cause.
		if strings.Contains(err.Error(), "decryption failed") {
			return nil, exit.Usagef("signing key: the password does not decrypt the key (check signing.password)")
		}
		// Other errors name a JSON or KDF problem, never key bytes.
		return nil, exit.Usagef("signing key: the key is damaged: %v", err)
	}
	priv, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, exit.Usagef("signing key: the decrypted key is not PKCS#8")
	}
	sv, err := signature.LoadDefaultSignerVerifier(priv, options.WithED25519ph())
	if err != nil {
		return nil, exit.Usagef("signing key: unsupported key type %T", priv)
	}
	return newKey(sv, "key")
}

func loadKMSKey(ctx context.Context, ref string) (*Key, error) {
	sv, err := kms.Get(ctx, ref, crypto.SHA256)
	if err != nil {
		var notFound *kms.ProviderNotFoundError
		if errors.As(err, &notFound) {
			scheme, _, _ := strings.Cut(ref, "://")
			return nil, exit.Usagef("signing key %s: no KMS provider for it: put an executable sigstore-kms-%s on PATH (%v)", ref, scheme, err)
		}
		return nil, exit.Infraf("signing key %s: %w", ref, err)
	}
	// The plugin is only run on use; ask for the public key now so a KMS
	// that is down fails here, before anything is pushed.
	k, err := newKey(sv, ref)
	if err != nil {
		return nil, exit.Mark(exit.Infra, err)
	}
	return k, nil
}

func newKey(sv signature.SignerVerifier, what string) (*Key, error) {
	pub, err := sv.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("signing key %s: public key: %w", what, err)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: public key: %w", what, err)
	}
	verifier, err := signature.LoadDefaultVerifier(pub, options.WithED25519ph())
	if err != nil {
		return nil, fmt.Errorf("signing key %s: unsupported public key: %w", what, err)
	}
	sum := sha256.Sum256(der)
	return &Key{sv: sv, verifier: verifier, pub: pub, id: "sha256:" + hex.EncodeToString(sum[:]), what: what}, nil
}

// PublicKeyPEM returns the public key as a PEM "PUBLIC KEY" block, the form
// cosign verify --key reads.
func (k *Key) PublicKeyPEM() ([]byte, error) {
	return cryptoutils.MarshalPublicKeyToPEM(k.pub)
}

// ID is the key's stable identifier, "sha256:" and the hex SHA-256 of its
// DER SubjectPublicKeyInfo. Policies name allowed and revoked keys by it.
func (k *Key) ID() string { return k.id }

// String names the key without revealing anything secret. It has a value
// receiver so that printing a Key, not only a *Key, never dumps the signer.
func (k Key) String() string { return k.what + " " + k.id }

// GoString is String, for %#v.
func (k Key) GoString() string { return k.String() }
