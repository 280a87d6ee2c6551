package crosscheck_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	ds "github.com/stepper-cd/stepper/internal/desiredstate"
	"github.com/stepper-cd/stepper/internal/local"
)

// imageAutomation runs Flux image-automation-controller's setter update
// over a folder: local.UpdateWithSetters, kyaml's own setter matcher with
// the controller's glue, which the local clone of the shop also runs.
func imageAutomation(t *testing.T, dir string, policies map[string]latestImage) map[string][]string {
	t.Helper()
	latest := map[string]local.LatestImage{}
	for p, img := range policies {
		latest[p] = local.LatestImage{Name: img.name, Tag: img.tag, Digest: img.digest}
	}
	applied, err := local.UpdateWithSetters(dir, latest)
	if err != nil {
		t.Fatal(err)
	}
	return applied
}

type latestImage struct{ name, tag, digest string }

const shopProduction = "../../../testdata/samples/shop/flux/clusters/production"

// The shop's image automation run over production: a live setter moves
// blog-service to the newest master- tag, a held one leaves the rolled
// back tag and the whole file alone, and once released it moves again.
func TestImageAutomationLeavesHeldImageAlone(t *testing.T) {
	const file = "apps/blog-service.yaml"
	newest := map[string]latestImage{
		"flux-system:blog-service-master": {name: "docker.io/hostedshop/blog-service", tag: "master-9f8e7d6-1763500000"},
		"flux-system:news-service-master": {name: "docker.io/hostedshop/news-service", tag: "master-5678def-1763500000"},
	}
	const movedTag = "\n      tag: master-9f8e7d6-1763500000 # {\"$imagepolicy\": \"flux-system:blog-service-master:tag\"}\n"

	live := t.TempDir()
	writeDoc(t, live, loadFlux(t, shopProduction))
	applied := imageAutomation(t, live, newest)
	if got := readFile(t, live, file); !strings.Contains(got, movedTag) {
		t.Fatalf("automation did not move the live tag (applied %v):\n%s", applied, got)
	}

	held := t.TempDir()
	doc := loadFlux(t, shopProduction)
	if _, err := doc.SetImage("blog-service", ds.Image{Tag: "master-1a2b3c4-1763300000"}); err != nil {
		t.Fatal(err)
	}
	if changed, err := ds.HoldImage(doc, "blog-service"); err != nil || !changed {
		t.Fatalf("hold: %v %v", changed, err)
	}
	writeDoc(t, held, doc)
	rolledBack := readFile(t, held, file)
	applied = imageAutomation(t, held, newest)
	if got := readFile(t, held, file); got != rolledBack {
		t.Errorf("automation changed the held file (applied %v):\n%s", applied, got)
	}
	if applied[file] != nil {
		t.Errorf("setters applied to the held file: %v", applied[file])
	}
	if applied["apps/news-service.yaml"] == nil {
		t.Errorf("automation did not run: news-service's live tag was not moved (applied %v)", applied)
	}

	doc = loadFlux(t, held)
	if changed, err := ds.ReleaseImage(doc, "blog-service"); err != nil || !changed {
		t.Fatalf("release: %v %v", changed, err)
	}
	writeDoc(t, held, doc)
	imageAutomation(t, held, newest)
	if got := readFile(t, held, file); !strings.Contains(got, movedTag) {
		t.Errorf("automation did not move the released tag:\n%s", got)
	}
}

