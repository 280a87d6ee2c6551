package helm_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/helm"
)

func TestRepoVersionsLatestLoad(t *testing.T) {
	repo := serveRepo(t, packageWeb(t, webVersions...))
	c := newClient(t)
	ctx := t.Context()

	versions, err := c.Versions(ctx, repo.URL, "web")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"1.2.0-rc.1", "1.1.0", "1.0.0", "0.9.0"}; !slices.Equal(versions, want) {
		t.Errorf("Versions = %v, want %v", versions, want)
	}
	latest, err := c.Latest(ctx, repo.URL, "web")
	if err != nil || latest != "1.1.0" {
		t.Errorf("Latest = %q, %v; want 1.1.0 (a prerelease is not the newest)", latest, err)
	}

	for _, tc := range []struct{ ask, want string }{
		{"", "1.1.0"},
		{"1.0.0", "1.0.0"},
		{"v1.0.0", "1.0.0"},
		{"~1.0", "1.0.0"},
		{"<1", "0.9.0"},
		{"1.2.0-rc.1", "1.2.0-rc.1"},
	} {
		ch, err := c.Load(ctx, helm.ChartRef{Repo: repo.URL, Name: "web", Version: tc.ask})
		if err != nil {
			t.Fatalf("Load(version %q): %v", tc.ask, err)
		}
		m := ch.Metadata()
		if m.Version != tc.want || m.AppVersion != "app-"+tc.want {
			t.Errorf("Load(version %q) = %s (app %s), want %s", tc.ask, m.Version, m.AppVersion, tc.want)
		}
		if m.Name != "web" || !strings.HasPrefix(m.README, "# web") || m.Annotations["stepper.dev/owner"] != "team-web" ||
			m.Source != repo.URL+"/web@"+tc.want || !strings.HasPrefix(m.Digest, "sha256:") {
			t.Errorf("Load(version %q) metadata = %+v", tc.ask, m)
		}
	}
	if n := repo.requests.Load(); n != 1 {
		t.Errorf("index.yaml fetched %d times by one client, want 1", n)
	}
}

func TestRepoCache(t *testing.T) {
	repo := serveRepo(t, packageWeb(t, webVersions...))
	cache := t.TempDir()
	ref := helm.ChartRef{Repo: repo.URL, Name: "web", Version: "1.0.0"}
	first := helm.New(helm.Options{CacheDir: cache})
	if _, err := first.Load(t.Context(), ref); err != nil {
		t.Fatal(err)
	}

	// A new client (a new job on the same runner) finds the exact version
	// on disk, and checks it against the digest of the repository's index
	// (revalidated) before use: whoever can write the cache must not choose
	// what is deployed.
	second := helm.New(helm.Options{CacheDir: cache})
	if _, err := second.Load(t.Context(), ref); err != nil {
		t.Fatal(err)
	}
	if n := repo.requests.Load(); n != 2 {
		t.Errorf("index.yaml fetched %d times, want 2: a cached chart is checked against the index", n)
	}

	latest, err := second.Latest(t.Context(), repo.URL, "web")
	if err != nil || latest != "1.1.0" {
		t.Fatalf("Latest = %q, %v", latest, err)
	}

	// With the repository gone, a cached chart cannot be checked, so it
	// is not used.
	if err := os.RemoveAll(repo.Dir); err != nil {
		t.Fatal(err)
	}
	if _, err := helm.New(helm.Options{CacheDir: cache}).Load(t.Context(), ref); err == nil {
		t.Error("a cached chart loaded with no index to check it against")
	}
}

func TestRepoErrors(t *testing.T) {
	repo := serveRepo(t, packageWeb(t, webVersions...))
	c := newClient(t)
	ctx := t.Context()

	// A port nothing listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	l.Close()

	for _, tc := range []struct {
		name  string
		ref   helm.ChartRef
		class exit.Class
		want  []string
	}{
		{"unknown version", helm.ChartRef{Repo: repo.URL, Name: "web", Version: "1.0.5"}, exit.Usage,
			[]string{"no version 1.0.5", "nearest: 1.2.0-rc.1, 1.1.0, 1.0.0, 0.9.0"}},
		{"no version matches", helm.ChartRef{Repo: repo.URL, Name: "web", Version: "^2"}, exit.Usage,
			[]string{"no version ^2", "newest 1.1.0"}},
		{"unknown chart", helm.ChartRef{Repo: repo.URL, Name: "wbe"}, exit.Usage,
			[]string{`chart "wbe" is not in repository`, `did you mean "web"?`}},
		{"not a repository", helm.ChartRef{Repo: repo.URL + "/nothing", Name: "web"}, exit.Usage,
			[]string{"HTTP 404", "index.yaml"}},
		{"unreachable", helm.ChartRef{Repo: closed, Name: "web"}, exit.Infra,
			[]string{"unreachable"}},
		{"bad scheme", helm.ChartRef{Repo: "ftp://example/charts", Name: "web"}, exit.Usage,
			[]string{"http(s)://"}},
		{"no chart at path", helm.ChartRef{Path: filepath.Join(t.TempDir(), "missing")}, exit.Usage,
			[]string{"no such file or directory"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Load(ctx, tc.ref)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			if got := exit.ClassOf(err); got != tc.class {
				t.Errorf("class = %v, want %v: %v", got, tc.class, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// A repository index with thousands of charts and versions, as the big
// public repositories have, is read once and answers quickly.
func TestRepoBigIndex(t *testing.T) {
	dir := packageWeb(t, "1.0.0")
	var b strings.Builder
	b.WriteString("apiVersion: v1\nentries:\n")
	for i := range 2000 {
		fmt.Fprintf(&b, "  chart-%d:\n", i)
		for v := range 20 {
			fmt.Fprintf(&b, "  - name: chart-%d\n    version: 1.%d.0\n    apiVersion: v2\n    appVersion: \"%d\"\n"+
				"    description: A chart with a long description that pads the index like real ones do.\n"+
				"    created: \"2026-01-02T03:04:05Z\"\n    digest: %064d\n    urls:\n    - chart-%d-1.%d.0.tgz\n",
				i, v, v, v, i, v)
		}
	}
	index, err := os.ReadFile(filepath.Join(dir, "index.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	_, webEntries, _ := strings.Cut(string(index), "entries:\n")
	b.WriteString(webEntries)
	if err := os.WriteFile(filepath.Join(dir, "index.yaml"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("index.yaml: %d MiB", b.Len()>>20)

	repo := serveRepo(t, dir)
	c := newClient(t)
	versions, err := c.Versions(t.Context(), repo.URL, "chart-1999")
	if err != nil || len(versions) != 20 || versions[0] != "1.19.0" || versions[19] != "1.0.0" {
		t.Fatalf("Versions = %v, %v", versions, err)
	}
	if _, err := c.Load(t.Context(), helm.ChartRef{Repo: repo.URL, Name: "web"}); err != nil {
		t.Fatal(err)
	}
}
