package desiredstate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCopyReleaseKeepsPerEnvironmentValues(t *testing.T) {
	keys := DefaultKeys()
	keys.PerEnvironment = []string{"env.DB_HOST"}
	from := mustLoad(t, helmsmanData+"/spec-style.yaml")
	to := mustLoad(t, helmsmanData+"/exttest.yaml")
	target := helmsmanData + "/exttest.yaml"
	before := to.Files()[target]

	changed, err := CopyRelease(from, to, "patient-api", keys)
	if err != nil || !changed {
		t.Fatalf("copy: changed=%v err=%v", changed, err)
	}
	after := to.Files()[target]
	diff, _ := unifiedDiff("a/exttest.yaml", "b/exttest.yaml", before, after)
	checkGolden(t, filepath.Join(helmsmanData, "golden", "copy-patient-api-to-exttest.diff"), []byte(diff))

	got, err := to.App("patient-api")
	if err != nil {
		t.Fatal(err)
	}
	src, _ := from.App("patient-api")
	if got.Image != src.Image || got.ChartVersion != src.ChartVersion || got.Config.Memory != "512Mi" {
		t.Errorf("release not copied: %+v", got)
	}
	// Per-environment settings stay.
	if got.Config.Replicas != "6" || got.Config.Env["DB_HOST"] != "patients-db.exttest.svc" ||
		got.Config.DNS["ingress.hosts[0].host"] != "patients.exttest.ehealth.example" ||
		got.Config.SecretRefs["database.existingSecret"] != "patient-db-credentials-ext" {
		t.Errorf("per-environment values moved: %+v", got.Config)
	}
	// The source had no digest, so the target's old one is blanked rather
	// than left pointing at the previous release.
	if got.Image.Digest != "" {
		t.Errorf("stale digest %q survived", got.Image.Digest)
	}
	if again, err := CopyRelease(from, to, "patient-api", keys); err != nil || again {
		t.Fatalf("second copy: changed=%v err=%v", again, err)
	}
	if string(to.Files()[target]) != string(after) {
		t.Fatal("second copy changed bytes")
	}
}

func TestDiffEnvironments(t *testing.T) {
	a := mustLoad(t, helmsmanData+"/spec-style.yaml")
	b := mustLoad(t, helmsmanData+"/exttest.yaml")
	diffs, err := Diff(a, b)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Difference{
		"patient-api/version":             {App: "patient-api", Field: "version", From: "1.4.2", To: "1.3.0"},
		"patient-api/values.replicaCount": {App: "patient-api", Field: "values.replicaCount", From: "3", To: "6"},
		"booking-ui/image":                {App: "booking-ui", Field: "image", From: "registry.ehealth.example/supplier-b/booking-ui:1.10", To: "registry.ehealth.example/supplier-b/booking-ui:1.9"},
		"audit-worker/app":                {App: "audit-worker", Field: "app", From: "present"},
		"patient-api/values.image.digest": {App: "patient-api", Field: "values.image.digest", To: "sha256:1111111111111111111111111111111111111111111111111111111111111111"},
	}
	got := map[string]Difference{}
	for _, d := range diffs {
		got[d.App+"/"+d.Field] = d
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: got %+v, want %+v", k, got[k], w)
		}
	}
}

func TestRevertOneApp(t *testing.T) {
	path := helmsmanData + "/spec-style.yaml"
	before := mustLoad(t, path)
	after := mustLoad(t, path)
	if _, err := after.SetImage("patient-api", Image{Repository: "registry.ehealth.example/supplier-a/patient-api", Tag: "2.8.0", Digest: digestA}); err != nil {
		t.Fatal(err)
	}
	if _, err := after.SetChartVersion("patient-api", "1.5.0"); err != nil {
		t.Fatal(err)
	}
	// Later, someone else changes booking-ui; the revert must keep that.
	current := mustOpen(t, HelmsmanYAML, path, after.Files()[path])
	if _, err := current.SetChartVersion("booking-ui", "0.9.1"); err != nil {
		t.Fatal(err)
	}
	changed, err := Revert(current, before, after, "patient-api")
	if err != nil || !changed {
		t.Fatalf("revert: changed=%v err=%v", changed, err)
	}
	diff, _ := unifiedDiff("a/spec-style.yaml", "b/spec-style.yaml", before.Files()[path], current.Files()[path])
	checkGolden(t, filepath.Join(helmsmanData, "golden", "revert-patient-api.diff"), []byte(diff))
	p, _ := current.App("patient-api")
	if p.ChartVersion != "1.4.2" || p.Image.Tag != "2.7.0" || p.Image.Digest != "" {
		t.Errorf("not reverted: %+v", p.Image)
	}
	if b, _ := current.App("booking-ui"); b.ChartVersion != "0.9.1" {
		t.Errorf("revert touched booking-ui: %s", b.ChartVersion)
	}
	if again, err := Revert(current, before, after, "patient-api"); err != nil || again {
		t.Fatalf("second revert: changed=%v err=%v", again, err)
	}
}

func TestWriteFilesAtomic(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "env.yaml"), []byte("old\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFiles(dir, map[string][]byte{"env.yaml": []byte("new\n")}); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "env.yaml"))
	fi, _ := os.Stat(filepath.Join(dir, "env.yaml"))
	if string(got) != "new\n" || fi.Mode().Perm() != 0o600 {
		t.Fatalf("got %q mode %v", got, fi.Mode())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
	if err := WriteFiles(dir, map[string][]byte{"../escape.yaml": nil}); err == nil {
		t.Fatal("a name leaving dir was written")
	}
}

// A revert that cannot be done whole is refused before anything changes.
func TestRevertRefusesToLeaveAnAddedChartVersion(t *testing.T) {
	src := []byte(`apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: api
  namespace: shop
spec:
  interval: 5m
  chart:
    spec:
      chart: api
      sourceRef: {kind: HelmRepository, name: charts}
  values:
    image:
      repository: registry.example/shop/api
      tag: master-0123abcd # {"$imagepolicy": "shop:api:tag"}
`)
	files := map[string][]byte{"api.yaml": src}
	before := mustOpenFiles(t, Flux, files)
	after := mustOpenFiles(t, Flux, files)
	if _, err := after.SetChartVersion("api", "1.2.0"); err != nil {
		t.Fatal(err)
	}
	current := mustOpenFiles(t, Flux, after.Files())
	_, err := Revert(current, before, after, "api")
	if err == nil || !strings.Contains(err.Error(), "added chart version 1.2.0") {
		t.Fatalf("err = %v", err)
	}
	if got := current.Files()["api.yaml"]; string(got) != string(after.Files()["api.yaml"]) {
		t.Errorf("a refused revert changed the document:\n%s", got)
	}
}
