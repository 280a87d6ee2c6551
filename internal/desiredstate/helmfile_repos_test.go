package desiredstate

import "testing"

// A release's "repo/name" chart learns its repository URL from the
// helmfile's repositories list, OCI ones with the oci:// scheme.
func TestHelmfileRepositories(t *testing.T) {
	doc, err := Open(Helmfile, map[string][]byte{"helmfile.yaml": []byte(`repositories:
  - name: stable
    url: https://charts.example/stable
  - name: harbor
    url: harbor.example/charts
    oci: true
releases:
  - name: api
    namespace: prod
    chart: stable/service
    version: 1.2.3
  - name: web
    namespace: prod
    chart: harbor/web
    version: 0.1.0
  - name: local
    namespace: prod
    chart: ./charts/local
`)})
	if err != nil {
		t.Fatal(err)
	}
	for app, want := range map[string]string{"api": "https://charts.example/stable", "web": "oci://harbor.example/charts", "local": ""} {
		a, err := doc.App(app)
		if err != nil {
			t.Fatal(err)
		}
		if a.Chart.RepoURL != want {
			t.Errorf("%s: RepoURL %q, want %q", app, a.Chart.RepoURL, want)
		}
	}
}
