package buildsignpush

import (
	"context"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/stepper-cd/stepper/internal/signing"
)

// KeySigner signs with one loaded key, storing signatures in one format.
type KeySigner struct {
	Key     *signing.Key
	Options signing.Options
}

// Sign signs the digest.
func (k *KeySigner) Sign(ctx context.Context, img name.Digest) (string, error) {
	return signing.Sign(ctx, k.Key, img, k.Options)
}

// Attest attaches p as a signed in-toto SLSA provenance statement.
func (k *KeySigner) Attest(ctx context.Context, img name.Digest, p signing.Provenance) (string, error) {
	st, err := p.Statement(img)
	if err != nil {
		return "", err
	}
	return signing.Attest(ctx, k.Key, img, st, k.Options)
}
