package cli

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/stepper-cd/stepper/internal/testenv"
)

// trustFixture is the apply job's world with a registry: an image built,
// signed and pushed by a vendor (signed), one pushed and never signed
// (unsigned), the platform's approved key, a cluster and a chart
// repository.
type trustFixture struct {
	*applyFixture
	signed, unsigned string // repository@sha256:...
}

func newTrustFixture(t *testing.T) *trustFixture {
	t.Helper()
	a := newApplyFixture(t)
	unsigned, err := testenv.PushBaseImage(t.Context(), a.host, "vendor-x/unsigned")
	if err != nil {
		t.Fatal(err)
	}
	return &trustFixture{applyFixture: a, signed: a.imageRepo + "@" + a.imageDigest, unsigned: unsigned.String()}
}

// trustApp is one app of a Helmsman desired-state file.
type trustApp struct {
	name, ns string
	priority int
	image    string // repository[:tag][@digest]
	chart    string // a path; "" is local/patient-api 1.4.0 from the repository
	values   []string
	replicas int
}

func (f *trustFixture) writeDSF(t *testing.T, apps ...trustApp) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("namespaces:\n")
	for _, a := range apps {
		fmt.Fprintf(&b, "  %s:\n", a.ns)
	}
	fmt.Fprintf(&b, "helmRepos:\n  local: %q\napps:\n", f.repoURL)
	for _, a := range apps {
		chart := a.chart
		if chart == "" {
			chart = "local/patient-api"
		}
		fmt.Fprintf(&b, "  %s:\n    namespace: %s\n    enabled: true\n    chart: %s\n    version: 1.4.0\n    priority: %d\n", a.name, a.ns, chart, a.priority)
		if len(a.values) > 0 {
			fmt.Fprintf(&b, "    valuesFiles: [%s]\n", strings.Join(a.values, ", "))
		}
		repo, digest, _ := strings.Cut(a.image, "@")
		tag := ""
		if i := strings.LastIndexByte(repo, ':'); i > strings.LastIndexByte(repo, '/') {
			repo, tag = repo[:i], repo[i+1:]
		}
		fmt.Fprintf(&b, "    set:\n      image.repository: %s\n", repo)
		if tag != "" {
			fmt.Fprintf(&b, "      image.tag: %q\n", tag)
		}
		if digest != "" {
			fmt.Fprintf(&b, "      image.digest: %q\n", digest)
		}
		replicas := a.replicas
		if replicas == 0 {
			replicas = 1
		}
		fmt.Fprintf(&b, "      autoscaling.enabled: false\n      replicaCount: %d\n", replicas)
	}
	f.writeState(t, "dsf.yaml", b.String())
	return filepath.Join(f.state, "dsf.yaml")
}

// releaseSecrets counts Helm's release records (one Secret per revision)
// in ns.
func (f *applyFixture) releaseSecrets(t *testing.T, ns string) int {
	t.Helper()
	l, err := f.client.CoreV1().Secrets(ns).List(t.Context(), metav1.ListOptions{LabelSelector: "owner=helm"})
	if err != nil {
		t.Fatal(err)
	}
	return len(l.Items)
}

// refused applies dsf, wants it refused with every one of want in its
// output, and wants no release revision written in ns: not for the bad app,
// and not for the good one that an unchecked apply installs first.
func (f *trustFixture) refused(t *testing.T, dsf, ns string, want ...string) {
	t.Helper()
	r := runCLI(t, f.environ, f.args(dsf)...)
	if r.code == 0 {
		t.Fatalf("the apply was not refused\nstderr:\n%s", r.stderr)
	}
	for _, w := range append(want, "nothing was written to the cluster") {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("the refusal lacks %q:\n%s", w, r.stderr)
		}
	}
	if n := f.releaseSecrets(t, ns); n != 0 {
		t.Errorf("%d release secrets in %s after the refused apply, want none", n, ns)
	}
	for _, app := range []string{"first", "bad"} {
		if h := f.history(t, app, ns); h != "" {
			t.Errorf("%s: history %q after the refused apply, want none", app, h)
		}
	}
	// The official CLI sees no release either.
	if out := f.helmCLI(t, "helm", "list", "-n", ns, "-q"); strings.TrimSpace(out) != "" {
		t.Errorf("helm list shows releases after the refused apply:\n%s", out)
	}
}

