package helm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"helm.sh/helm/v4/pkg/provenance"
	helmregistry "helm.sh/helm/v4/pkg/registry"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/logging"
)

// Verification is what the privileged apply job demands of a remote chart
// before Load returns it, on top of the index digest every load checks:
//
//   - from an http(s) repository, the index must give the package's
//     digest, and when the repository serves a Helm provenance file
//     (<package>.tgz.prov) its signature must verify with Keyring and name
//     the package's sha256;
//   - from an OCI registry, the chart's manifest, resolved from its tag
//     once, must carry a signature Signature accepts, and the chart layer,
//     downloaded or from the disk cache, must match the digest that signed
//     manifest names.
//
// Both are checked on every Load, from the cache or not; the provenance
// file is fetched every time and never cached, so a cache that someone
// else can write proves nothing by itself.
type Verification struct {
	// Keyring is the path of the OpenPGP public keyring that provenance
	// files must be signed with (binary, keybox or ASCII-armored, as Helm
	// reads it). When it is "" a chart whose repository serves a provenance
	// file is refused: a signature that cannot be checked proves nothing.
	Keyring string
	// Signature checks a cosign signature on an OCI chart's manifest
	// digest with the platform's approved keys; nil refuses every OCI chart.
	Signature func(ctx context.Context, manifest name.Digest) error
}

// maxProvSize bounds a provenance file; real ones are about a kilobyte.
const maxProvSize = 1 << 20

// checkProvenance verifies data, ref's package from an http(s) repository,
// against the provenance file the repository serves beside it, if any.
func (c *Client) checkProvenance(ctx context.Context, ref ChartRef, data []byte) error {
	entry, err := c.indexEntry(ctx, ref)
	if err != nil {
		return err
	}
	chartURL, err := resolveURL(ref.Repo, entry.URLs[0])
	if err != nil {
		return exit.Infraf("chart %s: bad URL %q in the index of %s: %w", ref, entry.URLs[0], ref.Repo, err)
	}
	u, err := url.Parse(chartURL)
	if err != nil {
		return exit.Infraf("chart %s: bad URL %q in the index of %s: %w", ref, chartURL, ref.Repo, err)
	}
	filename := path.Base(u.Path) // what the provenance file names
	u.Path += ".prov"
	u.RawPath = ""
	provURL := u.String()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, provURL, nil)
	if err != nil {
		return exit.Infraf("chart %s: %w", ref, err)
	}
	if sameHost(provURL, ref.Repo) {
		c.authorize(req, ref.Repo)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return classifyHTTP("fetch provenance of chart "+ref.String(), err)
	}
	defer resp.Body.Close()
	log := logging.From(ctx).With().Str("chart", ref.String()).Logger()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		// The repository does not sign this chart; the index digest is
		// all there is to check, and it was.
		log.Info().Str(logging.Digest, entry.Digest).Msg("chart verified by its repository's index digest (no provenance file)")
		return nil
	default:
		// Anything but "there is none" may hide a signature that does not
		// verify: fail closed.
		return exit.Infraf("fetch provenance of chart %s: %s answered HTTP %d; the chart is not installed until its provenance can be checked",
			ref, provURL, resp.StatusCode)
	}
	prov, err := readLimited(resp.Body, maxProvSize)
	if err != nil {
		return classifyHTTP("fetch provenance of chart "+ref.String(), err)
	}
	v := ref.Verify
	if v.Keyring == "" {
		return exit.Failedf("chart %s: its repository signs it (%s), but no keyring is configured to check the signature, "+
			"and a signature that cannot be checked proves nothing: set charts.keyring to the chart publisher's public keyring",
			ref, provURL)
	}
	signatory, err := provenance.NewFromKeyring(v.Keyring, "")
	if err != nil {
		return exit.Usagef("charts.keyring %s: %v; give an OpenPGP public keyring (gpg --export)", v.Keyring, err)
	}
	verified, err := signatory.Verify(data, prov, filename)
	if err != nil {
		return exit.Failedf("chart %s: the provenance file %s does not verify with charts.keyring %s: %v; "+
			"the package or its signature was changed, or a key not in the keyring signed it",
			ref, provURL, v.Keyring, err)
	}
	signer := ""
	if verified.SignedBy != nil {
		for id := range verified.SignedBy.Identities {
			signer = id
			break
		}
	}
	log.Info().Str(logging.Digest, verified.FileHash).Str("signer", signer).Msg("chart provenance verified")
	return nil
}