// For each form a setter comment takes in a file, what kyaml's matcher
// does agrees with stepper: a setter automation applies is held (or the
// hold refuses it at its line), one it ignores is left as it is, and
// after a hold automation applies nothing to the image lines. Every file
// also carries a live setter for another policy, so automation always
// reads it.
func TestHoldSilencesEverySetterAutomationReads(t *testing.T) {
	const head = "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: api\nspec:\n  chart:\n    spec:\n      chart: service\n      version: 1.0.0\n  values:\n    sidecar: r.example/side:v1 # {\"$imagepolicy\": \"ns:side\"}\n"
	const setter = `{"$imagepolicy": "ns:api:tag"}`
	for _, tc := range []struct {
		name    string
		values  string // the image, under spec.values
		applies bool   // kyaml applies ns:api:tag before any hold
		hold    string // "held", "none" or "refused"
	}{
		{"documented form", "    image:\n      tag: v1 # " + setter + "\n", true, "held"},
		{"no space after #", "    image:\n      tag: v1 #" + setter + "\n", true, "held"},
		{"two #", "    image:\n      tag: v1 ## " + setter + "\n", true, "held"},
		{"spaces inside", "    image:\n      tag: v1 # { \"$imagepolicy\" : \"ns:api:tag\" }\n", true, "held"},
		{"another key too", "    image:\n      tag: v1 # {\"$imagepolicy\": \"ns:api:tag\", \"by\": \"flux\"}\n", true, "held"},
		{"quoted value", "    image:\n      tag: \"v1\" # " + setter + "\n", true, "held"},
		{"whole image with a name setter", "    image:\n      repository: r.example/api # {\"$imagepolicy\": \"ns:api:name\"}\n      tag: v1 # " + setter + "\n", true, "held"},
		{"digest setter", "    image:\n      tag: v1 # " + setter + "\n      digest: sha256:" + strings.Repeat("b", 64) + " # {\"$imagepolicy\": \"ns:api:digest\"}\n", true, "held"},
		{"anchored value", "    image:\n      tag: &tag v1 # " + setter + "\n    worker:\n      tag: *tag\n", true, "held"},
		{"flow mapping, comma", "    image: {\n      repository: r.example/api,\n      tag: v1, # " + setter + "\n    }\n", true, "held"},
		{"flow mapping, last entry", "    image: {\n      repository: r.example/api,\n      tag: v1 # " + setter + "\n    }\n", true, "held"},
		{"trailing text", "    image:\n      tag: v1 # " + setter + " # note\n", false, "none"},
		{"a value that is no string", "    image:\n      tag: v1 # {\"$imagepolicy\": \"ns:api:tag\", \"n\": 1}\n", false, "none"},
		{"above the key", "    image:\n      # " + setter + "\n      tag: v1\n", false, "none"},
		{"on an alias", "    base: &tag v1\n    image:\n      tag: *tag # " + setter + "\n", false, "none"},
		{"other case", "    image:\n      tag: v1 # {\"$ImagePolicy\": \"ns:api:tag\"}\n", false, "none"},
		{"already held", "    image:\n      tag: v1 # {\"$imagepolicy-held-by-stepper\": \"ns:api:tag\"}\n", false, "none"},
		{"comment line between key and value", "    image:\n      tag:\n        # " + setter + "\n        v1\n", true, "refused"},
		{"anchor, comment line, value", "    image:\n      tag: &tag\n        # " + setter + "\n        v1\n", true, "refused"},
		{"comment after the key", "    image:\n      tag: # " + setter + "\n        v1\n", false, "none"},
		{"key with JSON escapes", "    image:\n      tag: v1 # {\"\\u0024imagepolicy\": \"ns:api:tag\"}\n", true, "refused"},
		{"long $ref form", "    image:\n      tag: v1 # {\"$ref\": \"#/definitions/io.k8s.cli.setters.ns:api:tag\"}\n", true, "refused"},
		{"after a flow mapping", "    image: {repository: r.example/api, tag: v1} # " + setter + "\n", false, "refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := head + tc.values
			policies := map[string]latestImage{
				"ns:api":  {name: "r.example/api", tag: "v2", digest: "sha256:" + strings.Repeat("a", 64)},
				"ns:side": {name: "r.example/side", tag: "v2"},
			}
			if got := applies(t, src, policies); got != tc.applies {
				t.Fatalf("kyaml applies ns:api: %v, want %v", got, tc.applies)
			}
			doc, err := ds.Open(ds.Flux, map[string][]byte{"hr.yaml": []byte(src)})
			if err != nil {
				t.Fatal(err)
			}
			changed, err := ds.HoldImage(doc, "api")
			switch {
			case tc.hold == "refused":
				if err == nil {
					t.Fatalf("hold: changed=%v, want it refused", changed)
				}
				return
			case err != nil || changed != (tc.hold == "held"):
				t.Fatalf("hold: changed=%v err=%v, want %s", changed, err, tc.hold)
			}
			if applies(t, string(doc.Files()["hr.yaml"]), policies) {
				t.Errorf("kyaml applies ns:api after the hold:\n%s", doc.Files()["hr.yaml"])
			}
		})
	}
}

// applies reports whether automation applies any ns:api setter to src,
// failing when it did not read the file at all.
func applies(t *testing.T, src string, policies map[string]latestImage) bool {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hr.yaml"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	set := imageAutomation(t, dir, policies)["hr.yaml"]
	if !slices.Contains(set, "ns:side") {
		t.Fatalf("automation did not read the file (applied %v)", set)
	}
	return slices.ContainsFunc(set, func(s string) bool { return strings.HasPrefix(s, "ns:api") })
}

func loadFlux(t *testing.T, dir string) ds.Document {
	t.Helper()
	doc, err := ds.Load(dir, ds.WithFormat(ds.Flux))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func writeDoc(t *testing.T, dir string, doc ds.Document) {
	t.Helper()
	for name := range doc.Files() {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := ds.WriteFiles(dir, doc.Files()); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
