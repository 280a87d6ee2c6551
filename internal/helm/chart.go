package helm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"

	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/logging"
)

// ChartRef names a chart: either Path, a chart directory or packaged .tgz
// on disk, or Repo, Name and Version in a chart repository or OCI registry.
type ChartRef struct {
	// Path is a chart directory or .tgz; when set, the other fields are
	// ignored.
	Path string
	// Root, when set, confines Path: Path is then a slash-separated name
	// inside Root (an fs.FS such as os.Root.FS), and nothing outside Root
	// is read, neither through "..", an absolute path nor a symlink.
	Root fs.FS
	// Repo is an http(s) chart repository URL (the directory holding
	// index.yaml) or an OCI repository prefix, oci://host/path.
	Repo string
	// Name is the chart's name in Repo. For oci:// it may be left empty
	// when Repo ends with the chart's name.
	Name string
	// Version is an exact version, a semver constraint such as "~1.2" or
	// ">=1.0 <2", or "" for the newest (see Latest).
	Version string
	// Verify, when set, is what the privileged apply job demands of a
	// remote chart: a digest, a provenance signature, a cosign signature
	// (see Verification). Load then checks them on every call.
	Verify *Verification
}

// String is ref as a user would write it: a path, repo/name or
// oci://host/path/name, with @version when one is asked for.
func (r ChartRef) String() string {
	if r.Path != "" {
		return r.Path
	}
	s := strings.TrimSuffix(r.Repo, "/")
	if r.Name != "" {
		s += "/" + r.Name
	}
	if r.Version != "" {
		s += "@" + r.Version
	}
	return s
}

// isOCI tells whether the reference points into an OCI registry.
func (r ChartRef) isOCI() bool { return strings.HasPrefix(r.Repo, "oci://") }

// normalize checks ref and fills in what can be derived: the chart name of
// an oci:// repository that ends with it.
func (r ChartRef) normalize() (ChartRef, error) {
	if r.Path != "" {
		return r, nil
	}
	if r.Repo == "" {
		return r, exit.Usagef("chart reference %q: give a chart path, or a repository and a chart name", r)
	}
	r.Repo = strings.TrimSuffix(r.Repo, "/")
	if r.isOCI() {
		if r.Name == "" {
			r.Repo, r.Name = path.Split(r.Repo)
			r.Repo = strings.TrimSuffix(r.Repo, "/")
		}
		if host, _, _ := strings.Cut(strings.TrimPrefix(r.Repo, "oci://"), "/"); host == "" || r.Name == "" {
			return r, exit.Usagef("chart reference %q: an OCI chart is oci://host/path/name", r)
		}
		return r, nil
	}
	u, err := url.Parse(r.Repo)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return r, exit.Usagef("chart repository %q: use an http(s):// chart repository URL or oci://host/path", r.Repo)
	}
	if r.Name == "" {
		return r, exit.Usagef("chart reference %q: name the chart in repository %s", r, r.Repo)
	}
	return r, nil
}

// Chart describes a chart: its Chart.yaml and where it came from.
type Chart struct {
	Name        string
	Version     string
	AppVersion  string
	Description string
	// Type is "application" or "library"; only applications render.
	Type        string
	Deprecated  bool
	Annotations map[string]string
	// README is the chart's README.md (or README.txt, README), "" if none.
	README string
	// Source is where the chart came from: the path it was loaded from, or
	// repository/name@version (oci://host/path/name@version).
	Source string
	// Digest is the sha256 of the packaged chart, "sha256:…"; "" for a
	// chart directory.
	Digest string
}

// LoadedChart is a chart ready to render. It is never modified, so one
// LoadedChart may be rendered many times, concurrently and with different
// values.
type LoadedChart struct {
	meta  Chart
	chart *chartv2.Chart
}

// Metadata describes the chart. The result is a copy.
func (l *LoadedChart) Metadata() Chart {
	m := l.meta
	m.Annotations = maps.Clone(m.Annotations)
	return m
}

// DefaultValues returns a copy of the chart's values.yaml.
func (l *LoadedChart) DefaultValues() map[string]any { return copyValues(l.chart.Values) }

// String is name-version, as Helm names a chart package.
func (l *LoadedChart) String() string { return l.meta.Name + "-" + l.meta.Version }

// Load finds, downloads and loads the chart ref names. Downloads are cached
// on disk by repository, name and version, and loaded charts in memory;
// chart versions are taken to be immutable, so a cached version is not
// fetched again. A chart directory is read anew on every call, since a
// working copy may change.
func (c *Client) Load(ctx context.Context, ref ChartRef) (*LoadedChart, error) {
	ref, err := ref.normalize()
	if err != nil {
		return nil, err
	}
	if ref.Path != "" && ref.Root != nil {
		return loadConfined(ref.Root, ref.Path)
	}
	if ref.Path != "" {
		return c.loadLocal(ref.Path)
	}
	version, err := c.resolveVersion(ctx, ref)
	if err != nil {
		return nil, err
	}
	ref.Version = version
	key := chartKey(ref)
	c.mu.Lock()
	lc, ok := c.charts[key]
	c.mu.Unlock()
	if ok && ref.Verify == nil {
		return lc, nil
	}

	dir, err := c.cache()
	if err != nil {
		return nil, exit.Infraf("helm cache: %w", err)
	}
	file := filepath.Join(dir, "charts", key+".tgz")
	data, err := c.fetchChart(ctx, ref, file)
	if err != nil {
		return nil, err
	}
	source := ref.String()
	ch, err := loader.LoadArchive(bytes.NewReader(data))
	if err != nil {
		// A broken download must not stick in the cache.
		_ = os.Remove(file)
		return nil, exit.Infraf("load chart %s from %s: %w", ref, source, err)
	}
	lc = newLoadedChart(ch, source, sha256Digest(data))
	c.mu.Lock()
	c.charts[key] = lc
	c.mu.Unlock()
	logging.From(ctx).Debug().Str("chart", ref.String()).Str("source", source).Msg("chart loaded")
	return lc, nil
}