// fetchOCIVerified returns ref's package from an OCI registry, verified:
// the manifest its tag names right now must be signed (Verification.
// Signature), and the package is the layer that manifest names, taken from
// the disk cache only when it still matches the layer's digest.
func (c *Client) fetchOCIVerified(ctx context.Context, ref ChartRef, file string) ([]byte, error) {
	host, repoName := ociRepo(ref)
	// OCI tags cannot hold "+", so Helm pushes 1.0.0+build as 1.0.0_build.
	tag := strings.ReplaceAll(ref.Version, "+", "_")
	what := "oci://" + repoName + ":" + tag
	repo, err := c.ociRepository(host, repoName)
	if err != nil {
		return nil, err
	}
	desc, body, err := repo.FetchReference(ctx, tag)
	if err != nil {
		return nil, classifyOCI("resolve chart "+what, host, err)
	}
	raw, err := content.ReadAll(body, desc)
	body.Close()
	if err != nil {
		return nil, classifyOCI("read the manifest of chart "+what, host, err)
	}
	// The digest is computed here, from the bytes whose layers are used,
	// so what is signed is what is installed.
	manifestDigest := sha256Digest(raw)
	layer, err := chartLayer(raw)
	if err != nil {
		return nil, exit.Usagef("chart %s (%s): %v", what, manifestDigest, err)
	}
	digest, err := name.NewDigest(repoName + "@" + manifestDigest)
	if err != nil {
		return nil, exit.Usagef("chart %s: %v", what, err)
	}
	if ref.Verify.Signature == nil {
		return nil, exit.Usagef("chart %s: the apply job verifies chart signatures before it installs anything: set signing.publicKeys", what)
	}
	if err := ref.Verify.Signature(ctx, digest); err != nil {
		return nil, fmt.Errorf("chart %s refused: %w", digest, err)
	}

	if data, err := os.ReadFile(file); err == nil {
		if got := sha256Digest(data); got != layer.Digest.String() {
			_ = os.Remove(file)
			return nil, exit.Failedf("chart %s: the cached package %s has %s, but the signed manifest %s names %s: "+
				"the cache was changed after the download; it is removed, so the next run downloads the chart afresh. "+
				"Find out who can write the cache directory", what, file, got, manifestDigest, layer.Digest)
		}
		logging.From(ctx).Debug().Str("chart", what).Str("file", file).Msg("chart found in cache, matches its signed manifest")
		return data, nil
	}
	if layer.Size > maxChartSize {
		return nil, exit.Usagef("chart %s: its package is %d bytes, larger than a chart may be (%s)", what, layer.Size, sizeString(maxChartSize))
	}
	rc, err := repo.Blobs().Fetch(ctx, layer)
	if err != nil {
		return nil, classifyOCI("pull chart "+what, host, err)
	}
	defer rc.Close()
	// ReadAll checks size and digest against the signed manifest's layer.
	data, err := content.ReadAll(rc, layer)
	if err != nil {
		return nil, exit.Infraf("pull chart %s: %w", what, err)
	}
	if err := writeFileAtomic(file, data); err != nil {
		return nil, exit.Infraf("helm cache: %w", err)
	}
	return data, nil
}

// chartLayer finds the chart package in an OCI manifest of a Helm chart.
func chartLayer(raw []byte) (ocispec.Descriptor, error) {
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return ocispec.Descriptor{}, errors.New("its manifest is not an OCI image manifest")
	}
	if m.Config.MediaType != helmregistry.ConfigMediaType {
		return ocispec.Descriptor{}, errors.New("the artifact holds no Helm chart (config media type " + m.Config.MediaType + ")")
	}
	for _, l := range m.Layers {
		if l.MediaType == helmregistry.ChartLayerMediaType || l.MediaType == helmregistry.LegacyChartLayerMediaType {
			if err := l.Digest.Validate(); err != nil || l.Digest.Algorithm() != "sha256" {
				return ocispec.Descriptor{}, errors.New("the chart layer's digest " + l.Digest.String() + " is not sha256")
			}
			return l, nil
		}
	}
	return ocispec.Descriptor{}, errors.New("the artifact holds no Helm chart layer")
}

// ociRepository is an ORAS client for one repository, reached as Helm's
// registry client reaches it: plain HTTP for loopback hosts and with
// Options.PlainHTTP, credentials from the keychain.
func (c *Client) ociRepository(host, repoName string) (*remote.Repository, error) {
	repo, err := remote.NewRepository(repoName)
	if err != nil {
		return nil, exit.Usagef("chart oci://%s: %v", repoName, err)
	}
	repo.PlainHTTP = c.opts.PlainHTTP || isLoopback(host)
	authorizer := &auth.Client{Client: c.http, Cache: auth.NewCache()}
	if kc := c.opts.Keychain; kc != nil {
		authorizer.Credential = keychainCredential(kc)
	}
	repo.Client = authorizer
	return repo, nil
}
