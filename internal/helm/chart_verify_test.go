package helm_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/helm"
	"github.com/stepper-cd/stepper/internal/signing"
	"github.com/stepper-cd/stepper/internal/testenv"
)

// pgpKey is a test-only OpenPGP key: its secret keyring (for helm package
// --sign) and its public keyring (for charts.keyring).
type pgpKey struct{ name, secring, pubring string }

func newPGPKey(t *testing.T, name string) pgpKey {
	t.Helper()
	e, err := openpgp.NewEntity(name, "test only", name+"@example.invalid", nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	k := pgpKey{name: name, secring: filepath.Join(dir, "secring.gpg"), pubring: filepath.Join(dir, "pubring.gpg")}
	for file, write := range map[string]func(*os.File) error{
		k.secring: func(f *os.File) error { return e.SerializePrivate(f, nil) },
		k.pubring: func(f *os.File) error { return e.Serialize(f) },
	} {
		f, err := os.Create(file)
		if err != nil {
			t.Fatal(err)
		}
		if err := write(f); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	return k
}

// signedRepo is a chart repository in dir: web 1.0.0 packaged and signed
// by key with the helm CLI (web-1.0.0.tgz.prov beside it), web 1.1.0
// unsigned.
func signedRepo(t *testing.T, key pgpKey) string {
	t.Helper()
	dir := t.TempDir()
	helmCLI(t, "package", "testdata/charts/web", "--version", "1.0.0", "--destination", dir,
		"--sign", "--key", key.name, "--keyring", key.secring)
	helmCLI(t, "package", "testdata/charts/web", "--version", "1.1.0", "--destination", dir)
	helmCLI(t, "repo", "index", dir)
	if _, err := os.Stat(filepath.Join(dir, "web-1.0.0.tgz.prov")); err != nil {
		t.Fatalf("helm package --sign wrote no provenance file: %v", err)
	}
	// The official CLI accepts what it signed.
	helmCLI(t, "verify", filepath.Join(dir, "web-1.0.0.tgz"), "--keyring", key.pubring)
	return dir
}

// The apply job checks a chart's provenance file when the repository
// serves one, on every load, and refuses a package or signature that was
// changed, a signature by a key not in the keyring, and a signature it has
// no keyring for.
func TestVerifiedProvenance(t *testing.T) {
	publisher := newPGPKey(t, "chart-publisher")
	dir := signedRepo(t, publisher)
	repo := serveRepo(t, dir)
	ctx := t.Context()
	load := func(t *testing.T, c *helm.Client, version, keyring string) error {
		t.Helper()
		_, err := c.Load(ctx, helm.ChartRef{Repo: repo.URL, Name: "web", Version: version, Verify: &helm.Verification{Keyring: keyring}})
		return err
	}

	cache := t.TempDir()
	c := helm.New(helm.Options{CacheDir: cache})
	if err := load(t, c, "1.0.0", publisher.pubring); err != nil {
		t.Fatalf("signed chart: %v", err)
	}
	if err := load(t, c, "1.0.0", publisher.pubring); err != nil {
		t.Fatalf("signed chart, again from the cache: %v", err)
	}
	if err := load(t, c, "1.1.0", publisher.pubring); err != nil {
		t.Errorf("a chart its repository does not sign, checked by the index digest: %v", err)
	}

	refused := func(t *testing.T, err error, want ...string) {
		t.Helper()
		if err == nil {
			t.Fatal("loaded, want refused")
		}
		if exit.ClassOf(err) != exit.Failed {
			t.Errorf("class %v, want Failed: %v", exit.ClassOf(err), err)
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error lacks %q: %v", w, err)
			}
		}
	}
	t.Run("no keyring", func(t *testing.T) {
		refused(t, load(t, newClient(t), "1.0.0", ""), "its repository signs it", "set charts.keyring")
	})
	t.Run("another key", func(t *testing.T) {
		refused(t, load(t, newClient(t), "1.0.0", newPGPKey(t, "someone-else").pubring), "does not verify with charts.keyring")
	})

	// Whoever controls the repository replaces the package and re-indexes
	// it, so the index digest matches; the signature does not.
	t.Run("package replaced in the repository", func(t *testing.T) {
		evil := t.TempDir()
		helmCLI(t, "package", "testdata/charts/web", "--version", "1.0.0", "--app-version", "evil", "--destination", evil)
		data, err := os.ReadFile(filepath.Join(evil, "web-1.0.0.tgz"))
		if err != nil {
			t.Fatal(err)
		}
		attacked := t.TempDir()
		for _, f := range []string{"web-1.0.0.tgz.prov", "web-1.1.0.tgz"} {
			b, _ := os.ReadFile(filepath.Join(dir, f))
			os.WriteFile(filepath.Join(attacked, f), b, 0o644)
		}
		os.WriteFile(filepath.Join(attacked, "web-1.0.0.tgz"), data, 0o644)
		helmCLI(t, "repo", "index", attacked)
		r := serveRepo(t, attacked)
		_, err = newClient(t).Load(ctx, helm.ChartRef{Repo: r.URL, Name: "web", Version: "1.0.0", Verify: &helm.Verification{Keyring: publisher.pubring}})
		refused(t, err, "does not verify", "sha256 sum does not match")
	})

	t.Run("signature changed", func(t *testing.T) {
		prov := filepath.Join(dir, "web-1.0.0.tgz.prov")
		good, _ := os.ReadFile(prov)
		t.Cleanup(func() { os.WriteFile(prov, good, 0o644) })
		// The signed text names another digest; the signature no longer
		// covers it.
		bad := strings.Replace(string(good), "sha256:", "sha256:0", 1)
		os.WriteFile(prov, []byte(bad), 0o644)
		refused(t, load(t, helm.New(helm.Options{CacheDir: cache}), "1.0.0", publisher.pubring), "does not verify")
	})

	// A repository that fails to answer for the provenance file may hide a
	// bad signature: fail closed.
	t.Run("provenance unavailable", func(t *testing.T) {
		files := http.FileServer(http.Dir(dir))
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, ".prov") {
				http.Error(w, "overloaded", http.StatusServiceUnavailable)
				return
			}
			files.ServeHTTP(w, r)
		}))
		t.Cleanup(srv.Close)
		_, err := newClient(t).Load(ctx, helm.ChartRef{Repo: srv.URL, Name: "web", Version: "1.0.0", Verify: &helm.Verification{Keyring: publisher.pubring}})
		if exit.ClassOf(err) != exit.Infra || !strings.Contains(err.Error(), "HTTP 503") {
			t.Errorf("got %v (%v), want an infrastructure error naming HTTP 503", err, exit.ClassOf(err))
		}
	})
}