// fetchChart returns ref's package. With ref.Verify, it is returned only
// once verified (see Verification).
func (c *Client) fetchChart(ctx context.Context, ref ChartRef, file string) ([]byte, error) {
	if ref.Verify != nil && ref.isOCI() {
		return c.fetchOCIVerified(ctx, ref, file)
	}
	data, err := c.cachedOrDownloaded(ctx, ref, file)
	if err != nil {
		return nil, err
	}
	if ref.Verify != nil {
		if err := c.checkProvenance(ctx, ref, data); err != nil {
			return nil, err
		}
	}
	return data, nil
}

// cachedOrDownloaded returns ref's package: from file when an earlier run
// left it there and it still matches the repository's index, otherwise
// downloaded and saved to file.
func (c *Client) cachedOrDownloaded(ctx context.Context, ref ChartRef, file string) ([]byte, error) {
	if data, err := os.ReadFile(file); err == nil {
		if err := c.checkCached(ctx, ref, file, data); err != nil {
			return nil, err
		}
		logging.From(ctx).Debug().Str("chart", ref.String()).Str("file", file).Msg("chart found in cache")
		return data, nil
	}
	var data []byte
	var err error
	if ref.isOCI() {
		data, err = c.pullOCI(ctx, ref)
	} else {
		data, err = c.downloadFromRepo(ctx, ref)
	}
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(file, data); err != nil {
		return nil, exit.Infraf("helm cache: %w", err)
	}
	return data, nil
}

// chartKey names a remote chart version in the caches: a hash of the
// repository, then the chart's name and version.
func chartKey(ref ChartRef) string {
	return repoKey(ref.Repo) + "/" + ref.Name + "-" + ref.Version
}

// repoKey is a short, file-name-safe hash of a repository URL.
func repoKey(repo string) string {
	sum := sha256.Sum256([]byte(strings.TrimSuffix(repo, "/")))
	return hex.EncodeToString(sum[:8])
}

// loadLocal loads a chart directory or .tgz. A .tgz is cached in memory by
// path, size and modification time.
func (c *Client) loadLocal(p string) (*LoadedChart, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return nil, exit.Usagef("chart %s: %w", p, err)
	}
	fi, err := os.Stat(abs)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, exit.Usagef("chart %s: no such file or directory; give a chart directory or a packaged .tgz", p)
	}
	if err != nil {
		return nil, exit.Usagef("chart %s: %w", p, err)
	}
	if fi.IsDir() {
		ch, err := loader.LoadDir(abs)
		if err != nil {
			return nil, exit.Failedf("chart %s: %w", p, err)
		}
		return newLoadedChart(ch, p, ""), nil
	}

	key := fmt.Sprintf("file:%s:%d:%d", abs, fi.Size(), fi.ModTime().UnixNano())
	c.mu.Lock()
	lc, ok := c.charts[key]
	c.mu.Unlock()
	if ok {
		return lc, nil
	}
	data, err := os.ReadFile(abs)
	if err != nil {
		return nil, exit.Usagef("chart %s: %w", p, err)
	}
	ch, err := loader.LoadArchive(bytes.NewReader(data))
	if err != nil {
		return nil, exit.Failedf("chart %s: %w", p, err)
	}
	lc = newLoadedChart(ch, p, sha256Digest(data))
	c.mu.Lock()
	c.charts[key] = lc
	c.mu.Unlock()
	return lc, nil
}

func newLoadedChart(ch *chartv2.Chart, source, digest string) *LoadedChart {
	md := ch.Metadata
	typ := md.Type
	if typ == "" {
		typ = "application"
	}
	return &LoadedChart{
		meta: Chart{
			Name:        md.Name,
			Version:     md.Version,
			AppVersion:  md.AppVersion,
			Description: md.Description,
			Type:        typ,
			Deprecated:  md.Deprecated,
			Annotations: md.Annotations,
			README:      readme(ch),
			Source:      source,
			Digest:      digest,
		},
		chart: ch,
	}
}

// readme finds the chart's README the way `helm show readme` does: the
// first top-level file named README.md, README.txt or README, in any case.
func readme(ch *chartv2.Chart) string {
	for _, name := range []string{"readme.md", "readme.txt", "readme"} {
		for _, f := range ch.Files {
			if strings.EqualFold(f.Name, name) {
				return string(f.Data)
			}
		}
	}
	return ""
}

func sha256Digest(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// writeFileAtomic writes data to a temporary file beside file and renames
// it into place, so a reader never sees half a file.
func writeFileAtomic(file string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename, a no-op
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), file)
}
