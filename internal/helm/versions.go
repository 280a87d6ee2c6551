package helm

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/Masterminds/semver/v3"

	"github.com/stepper-cd/stepper/internal/exit"
)

// Versions lists every version of chart name in repo, newest first in
// semver order. For an http(s) repository they come from its index.yaml,
// for oci:// from the registry's tags (only tags that are semantic
// versions, as Helm does). Versions that are not semantic versions come
// last, in the order the index gives them.
func (c *Client) Versions(ctx context.Context, repo, name string) ([]string, error) {
	ref, err := ChartRef{Repo: repo, Name: name}.normalize()
	if err != nil {
		return nil, err
	}
	if ref.isOCI() {
		return c.ociTags(ctx, ref)
	}
	idx, err := c.index(ctx, ref.Repo)
	if err != nil {
		return nil, err
	}
	return idx.versions(ref)
}

// Latest returns the newest version of chart name in repo. Prereleases
// (1.2.0-rc.1) count only when the chart has nothing else, so a release
// candidate pushed beside 1.1.0 does not become "latest".
func (c *Client) Latest(ctx context.Context, repo, name string) (string, error) {
	versions, err := c.Versions(ctx, repo, name)
	if err != nil {
		return "", err
	}
	return pickVersion(ChartRef{Repo: repo, Name: name}, versions)
}

// resolveVersion turns ref.Version into one existing version. An exact
// version already in the disk cache needs no network at all.
func (c *Client) resolveVersion(ctx context.Context, ref ChartRef) (string, error) {
	if isExact(ref.Version) {
		if dir, err := c.cache(); err == nil {
			if _, err := os.Stat(filepath.Join(dir, "charts", chartKey(ref)+".tgz")); err == nil {
				return ref.Version, nil
			}
		}
	}
	versions, err := c.Versions(ctx, ref.Repo, ref.Name)
	if err != nil {
		return "", err
	}
	return pickVersion(ref, versions)
}

// pickVersion chooses from versions, newest first, the one ref.Version
// asks for: the newest (see Latest) when empty, the same version when exact,
// the newest match of a constraint otherwise.
func pickVersion(ref ChartRef, versions []string) (string, error) {
	if len(versions) == 0 {
		return "", exit.Usagef("chart %s/%s has no versions", ref.Repo, ref.Name)
	}
	want := ref.Version
	if want == "" {
		return newest(versions), nil
	}
	if slices.Contains(versions, want) {
		return want, nil
	}
	if isExact(want) {
		if wv, err := semver.NewVersion(want); err == nil {
			for _, v := range versions {
				if sv, err := semver.NewVersion(v); err == nil && sv.Equal(wv) {
					return v, nil
				}
			}
		}
	} else if cons, err := semver.NewConstraint(want); err == nil {
		for _, v := range versions {
			if sv, err := semver.NewVersion(v); err == nil && cons.Check(sv) {
				return v, nil
			}
		}
	}
	return "", exit.Usagef("chart %s/%s has no version %s; nearest: %s (newest %s)",
		ref.Repo, ref.Name, want, strings.Join(nearestVersions(want, versions, 5), ", "), newest(versions))
}

// newest returns the first of versions (newest first) that is not a
// prerelease, or the first of all when every one is.
func newest(versions []string) string {
	for _, v := range versions {
		if sv, err := semver.NewVersion(v); err == nil && sv.Prerelease() == "" {
			return v
		}
	}
	return versions[0]
}

// isExact tells a single version from a constraint like ~1.2, ^1, 1.x or
// >=1.0 <2.
func isExact(v string) bool {
	if v == "" || strings.ContainsAny(v, "<>=~^*|, ") {
		return false
	}
	for _, part := range strings.Split(strings.SplitN(strings.SplitN(v, "-", 2)[0], "+", 2)[0], ".") {
		if part == "x" || part == "X" {
			return false
		}
	}
	return true
}

// nearestVersions returns up to n of versions (newest first) closest to
// want: those around where want would sort, or the newest when want is not
// a version at all.
func nearestVersions(want string, versions []string, n int) []string {
	n = min(n, len(versions))
	wv, err := semver.NewVersion(strings.TrimLeft(want, "<>=~^ "))
	if err != nil {
		return versions[:n]
	}
	// versions is newest first: find the first one older than want and
	// take a window of n around it.
	at := len(versions)
	for i, v := range versions {
		if sv, err := semver.NewVersion(v); err == nil && sv.LessThan(wv) {
			at = i
			break
		}
	}
	start := max(0, min(at-n/2, len(versions)-n))
	return versions[start : start+n]
}

// sortVersions orders versions newest first by semver; those that do not
// parse go last in their original order.
func sortVersions(versions []string) {
	parsed := make(map[string]*semver.Version, len(versions))
	for _, v := range versions {
		if sv, err := semver.NewVersion(v); err == nil {
			parsed[v] = sv
		}
	}
	slices.SortStableFunc(versions, func(a, b string) int {
		va, vb := parsed[a], parsed[b]
		switch {
		case va == nil && vb == nil:
			return 0
		case va == nil:
			return 1
		case vb == nil:
			return -1
		}
		return vb.Compare(va)
	})
}

// Available checks that version of chart name can still be installed from
// repo: nil when the repository lists it, an error of class Failed when it
// does not (or no longer has the chart), another error when the repository
// cannot be read.
func (c *Client) Available(ctx context.Context, repo, name, version string) error {
	versions, err := c.Versions(ctx, repo, name)
	if err != nil {
		if exit.ClassOf(err) == exit.Usage {
			return exit.Mark(exit.Failed, err)
		}
		return err
	}
	if !slices.Contains(versions, version) && !slices.Contains(versions, strings.TrimPrefix(version, "v")) {
		return exit.Failedf("chart %s %s is not in %s (it has %d versions)", name, version, repo, len(versions))
	}
	return nil
}
