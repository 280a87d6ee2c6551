package desiredstate

import "testing"

// A HelmRelease learns its chart repository's URL from the HelmRepository
// its sourceRef names, when the manifests hold it.
func TestFluxHelmRepositoryURL(t *testing.T) {
	doc, err := Open(Flux, map[string][]byte{
		"sources.yaml": []byte(`apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata: {name: shop-charts, namespace: flux-system}
spec: {url: https://charts.shop.example, interval: 10m}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata: {name: oci-charts, namespace: flux-system}
spec: {type: oci, url: oci://harbor.example/charts}
`),
		"releases.yaml": []byte(`apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: blog, namespace: shop}
spec:
  chart:
    spec:
      chart: service
      version: "1.5.0"
      sourceRef: {kind: HelmRepository, name: shop-charts, namespace: flux-system}
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: news, namespace: shop}
spec:
  chart:
    spec:
      chart: service
      version: "1.5.0"
      sourceRef: {kind: HelmRepository, name: oci-charts, namespace: flux-system}
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: other, namespace: shop}
spec:
  chart:
    spec:
      chart: service
      sourceRef: {kind: HelmRepository, name: elsewhere}
`)})
	if err != nil {
		t.Fatal(err)
	}
	for app, want := range map[string]string{"blog": "https://charts.shop.example", "news": "oci://harbor.example/charts", "other": ""} {
		a, err := doc.App(app)
		if err != nil {
			t.Fatal(err)
		}
		if a.Chart.RepoURL != want {
			t.Errorf("%s: RepoURL %q, want %q", app, a.Chart.RepoURL, want)
		}
	}
}
