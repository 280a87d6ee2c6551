package helm_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stepper-cd/stepper/internal/helm"
	"github.com/stepper-cd/stepper/internal/testenv"
)

// The docker-registry 2.8 of the local platform holds the OCI charts.
var platform = testenv.NewShared(testenv.Options{SkipGit: true, SkipKube: true, SkipReferrersRegistry: true})

func TestMain(m *testing.M) {
	code := m.Run()
	platform.Stop()
	kubePlatform.Stop()
	os.Exit(code)
}

// Versions of testdata/charts/web every test repository holds, oldest
// first; 1.2.0-rc.1 must not count as the newest.
var webVersions = []string{"0.9.0", "1.0.0", "1.1.0", "1.2.0-rc.1"}

// helmCLI runs the real helm v4 CLI with its own empty homes and returns
// its standard output.
func helmCLI(t testing.TB, args ...string) string {
	t.Helper()
	out, stderr, err := runHelm(t, args...)
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return out
}

func runHelm(t testing.TB, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	bin := testenv.RequireTool(t, "helm")
	home := t.TempDir()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
	)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// packageWeb packages testdata/charts/web in each version into a new
// directory with the helm CLI and indexes it as a chart repository.
func packageWeb(t testing.TB, versions ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, v := range versions {
		helmCLI(t, "package", "testdata/charts/web", "--version", v, "--app-version", "app-"+v, "--destination", dir)
	}
	helmCLI(t, "repo", "index", dir)
	return dir
}

// chartRepo is a real chart repository: a directory of packages and an
// index.yaml served as static files on 127.0.0.1.
type chartRepo struct {
	URL      string
	Dir      string
	requests atomic.Int64 // index.yaml requests answered
}

func serveRepo(t testing.TB, dir string) *chartRepo {
	t.Helper()
	r := &chartRepo{Dir: dir}
	files := http.FileServer(http.Dir(dir))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if strings.HasSuffix(req.URL.Path, "/index.yaml") {
			r.requests.Add(1)
		}
		files.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	r.URL = srv.URL
	return r
}

func newClient(t testing.TB) *helm.Client {
	t.Helper()
	c := helm.New(helm.Options{CacheDir: t.TempDir()})
	t.Cleanup(func() { _ = c.Close() })
	return c
}