// The apply job refuses, before any write to the cluster, a desired state
// whose one bad app would reach beyond what the platform approves: an
// image not signed by an approved key, one pinned by tag only, values
// files and charts outside the checkout. A good app of an earlier
// priority, which an unchecked apply installs first, is not installed
// either.
func TestApplyRefusesUntrustedDesiredState(t *testing.T) {
	f := newTrustFixture(t)
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "x"), []byte("podLabels:\n  leaked: agent-file\n"), 0o644)
	// A file beside the checkout, which ../x names.
	os.WriteFile(filepath.Join(filepath.Dir(f.state), "x"), []byte("podLabels:\n  leaked: agent-file\n"), 0o644)
	if err := os.Symlink(filepath.Join(outside, "x"), filepath.Join(f.state, "link.yaml")); err != nil {
		t.Fatal(err)
	}
	chartOutside := copyChart(t, filepath.Join("..", "..", "testdata", "validate", "charts", "patient-api"))
	setChartField(t, chartOutside, "version", "1.4.0")
	rel, err := filepath.Rel(f.state, chartOutside)
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		bad  trustApp
		want []string
	}{
		{"unsigned digest", trustApp{image: f.unsigned}, []string{"bad: image " + f.unsigned + " refused"}},
		{"tag-only image", trustApp{image: strings.Split(f.signed, "@")[0] + ":2.7.0"}, []string{"bad: image", "pinned by tag only"}},
		{"absolute values file", trustApp{image: f.signed, values: []string{"/etc/hostname"}}, []string{"bad: values file", "absolute path"}},
		{"values file ../x", trustApp{image: f.signed, values: []string{"../x"}}, []string{"bad: values file", "../x", "leaves the desired-state checkout"}},
		{"values symlink out", trustApp{image: f.signed, values: []string{"link.yaml"}}, []string{"bad: values file link.yaml leads out of the desired-state checkout"}},
		{"chart path ../x", trustApp{image: f.signed, chart: rel}, []string{"bad: chart path", "leaves the desired-state checkout"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := f.ns(strings.ReplaceAll(strings.ReplaceAll(tc.name, " ", "-"), "/", "-"))
			ns = strings.ReplaceAll(strings.ReplaceAll(ns, ".", ""), "--", "-")
			bad := tc.bad
			bad.name, bad.ns = "bad", ns
			dsf := f.writeDSF(t, trustApp{name: "first", ns: ns, priority: -10, image: f.signed}, bad)
			f.refused(t, dsf, ns, tc.want...)
		})
	}

	// The control: the same state with only good apps is applied.
	t.Run("signed digest applies", func(t *testing.T) {
		ns := f.ns("good")
		f.writeState(t, "values/good.yaml", "podLabels:\n  from: checkout\n")
		r := runCLI(t, f.environ, f.args(f.writeDSF(t, trustApp{name: "first", ns: ns, image: f.signed, values: []string{"./values/good.yaml"}}))...)
		if r.code != 0 {
			t.Fatalf("apply of a signed digest: exit %d\n%s", r.code, r.stderr)
		}
		if h := f.history(t, "first", ns); h != "1:deployed" {
			t.Errorf("history %q, want 1:deployed", h)
		}
	})

	// A chart package in the cache changed after it was downloaded: the
	// next apply refuses it and writes no revision.
	t.Run("tampered cached chart", func(t *testing.T) {
		ns := f.ns("good")
		f.tamperedCacheRefused(t, f.repoURL, ns, f.writeDSF(t, trustApp{name: "first", ns: ns, image: f.signed, replicas: 2}))
		if h := f.history(t, "first", ns); h != "1:deployed" {
			t.Errorf("history %q, want 1:deployed", h)
		}
		if _, err := f.client.CoreV1().ConfigMaps(ns).Get(t.Context(), "evil", metav1.GetOptions{}); err == nil {
			t.Error("the tampered chart's ConfigMap exists")
		}
	})
}

// tamperedCacheRefused replaces patient-api 1.4.0 from repo in the apply
// job's chart cache with a package that renders one more object, as whoever
// can write the cache directory could, and checks that applying state (whose
// app "first" uses the chart) is refused with no release revision written
// in ns.
func (f *applyFixture) tamperedCacheRefused(t *testing.T, repo, ns, state string) {
	t.Helper()
	f.tamperCachedChart(t, repo)
	before := f.releaseSecrets(t, ns)
	r := runCLI(t, f.environ, f.args(state)...)
	if r.code == 0 {
		t.Fatalf("the tampered chart was applied\n%s", r.stderr)
	}
	for _, w := range []string{"first: chart", "the cache was changed after the download", "nothing was written to the cluster"} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("the refusal lacks %q:\n%s", w, r.stderr)
		}
	}
	if n := f.releaseSecrets(t, ns); n != before {
		t.Errorf("%d release secrets after the refused apply, want %d", n, before)
	}
}

func (f *applyFixture) tamperCachedChart(t *testing.T, repo string) {
	t.Helper()
	sum := sha256.Sum256([]byte(repo))
	cached := filepath.Join(cacheDir(f.environ, "charts"), "charts", hex.EncodeToString(sum[:8]), "patient-api-1.4.0.tgz")
	if _, err := os.Stat(cached); err != nil {
		t.Fatalf("the cached chart: %v", err)
	}
	evil := copyChart(t, filepath.Join("..", "..", "testdata", "validate", "charts", "patient-api"))
	setChartField(t, evil, "version", "1.4.0")
	if err := os.WriteFile(filepath.Join(evil, "templates", "evil.yaml"), []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: evil}\ndata: {tampered: \"yes\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pkgDir := t.TempDir()
	f.helmCLI(t, "helm", "package", evil, "-d", pkgDir)
	data, err := os.ReadFile(filepath.Join(pkgDir, "patient-api-1.4.0.tgz"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cached, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
