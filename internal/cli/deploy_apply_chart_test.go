package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/stepper-cd/stepper/internal/signing"
	"github.com/stepper-cd/stepper/internal/testenv"
)

// signChart signs the manifest that ref (host/repo:tag) names with the
// approved key of f's configuration, as the platform signs its charts.
func (f *trustFixture) signChart(t *testing.T, ref string) {
	t.Helper()
	conf, err := os.ReadFile(f.config)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`key: "file://([^"]+)"`).FindSubmatch(conf)
	if m == nil {
		t.Fatalf("no signing.key in %s", f.config)
	}
	pem, err := os.ReadFile(string(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	key, err := signing.LoadKey(t.Context(), signing.KeySource{PEM: pem, Password: []byte(testenv.TestOnlyKeyPassword)})
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Head(tag, remote.WithContext(t.Context()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := signing.Sign(t.Context(), key, tag.Context().Digest(desc.Digest.String()), signing.Options{}); err != nil {
		t.Fatal(err)
	}
}

// ociDSF is a desired state of one app, first, whose chart patient-api
// 1.4.0 comes from the OCI repository repo.
func (f *trustFixture) ociDSF(t *testing.T, ns, repo string) string {
	t.Helper()
	imageRepo, digest, _ := strings.Cut(f.signed, "@")
	f.writeState(t, "dsf.yaml", fmt.Sprintf(`namespaces:
  %s:
helmRepos:
  oci: %q
apps:
  first:
    namespace: %s
    enabled: true
    chart: oci/patient-api
    version: 1.4.0
    set:
      image.repository: %s
      image.digest: %q
      autoscaling.enabled: false
      replicaCount: 1
`, ns, repo, ns, imageRepo, digest))
	return filepath.Join(f.state, "dsf.yaml")
}

// The apply job installs an OCI chart only when an approved key signed
// the manifest its tag names, and a cached package only while it matches
// that manifest: an unsigned chart, or a cache changed after the download,
// is refused before any release revision is written.
func TestApplyVerifiesOCIChart(t *testing.T) {
	f := newTrustFixture(t)
	chart := copyChart(t, filepath.Join("..", "..", "testdata", "validate", "charts", "patient-api"))
	setChartField(t, chart, "version", "1.4.0")
	pkgDir := t.TempDir()
	f.helmCLI(t, "helm", "package", chart, "-d", pkgDir)
	pkg := filepath.Join(pkgDir, "patient-api-1.4.0.tgz")
	signed, unsigned := "oci://"+f.host+"/platform-charts", "oci://"+f.host+"/unsigned-charts"
	for _, repo := range []string{signed, unsigned} {
		f.helmCLI(t, "helm", "push", pkg, repo, "--plain-http")
	}
	f.signChart(t, f.host+"/platform-charts/patient-api:1.4.0")

	t.Run("unsigned chart", func(t *testing.T) {
		ns := f.ns("oci-unsigned")
		f.refused(t, f.ociDSF(t, ns, unsigned), ns, "first: chart", "refused")
	})

	ns := f.ns("oci-signed")
	r := runCLI(t, f.environ, f.args(f.ociDSF(t, ns, signed))...)
	if r.code != 0 {
		t.Fatalf("apply of a signed OCI chart: exit %d\n%s", r.code, r.stderr)
	}
	if h := f.history(t, "first", ns); h != "1:deployed" {
		t.Fatalf("history %q, want 1:deployed", h)
	}

	t.Run("tampered cached chart", func(t *testing.T) {
		f.tamperedCacheRefused(t, signed, ns, f.ociDSF(t, ns, signed))
	})
}
