package helm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"go.yaml.in/yaml/v3"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/logging"
	"github.com/stepper-cd/stepper/internal/suggest"
)

// maxIndexSize bounds an index.yaml, fetched or cached; the biggest public
// ones are tens of megabytes, and decoding YAML takes many times its size
// in memory.
const maxIndexSize = 128 << 20

// maxChartSize bounds a chart package, as Helm's loader does.
const maxChartSize = 100 << 20

// repoIndex is the part of a chart repository's index.yaml stepper needs:
// for each chart, its versions newest first, where to download them and
// their digests. It is also what the disk cache holds, as JSON, with the
// validators to ask the server whether index.yaml changed.
type repoIndex struct {
	URL          string                  `json:"url"`
	ETag         string                  `json:"etag,omitempty"`
	LastModified string                  `json:"lastModified,omitempty"`
	Entries      map[string][]indexEntry `json:"entries"`
}

type indexEntry struct {
	Version string   `json:"version" yaml:"version"`
	URLs    []string `json:"urls" yaml:"urls"`
	Digest  string   `json:"digest,omitempty" yaml:"digest"`
}

// versions lists ref.Name's versions, newest first.
func (idx *repoIndex) versions(ref ChartRef) ([]string, error) {
	entries, ok := idx.Entries[ref.Name]
	if !ok {
		names := make([]string, 0, len(idx.Entries))
		for name := range idx.Entries {
			names = append(names, name)
		}
		hint := ""
		if near := suggest.Closest(ref.Name, names); near != "" {
			hint = fmt.Sprintf("; did you mean %q?", near)
		}
		return nil, exit.Usagef("chart %q is not in repository %s (%d charts)%s", ref.Name, ref.Repo, len(names), hint)
	}
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.Version
	}
	return out, nil
}

// parseIndex decodes index.yaml (or its JSON form) into only the fields
// stepper uses. Helm's own loader decodes every field of every entry and
// validates each, which takes seconds on the big public indexes.
func parseIndex(repo string, data []byte) (*repoIndex, error) {
	var raw struct {
		APIVersion string                  `yaml:"apiVersion"`
		Entries    map[string][]indexEntry `yaml:"entries"`
	}
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, err
	}
	if raw.APIVersion == "" {
		return nil, errors.New("no apiVersion: this is not a Helm chart repository index")
	}
	idx := &repoIndex{URL: repo, Entries: make(map[string][]indexEntry, len(raw.Entries))}
	for name, entries := range raw.Entries {
		byVersion := make(map[string]indexEntry, len(entries))
		versions := make([]string, 0, len(entries))
		for _, e := range entries {
			if e.Version == "" {
				continue
			}
			if _, dup := byVersion[e.Version]; !dup {
				versions = append(versions, e.Version)
			}
			byVersion[e.Version] = e
		}
		sortVersions(versions)
		sorted := make([]indexEntry, len(versions))
		for i, v := range versions {
			sorted[i] = byVersion[v]
		}
		idx.Entries[name] = sorted
	}
	return idx, nil
}

// index returns repo's index: from memory, else fetched, asking the server
// to answer 304 Not Modified when the copy in the disk cache is current.
func (c *Client) index(ctx context.Context, repo string) (*repoIndex, error) {
	c.mu.Lock()
	idx, ok := c.indexes[repo]
	c.mu.Unlock()
	if ok {
		return idx, nil
	}
	idx, err := c.fetchIndex(ctx, repo)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.indexes[repo] = idx
	c.mu.Unlock()
	return idx, nil
}

func (c *Client) fetchIndex(ctx context.Context, repo string) (*repoIndex, error) {
	log := logging.From(ctx)
	start := time.Now()
	cacheFile := ""
	var cached *repoIndex
	if dir, err := c.cache(); err == nil {
		cacheFile = filepath.Join(dir, "indexes", repoKey(repo)+".json")
		cached = readCachedIndex(cacheFile, repo)
	}

	indexURL := repo + "/index.yaml"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, indexURL, nil)
	if err != nil {
		return nil, exit.Usagef("chart repository %s: %w", repo, err)
	}
	if cached != nil {
		if cached.ETag != "" {
			req.Header.Set("If-None-Match", cached.ETag)
		}
		if cached.LastModified != "" {
			req.Header.Set("If-Modified-Since", cached.LastModified)
		}
	}
	c.authorize(req, repo)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, classifyHTTP("fetch index of chart repository "+repo, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotModified && cached != nil {
		log.Debug().Str("repo", repo).Msg("chart repository index unchanged, using cache")
		return cached, nil
	}
	if resp.StatusCode != http.StatusOK {
		return nil, statusError("fetch index of chart repository "+repo, indexURL, resp.StatusCode,
			"check that "+repo+" is a Helm chart repository (the directory holding index.yaml)")
	}
	idx, size, err := readIndex(repo, indexURL, resp.Body, maxIndexSize)
	if err != nil {
		return nil, err
	}
	idx.ETag = resp.Header.Get("ETag")
	idx.LastModified = resp.Header.Get("Last-Modified")
	if cacheFile != "" {
		if js, err := json.Marshal(idx); err == nil {
			if err := writeFileAtomic(cacheFile, js); err != nil {
				log.Warn().Err(err).Str("repo", repo).Msg("cannot cache chart repository index")
			}
		}
	}
	log.Debug().Str("repo", repo).Int("bytes", size).Int("charts", len(idx.Entries)).
		Int64("duration", time.Since(start).Milliseconds()).Msg("chart repository index fetched")
	return idx, nil
}

