package desiredstate

import (
	"strings"
	"testing"
)

// A chart version written in the shared helmfile belongs to every
// environment: setting it for one is refused at its line, with what to
// do; a version the layout keeps per environment is edited there.
func TestHelmfileChartVersionPerEnvironment(t *testing.T) {
	helmfile := `# every environment deploys these releases
environments:
  dev:
    values: [dev/versions.yaml]
  prod:
    values: [prod/versions.yaml]
---
releases:
  - name: api
    chart: charts/api # local chart
    version: 1.2.3
  - name: web
    chart: charts/web
  - name: worker
    chart: charts/worker
    version: {{ index .Values "charts" "worker" | quote }}
`
	files := map[string][]byte{
		"helmfile.yaml.gotmpl": []byte(helmfile),
		"dev/versions.yaml":    []byte("charts:\n  worker: \"2.0.0\" # dev runs ahead\n"),
		"prod/versions.yaml":   []byte("charts:\n  worker: 1.9.0\n"),
	}
	doc := mustOpenFiles(t, Helmfile, files, WithEnvironment("dev"))
	_, err := doc.SetChartVersion("api", "1.3.0")
	wantErr(t, err, "helmfile.yaml.gotmpl:11:14", `app "api" writes its version literally`, "every environment shares",
		`move the version into environment dev's versions file`, `{{ index .Values "charts" "api" | quote }}`)
	_, err = doc.SetChartVersion("web", "1.0.0")
	wantErr(t, err, "helmfile.yaml.gotmpl:12:5", `app "web" has no version`)
	if string(doc.Files()["helmfile.yaml.gotmpl"]) != helmfile {
		t.Fatal("a refused edit changed the helmfile")
	}
	if changed, err := doc.SetChartVersion("worker", "2.1.0"); err != nil || !changed {
		t.Fatalf("worker: %v %v", changed, err)
	}
	after := doc.Files()
	if got := string(after["dev/versions.yaml"]); got != "charts:\n  worker: \"2.1.0\" # dev runs ahead\n" {
		t.Errorf("dev versions:\n%s", got)
	}
	if string(after["prod/versions.yaml"]) != string(files["prod/versions.yaml"]) || string(after["helmfile.yaml.gotmpl"]) != helmfile {
		t.Error("the edit reached another environment")
	}
	// With no environments declared there is only one: the helmfile is its own.
	single := mustOpenFiles(t, Helmfile, map[string][]byte{"helmfile.yaml": []byte("releases:\n  - name: api\n    chart: charts/api\n    version: 1.2.3\n")})
	if changed, err := single.SetChartVersion("api", "1.3.0"); err != nil || !changed ||
		!strings.Contains(string(single.Files()["helmfile.yaml"]), "version: 1.3.0") {
		t.Fatalf("single environment: %v %v", changed, err)
	}
}