// A repository whose index gives no digest offers nothing to check: the
// apply job refuses its charts; other verbs still load them.
func TestVerifiedRefusesChartWithoutDigest(t *testing.T) {
	dir := packageWeb(t, "1.0.0")
	index := filepath.Join(dir, "index.yaml")
	data, err := os.ReadFile(index)
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.Contains(line, "digest:") {
			kept = append(kept, line)
		}
	}
	os.WriteFile(index, []byte(strings.Join(kept, "\n")), 0o644)
	repo := serveRepo(t, dir)
	ref := helm.ChartRef{Repo: repo.URL, Name: "web", Version: "1.0.0"}
	if _, err := newClient(t).Load(t.Context(), ref); err != nil {
		t.Fatalf("unverified load: %v", err)
	}
	ref.Verify = &helm.Verification{}
	_, err = newClient(t).Load(t.Context(), ref)
	if exit.ClassOf(err) != exit.Failed || !strings.Contains(err.Error(), "lists no digest for it") {
		t.Errorf("got %v (%v), want a refusal saying the index lists no digest", err, exit.ClassOf(err))
	}
}

// The apply job loads an OCI chart only when the manifest its tag names
// is signed by an approved key, and a cached package only when it still
// matches that manifest's chart layer.
func TestVerifiedOCI(t *testing.T) {
	reg := platform.Get(t).Registry
	ctx := t.Context()
	dir := packageWeb(t, "1.0.0", "1.1.0")
	repo := "oci://" + reg.Host + "/verified"
	for _, v := range []string{"1.0.0", "1.1.0"} {
		helmCLI(t, "push", filepath.Join(dir, "web-"+v+".tgz"), repo, "--plain-http")
	}
	keyFiles, err := testenv.NewCosignKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	priv, _ := os.ReadFile(keyFiles.Private)
	pub, _ := os.ReadFile(keyFiles.Public)
	key, err := signing.LoadKey(ctx, signing.KeySource{PEM: priv, Password: []byte(testenv.TestOnlyKeyPassword)})
	if err != nil {
		t.Fatal(err)
	}
	approved, err := signing.LoadPublicKey("platform", pub)
	if err != nil {
		t.Fatal(err)
	}
	manifest := func(t *testing.T, version string) name.Digest {
		t.Helper()
		tag, err := name.NewTag(reg.Host + "/verified/web:" + version)
		if err != nil {
			t.Fatal(err)
		}
		desc, err := remote.Head(tag, remote.WithContext(ctx))
		if err != nil {
			t.Fatal(err)
		}
		return tag.Context().Digest(desc.Digest.String())
	}
	if _, err := signing.Sign(ctx, key, manifest(t, "1.0.0"), signing.Options{}); err != nil {
		t.Fatal(err)
	}
	verify := &helm.Verification{Signature: func(ctx context.Context, d name.Digest) error {
		_, err := signing.Verify(ctx, d, signing.VerifyOptions{Keys: []signing.PublicKey{approved}})
		return err
	}}
	cache := t.TempDir()
	load := func(version string) error {
		_, err := helm.New(helm.Options{CacheDir: cache}).Load(ctx, helm.ChartRef{Repo: repo, Name: "web", Version: version, Verify: verify})
		return err
	}
	cached := func(t *testing.T, version string) string {
		t.Helper()
		files, _ := filepath.Glob(filepath.Join(cache, "charts", "*", "web-"+version+".tgz"))
		if len(files) != 1 {
			t.Fatalf("cached packages of web %s: %v, want one", version, files)
		}
		return files[0]
	}

	if err := load("1.0.0"); err != nil {
		t.Fatalf("signed chart: %v", err)
	}
	if err := load("1.0.0"); err != nil {
		t.Fatalf("signed chart from the cache: %v", err)
	}

	t.Run("unsigned", func(t *testing.T) {
		err := load("1.1.0")
		if exit.ClassOf(err) != exit.Failed || !strings.Contains(err.Error(), "refused") {
			t.Errorf("got %v (%v), want the unsigned chart refused", err, exit.ClassOf(err))
		}
	})

	t.Run("tampered cache", func(t *testing.T) {
		file := cached(t, "1.0.0")
		good, _ := os.ReadFile(file)
		other, _ := os.ReadFile(filepath.Join(dir, "web-1.1.0.tgz"))
		os.WriteFile(file, other, 0o644)
		err := load("1.0.0")
		if exit.ClassOf(err) != exit.Failed || !strings.Contains(err.Error(), "the cache was changed after the download") {
			t.Errorf("got %v (%v), want the changed cache refused", err, exit.ClassOf(err))
		}
		if _, err := os.Stat(file); err == nil {
			t.Error("the changed package is still in the cache")
		}
		// The next load downloads the signed package afresh.
		if err := load("1.0.0"); err != nil {
			t.Fatalf("after the changed cache was removed: %v", err)
		}
		if now, _ := os.ReadFile(file); string(now) != string(good) {
			t.Error("the package downloaded afresh is not the signed one")
		}
	})

	// The tag is moved to a manifest no approved key signed; the cached
	// package of the signed one must not be installed under it.
	t.Run("tag moved", func(t *testing.T) {
		evil := t.TempDir()
		helmCLI(t, "package", "testdata/charts/web", "--version", "1.0.0", "--app-version", "evil", "--destination", evil)
		helmCLI(t, "push", filepath.Join(evil, "web-1.0.0.tgz"), repo, "--plain-http")
		err := load("1.0.0")
		if exit.ClassOf(err) != exit.Failed || !strings.Contains(err.Error(), "refused") {
			t.Errorf("got %v (%v), want the moved tag refused", err, exit.ClassOf(err))
		}
	})

	t.Run("no approved keys", func(t *testing.T) {
		_, err := helm.New(helm.Options{CacheDir: t.TempDir()}).Load(ctx, helm.ChartRef{Repo: repo, Name: "web", Version: "1.1.0", Verify: &helm.Verification{}})
		if exit.ClassOf(err) != exit.Usage || !strings.Contains(err.Error(), "signing.publicKeys") {
			t.Errorf("got %v (%v), want a usage error naming signing.publicKeys", err, exit.ClassOf(err))
		}
	})
}