// readIndex reads and parses an index.yaml of at most limit bytes; it
// returns the index and its size.
func readIndex(repo, indexURL string, r io.Reader, limit int64) (*repoIndex, int, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, 0, classifyHTTP("read index of chart repository "+repo, err)
	}
	if int64(len(data)) > limit {
		return nil, 0, exit.Infraf("chart repository %s: %s is larger than %s, more than any chart repository's index; "+
			"check that the URL names a Helm chart repository", repo, indexURL, sizeString(limit))
	}
	idx, err := parseIndex(repo, data)
	if err != nil {
		return nil, 0, exit.Infraf("chart repository %s: %s is not a valid index: %w", repo, indexURL, err)
	}
	return idx, len(data), nil
}

func sizeString(n int64) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

func readCachedIndex(file, repo string) *repoIndex {
	f, err := os.Open(file)
	if err != nil {
		return nil
	}
	defer f.Close()
	// The cache may be shared between jobs; a file too big to be an index
	// this code wrote is ignored, and the index fetched again.
	data, err := readLimited(f, maxIndexSize)
	if err != nil {
		return nil
	}
	var idx repoIndex
	if json.Unmarshal(data, &idx) != nil || idx.URL != repo {
		return nil
	}
	return &idx
}

// downloadFromRepo downloads ref's package (ref.Version exact) from an
// http(s) chart repository and checks it against the digest in the index.
// With ref.Verify, a package the index gives no digest for is refused
// before it is downloaded, since nothing could be checked.
func (c *Client) downloadFromRepo(ctx context.Context, ref ChartRef) ([]byte, error) {
	entry, err := c.indexEntry(ctx, ref)
	if err != nil {
		return nil, err
	}
	if entry.Digest == "" && ref.Verify != nil {
		return nil, exit.Failedf("chart %s: the index of %s lists no digest for it, so the apply job cannot check the package; "+
			"have the repository re-indexed (helm repo index)", ref, ref.Repo)
	}
	chartURL, err := resolveURL(ref.Repo, entry.URLs[0])
	if err != nil {
		return nil, exit.Infraf("chart %s: bad URL %q in the index of %s: %w", ref, entry.URLs[0], ref.Repo, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, chartURL, nil)
	if err != nil {
		return nil, exit.Infraf("chart %s: %w", ref, err)
	}
	// Credentials go only to the repository's own host, as Helm does unless
	// told to pass them to all hosts.
	if sameHost(chartURL, ref.Repo) {
		c.authorize(req, ref.Repo)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, classifyHTTP("download chart "+ref.String(), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, statusError("download chart "+ref.String(), chartURL, resp.StatusCode,
			"the repository's index lists a package it does not serve; tell the repository's owners")
	}
	data, err := readLimited(resp.Body, maxChartSize)
	if err != nil {
		return nil, classifyHTTP("download chart "+ref.String(), err)
	}
	if entry.Digest != "" {
		sum := sha256.Sum256(data)
		if got := hex.EncodeToString(sum[:]); !strings.EqualFold(got, strings.TrimPrefix(entry.Digest, "sha256:")) {
			return nil, exit.Infraf("download chart %s: %s has sha256 %s, but the index of %s says %s; "+
				"the package changed after it was indexed or the download was corrupted",
				ref, chartURL, got, ref.Repo, entry.Digest)
		}
	}
	return data, nil
}

// indexEntry is ref's entry (ref.Version exact) in its repository's index;
// it has a download URL.
func (c *Client) indexEntry(ctx context.Context, ref ChartRef) (*indexEntry, error) {
	idx, err := c.index(ctx, ref.Repo)
	if err != nil {
		return nil, err
	}
	for i, e := range idx.Entries[ref.Name] {
		if e.Version == ref.Version && len(e.URLs) > 0 {
			return &idx.Entries[ref.Name][i], nil
		}
	}
	return nil, exit.Usagef("chart %s: the index of %s lists no download URL for it", ref, ref.Repo)
}

// authorize adds basic auth for repo's host when the keychain has
// credentials for it.
func (c *Client) authorize(req *http.Request, repo string) {
	if c.opts.Keychain == nil {
		return
	}
	u, err := url.Parse(repo)
	if err != nil {
		return
	}
	a, err := c.opts.Keychain.Resolve(hostResource(u.Host))
	if err != nil || a == authn.Anonymous {
		return
	}
	cfg, err := a.Authorization()
	if err != nil || cfg.Username == "" {
		return
	}
	req.SetBasicAuth(cfg.Username, cfg.Password)
}

// hostResource lets a keychain look up credentials for a plain host.
type hostResource string

func (h hostResource) String() string      { return string(h) }
func (h hostResource) RegistryStr() string { return string(h) }

// resolveURL resolves a chart URL from an index against the repository,
// which Helm treats as a directory.
func resolveURL(repo, ref string) (string, error) {
	base, err := url.Parse(repo + "/")
	if err != nil {
		return "", err
	}
	u, err := url.Parse(ref)
	if err != nil {
		return "", err
	}
	return base.ResolveReference(u).String(), nil
}

func sameHost(a, b string) bool {
	ua, errA := url.Parse(a)
	ub, errB := url.Parse(b)
	return errA == nil && errB == nil && ua.Host == ub.Host
}

func readLimited(r io.Reader, limit int64) ([]byte, error) {
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if n > limit {
		return nil, fmt.Errorf("larger than %d MiB", limit>>20)
	}
	return buf.Bytes(), nil
}
