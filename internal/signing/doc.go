// Package signing signs image digests and attaches signed in-toto
// attestations (SLSA provenance v1) in the formats cosign reads, fully
// offline: no Rekor, no Fulcio, no TUF. It is for a private platform whose
// verifiers trust a set of public keys (cosign verify --key …
// --insecure-ignore-tlog=true).
//
// Keys are cosign-encrypted private keys (cosign generate-key-pair) or KMS
// references. No cloud KMS SDK is compiled in: sigstore's kms package runs
// an executable sigstore-kms-<scheme> from PATH (its cliplugin protocol) for
// any scheme, so every KMS costs the binary nothing.
//
// Two storage formats:
//
//   - FormatSigTag (default): cosign's tag scheme, sha256-<hex>.sig and
//     sha256-<hex>.att images with one layer per signature. Harbor shows it
//     as signed, and every registry stores it. Adding a layer is a blind
//     read-modify-write of a shared manifest, so parallel signers lose
//     entries; every write here is confirmed after a settle delay and
//     re-applied with jittered, capped backoff when it was lost (race.go).
//   - FormatBundle: an OCI 1.1 referrer holding a Sigstore bundle v0.3 with
//     a DSSE envelope, what cosign v3 writes by default. Signatures are
//     in-toto statements of predicate type https://sigstore.dev/cosign/sign/v1.
//
// Only digests are signed; a tag can move between signing and deploying.
//
// Verify and VerifyAttestation (and VerifyAttestations, which returns every
// attestation of a type that verifies, for one per environment) read both
// formats back and accept a signature only if it verifies with an approved,
// unrevoked public key and its signed claims name the image's digest (and,
// for simple signing, its repository). They fail closed: only a 404 means "nothing there", every
// other registry failure is an infrastructure error, never "unsigned" and
// never "signed" (verify.go).
//
// Why not cosign's own packages: every cosign v3 package that knows these
// formats (pkg/oci and all below it, pkg/cosign for LoadPrivateKey) imports
// pkg/cosign/bundle, which pulls in Rekor's OpenAPI client, sigstore-go,
// protobuf specs and TUF: about 21 MB on a binary of 6 MB, for a few
// hundred lines of format code. So this package writes the formats itself
// on go-containerregistry, signs with sigstore's signature, payload and kms
// packages (the ones cosign signs with), decrypts keys as cosign does
// (go-securesystemslib/encrypted), takes only constants from cosign v3
// (pkg/types), and its tests check every format with the official cosign
// v3 CLI. Nothing here needs cosign v2.
package signing
