package desiredstate

import (
	"path"
	"strconv"
	"strings"
	"testing"
)

func TestAppModelFromSpecStyle(t *testing.T) {
	doc := mustLoad(t, helmsmanData+"/spec-style.yaml")
	a, err := doc.App("patient-api")
	if err != nil {
		t.Fatal(err)
	}
	if a.Namespace != "inttest" || !a.Enabled || a.Chart != (Chart{Repo: "ehealth", Name: "patient-api", RepoURL: "https://charts.ehealth.example/stable"}) ||
		a.ChartVersion != "1.4.2" || a.Priority != -3 || a.Protected || !a.Wait || a.Timeout != 300 || a.Pos.Line != 24 {
		t.Errorf("fields: %+v", a)
	}
	if a.Image != (Image{Repository: "registry.ehealth.example/supplier-a/patient-api", Tag: "2.7.0"}) {
		t.Errorf("image: %+v", a.Image)
	}
	c := a.Config
	if c.Replicas != "3" || c.Memory != "512Mi" || c.Env["DB_HOST"] != "patients-db.inttest.svc" ||
		c.Ports["service.port"] != "8080" || c.SecretRefs["database.existingSecret"] != "patient-db-credentials" ||
		c.DNS["ingress.hosts[0].host"] != "patients.inttest.ehealth.example" {
		t.Errorf("config: %+v", c)
	}
	b, _ := doc.App("booking-ui")
	if len(b.ValuesFiles) != 2 || b.Image.Tag != "1.10" {
		t.Errorf("booking-ui: %+v", b)
	}
	apps, err := doc.Apps()
	if err != nil || len(apps) != 3 || apps[2].Name != "audit-worker" || !apps[2].Image.IsZero() {
		t.Errorf("apps: %v %v", apps, err)
	}
}

// YAML and TOML versions of the same environment read the same.
func TestYAMLAndTOMLAgree(t *testing.T) {
	y, _ := mustLoad(t, helmsmanData+"/spec-example.yaml").App("jenkins")
	tm, _ := mustLoad(t, helmsmanData+"/spec-example.toml").App("jenkins")
	y.Pos, tm.Pos = Pos{}, Pos{}
	y.Set["secret2"], tm.Set["secret2"] = "", "" // the spec's examples differ here
	if d := diffApp(y, tm); len(d) > 0 || y.Priority != tm.Priority || y.Protected != tm.Protected {
		t.Errorf("differ: %+v", d)
	}
}

// Helmsman applies apps of equal priority in file order.
func TestAppsInFileOrder(t *testing.T) {
	apps, err := mustLoad(t, helmsmanData+"/inline-dotted.toml").Apps()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range apps {
		names = append(names, a.Name+"@"+strconv.Itoa(a.Pos.Line))
	}
	if got := strings.Join(names, " "); got != "orders@3 invoices@4 ledger@10 reports@15" {
		t.Errorf("order: %s", got)
	}
}

func TestCRLFFilesKeepLineEndings(t *testing.T) {
	for _, tc := range []struct {
		format Format
		src    string
	}{
		{HelmsmanYAML, "apps:\r\n  a:\r\n    version: \"1.0.0\"\r\n    set:\r\n      image.tag: \"1\"\r\n"},
		{HelmsmanTOML, "[apps.a]\r\nversion = \"1.0.0\"\r\n[apps.a.set]\r\n\"image.tag\" = \"1\"\r\n"},
	} {
		doc := mustOpen(t, tc.format, "crlf", []byte(tc.src))
		if _, err := doc.SetImage("a", Image{Tag: "2", Digest: digestA}); err != nil {
			t.Fatal(err)
		}
		out := string(doc.Files()["crlf"])
		if strings.Count(out, "\n") != strings.Count(out, "\r\n") || strings.Count(out, "\n") != strings.Count(tc.src, "\n")+1 {
			t.Errorf("%s: mixed line endings: %q", tc.format, out)
		}
	}
}

func TestGlobMatchAgreesWithPathMatch(t *testing.T) {
	keys := []string{"env.DB", "env.", "env", "db.existingSecret", "existingSecret", "a/b.existingSecret", "ingress.hosts[0].host", "service.port"}
	for _, p := range append(DefaultKeys().SecretRefs, append(DefaultKeys().DNS, "env.*", "service.port", "s?rvice.port", "*")...) {
		for _, k := range keys {
			want, _ := path.Match(p, k)
			if got := globMatch(p, k); got != want {
				t.Errorf("globMatch(%q, %q) = %v, path.Match says %v", p, k, got, want)
			}
		}
	}
}

func TestOpenDetectsFormat(t *testing.T) {
	for name, src := range map[string]string{"env.yml": "apps:\n  api: {chart: r/api}\n", "env.TOML": "[apps.api]\nchart = \"r/api\"\n"} {
		doc, err := Open("", map[string][]byte{name: []byte(src)})
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if want := map[string]Format{"env.yml": HelmsmanYAML, "env.TOML": HelmsmanTOML}[name]; doc.Format() != want {
			t.Errorf("%s: format %s, want %s", name, doc.Format(), want)
		}
	}
	if _, err := Open("", map[string][]byte{"env.json": nil}); err == nil {
		t.Error("unknown extension accepted")
	}
}

// A field from a newer Helmsman is not an error; only near misses are.
func TestNewerHelmsmanFieldsAccepted(t *testing.T) {
	doc := mustOpen(t, HelmsmanYAML, "new.yaml", []byte("apps:\n  api:\n    version: 1.0.0\n    maxHistory: 5\n    dependsOn: db\n"))
	if _, err := doc.App("api"); err != nil {
		t.Fatal(err)
	}
}
