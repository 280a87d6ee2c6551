// Command sigstore-kms-testonly is a TEST-ONLY KMS plugin speaking sigstore's
// cliplugin protocol. The key reference testonly://<path> names an
// unencrypted PKCS#8 PEM private key file, so it protects nothing: it exists
// only so tests can sign through the KMS code path without a cloud.
package main

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/kms/cliplugin/handler"
)

func main() {
	args, err := handler.GetPluginArgs(os.Args)
	if err != nil {
		_ = handler.WriteErrorResponse(os.Stdout, err)
		return
	}
	sv, err := load(args.InitOptions.KeyResourceID, args.InitOptions.HashFunc)
	if err != nil {
		_ = handler.WriteErrorResponse(os.Stdout, err)
		return
	}
	_, _ = handler.Dispatch(os.Stdout, os.Stdin, args, sv)
}

type testOnlyKMS struct {
	signature.SignerVerifier
}

func load(path string, hash crypto.Hash) (*testOnlyKMS, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("testonly kms: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("testonly kms: no PEM block in key file")
	}
	priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("testonly kms: %w", err)
	}
	sv, err := signature.LoadSignerVerifier(priv, hash)
	if err != nil {
		return nil, fmt.Errorf("testonly kms: %w", err)
	}
	return &testOnlyKMS{sv}, nil
}

func (*testOnlyKMS) CreateKey(context.Context, string) (crypto.PublicKey, error) {
	return nil, errors.New("testonly kms: CreateKey is not supported")
}

func (*testOnlyKMS) CryptoSigner(context.Context, func(error)) (crypto.Signer, crypto.SignerOpts, error) {
	return nil, nil, errors.New("testonly kms: CryptoSigner is not supported")
}

func (*testOnlyKMS) SupportedAlgorithms() []string { return []string{"ecdsa-p256-sha256"} }

func (*testOnlyKMS) DefaultAlgorithm() string { return "ecdsa-p256-sha256" }
