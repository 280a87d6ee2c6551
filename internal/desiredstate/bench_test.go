package desiredstate

import (
	"fmt"
	"strings"
	"testing"
)

// generatedDSF writes a Helmsman DSF with n apps in the spec's style.
func generatedDSF(format Format, n int) []byte {
	var b strings.Builder
	if format == HelmsmanTOML {
		b.WriteString("[settings]\nkubeContext = \"prod\"\n\n[apps]\n")
		for i := range n {
			fmt.Fprintf(&b, "\n  # app %d\n  [apps.app-%03d]\n    namespace = \"prod\"\n    enabled = true\n    chart = \"ehealth/service\"\n    version = \"1.%d.0\"\n    priority = -%d\n", i, i, i, i%5)
			fmt.Fprintf(&b, "  [apps.app-%03d.set]\n    \"image.repository\" = \"registry.ehealth.example/team/app-%03d\"\n    \"image.tag\" = \"2.%d.0\"\n    replicaCount = \"3\"\n    \"env.DB_HOST\" = \"db-%d.prod.svc\"\n    \"ingress.host\" = \"app-%d.ehealth.example\"\n", i, i, i, i, i)
		}
		return []byte(b.String())
	}
	b.WriteString("settings:\n  kubeContext: prod\n\napps:\n")
	for i := range n {
		fmt.Fprintf(&b, "\n  # app %d\n  app-%03d:\n    namespace: prod\n    enabled: true\n    chart: \"ehealth/service\"\n    version: \"1.%d.0\"\n    priority: -%d\n", i, i, i, i%5)
		fmt.Fprintf(&b, "    set:\n      image.repository: \"registry.ehealth.example/team/app-%03d\"\n      image.tag: \"2.%d.0\"\n      replicaCount: 3\n      env.DB_HOST: \"db-%d.prod.svc\"\n      ingress.host: \"app-%d.ehealth.example\"\n", i, i, i, i)
	}
	return []byte(b.String())
}

func BenchmarkParse500YAML(b *testing.B) { benchParse(b, HelmsmanYAML) }
func BenchmarkParse500TOML(b *testing.B) { benchParse(b, HelmsmanTOML) }
func BenchmarkEdit500YAML(b *testing.B)  { benchEdit(b, HelmsmanYAML) }
func BenchmarkEdit500TOML(b *testing.B)  { benchEdit(b, HelmsmanTOML) }

func benchParse(b *testing.B, f Format) {
	src := generatedDSF(f, 500)
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		d, err := Open(f, map[string][]byte{"dsf": src})
		if err != nil {
			b.Fatal(err)
		}
		if apps, err := d.Apps(); err != nil || len(apps) != 500 {
			b.Fatal(len(apps), err)
		}
	}
}

// benchEdit measures one SetImage (new tag and new digest) on app 250 of an
// open 500-app document, including the re-parse and read-back checks.
func benchEdit(b *testing.B, f Format) {
	src := generatedDSF(f, 500)
	d, err := Open(f, map[string][]byte{"dsf": src})
	if err != nil {
		b.Fatal(err)
	}
	tags := []string{"3.0.0", "3.0.1"}
	digests := []string{digestA, digestB}
	// Insert the digest key once, outside the timing: a deploy replaces
	// tag and digest together.
	if _, err := d.SetImage("app-250", Image{Repository: "registry.ehealth.example/team/app-250", Tag: "3.0.0", Digest: digestA}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		changed, err := d.SetImage("app-250", Image{Repository: "registry.ehealth.example/team/app-250", Tag: tags[i%2], Digest: digests[i%2]})
		if err != nil || !changed {
			b.Fatal(changed, err)
		}
	}
}

func TestGeneratedDSFParses(t *testing.T) {
	for _, f := range []Format{HelmsmanYAML, HelmsmanTOML} {
		d := mustOpen(t, f, "dsf", generatedDSF(f, 20))
		if apps, err := d.Apps(); err != nil || len(apps) != 20 {
			t.Fatalf("%s: %d apps, %v", f, len(apps), err)
		}
	}
}

// generatedFlux writes n HelmReleases as one multi-document file, each with
// image-automation setter comments.
func generatedFlux(n int) []byte {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: app-%03d\n  namespace: shop\nspec:\n  interval: 5m\n", i)
		fmt.Fprintf(&b, "  chart:\n    spec:\n      chart: service\n      version: \"1.%d.0\"\n      sourceRef:\n        kind: HelmRepository\n        name: shop-charts\n", i)
		fmt.Fprintf(&b, "  values:\n    image:\n      repository: docker.io/shop/app-%03d # {\"$imagepolicy\": \"flux-system:app-%03d:name\"}\n      tag: master-%07x # {\"$imagepolicy\": \"flux-system:app-%03d:tag\"}\n", i, i, i, i)
		fmt.Fprintf(&b, "    replicaCount: 3\n    env:\n      DB_HOST: db-%d.shop.svc\n    ingress:\n      host: app-%d.shop.example\n", i, i)
	}
	return []byte(b.String())
}

func BenchmarkParse500Flux(b *testing.B) {
	src := generatedFlux(500)
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		d, err := Open(Flux, map[string][]byte{"releases.yaml": src})
		if err != nil {
			b.Fatal(err)
		}
		if apps, err := d.Apps(); err != nil || len(apps) != 500 {
			b.Fatal(len(apps), err)
		}
	}
}

// BenchmarkEdit500Flux is benchEdit for 500 HelmReleases in one file.
func BenchmarkEdit500Flux(b *testing.B) {
	d, err := Open(Flux, map[string][]byte{"releases.yaml": generatedFlux(500)})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := d.SetImage("app-250", Image{Repository: "docker.io/shop/app-250", Tag: "master-1", Digest: digestA}); err != nil {
		b.Fatal(err)
	}
	tags := []string{"master-2", "master-3"}
	digests := []string{digestA, digestB}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		changed, err := d.SetImage("app-250", Image{Repository: "docker.io/shop/app-250", Tag: tags[i%2], Digest: digests[i%2]})
		if err != nil || !changed {
			b.Fatal(changed, err)
		}
	}
}
