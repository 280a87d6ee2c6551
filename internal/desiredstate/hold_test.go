package desiredstate

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

const shopProduction = "../../testdata/samples/shop/flux/clusters/production"

const (
	liveTag = `# {"$imagepolicy": "flux-system:blog-service-master:tag"}`
	heldTag = `# {"$imagepolicy-held-by-stepper": "flux-system:blog-service-master:tag"}`
)

// Holding the shop's blog-service renames the key of its two setter
// comments and nothing else; news-service in the next file keeps its live
// setters; holding again changes nothing; releasing gives back the bytes.
func TestHoldShopSample(t *testing.T) {
	doc := mustLoad(t, shopProduction)
	orig := doc.Files()
	apps, _ := doc.Apps()

	if changed, err := HoldImage(doc, "blog-service"); err != nil || !changed {
		t.Fatalf("hold: %v %v", changed, err)
	}
	held := doc.Files()
	diff := changedLines(orig["apps/blog-service.yaml"], held["apps/blog-service.yaml"])
	want := []string{
		`-      repository: docker.io/hostedshop/blog-service # {"$imagepolicy": "flux-system:blog-service-master:name"}`,
		`+      repository: docker.io/hostedshop/blog-service # {"$imagepolicy-held-by-stepper": "flux-system:blog-service-master:name"}`,
		`-      tag: master-7c6b5a4-1763400000 ` + liveTag,
		`+      tag: master-7c6b5a4-1763400000 ` + heldTag,
	}
	if strings.Join(diff, "\n") != strings.Join(want, "\n") {
		t.Errorf("hold changed:\n%s\nwant:\n%s", strings.Join(diff, "\n"), strings.Join(want, "\n"))
	}
	for name := range orig {
		if name != "apps/blog-service.yaml" && !bytes.Equal(orig[name], held[name]) {
			t.Errorf("hold changed %s too", name)
		}
	}
	if after, _ := doc.Apps(); fmt.Sprint(after) != fmt.Sprint(apps) {
		t.Errorf("apps read differently after the hold:\n%v\n%v", after, apps)
	}
	if h, err := ImageHeld(doc, "blog-service"); err != nil || !h {
		t.Errorf("blog-service held: %v %v", h, err)
	}
	if h, err := ImageHeld(doc, "news-service"); err != nil || h {
		t.Errorf("news-service held: %v %v", h, err)
	}
	if changed, err := HoldImage(doc, "blog-service"); err != nil || changed || !sameFiles(doc.Files(), held) {
		t.Errorf("second hold: changed=%v err=%v", changed, err)
	}

	if changed, err := ReleaseImage(doc, "blog-service"); err != nil || !changed {
		t.Fatalf("release: %v %v", changed, err)
	}
	if !sameFiles(doc.Files(), orig) {
		t.Errorf("hold then release is not the original:\n%s", doc.Files()["apps/blog-service.yaml"])
	}
	if changed, err := ReleaseImage(doc, "blog-service"); err != nil || changed {
		t.Errorf("second release: %v %v", changed, err)
	}
	if h, _ := ImageHeld(doc, "blog-service"); h {
		t.Error("still held after the release")
	}
}

// A rollback writes the older tag and holds it in one change; a later
// SetImage on the held line writes the value and keeps the hold, and a
// digest is still not written under a tag automation will own again once
// released.
func TestRollbackHoldsInOneChange(t *testing.T) {
	doc := mustLoad(t, shopProduction)
	if _, err := doc.SetImage("blog-service", Image{Tag: "master-1a2b3c4-1763300000"}); err != nil {
		t.Fatal(err)
	}
	if changed, err := HoldImage(doc, "blog-service"); err != nil || !changed {
		t.Fatalf("hold: %v %v", changed, err)
	}
	src := string(doc.Files()["apps/blog-service.yaml"])
	if !strings.Contains(src, "\n      tag: master-1a2b3c4-1763300000 "+heldTag+"\n") {
		t.Fatalf("rolled back and held:\n%s", src)
	}
	if changed, err := doc.SetImage("blog-service", Image{Tag: "master-0f0f0f0-1763200000", Digest: digestA}); err != nil || !changed {
		t.Fatalf("set image on the held line: %v %v", changed, err)
	}
	src = string(doc.Files()["apps/blog-service.yaml"])
	if !strings.Contains(src, "\n      tag: master-0f0f0f0-1763200000 "+heldTag+"\n") || strings.Contains(src, "digest") {
		t.Errorf("set image on a held line:\n%s", src)
	}
	if a, _ := doc.App("blog-service"); a.Image.Tag != "master-0f0f0f0-1763200000" {
		t.Errorf("reads back as %+v", a.Image)
	}
}

// Setter comments in the shapes files have: only the named app's image
// lines change, only the key's text; hold twice is hold once; release
// gives the original bytes.
func TestHoldForms(t *testing.T) {
	const head = hrHead + "      version: 1.0.0\n  values:\n"
	const other = "---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: web\nspec:\n  chart:\n    spec:\n      chart: service\n      version: 1.0.0\n  values:\n    image:\n      repository: r.example/web # {\"$imagepolicy\": \"shop:web:name\"}\n      tag: v1 # {\"$imagepolicy\": \"shop:web:tag\"}\n"
	for _, tc := range []struct {
		name      string
		files     map[string]string
		wantFiles map[string]string // after the hold; absent: unchanged
		changed   bool
	}{
		{
			name:      "two releases in one file, only api held",
			files:     map[string]string{"hr.yaml": head + "    image:\n      repository: r.example/api # {\"$imagepolicy\": \"shop:api:name\"}\n      tag: v1 # {\"$imagepolicy\": \"shop:api:tag\"}\n" + other},
			wantFiles: map[string]string{"hr.yaml": head + "    image:\n      repository: r.example/api # {\"$imagepolicy-held-by-stepper\": \"shop:api:name\"}\n      tag: v1 # {\"$imagepolicy-held-by-stepper\": \"shop:api:tag\"}\n" + other},
			changed:   true,
		},
		{
			name:      "spacing, other keys and a digest setter are kept",
			files:     map[string]string{"hr.yaml": head + "    image:\n      tag:   \"v1\"\t#{ \"$imagepolicy\" :\"shop:api:tag\", \"by\": \"flux\" }\n      digest: " + digestB + " ## {\"$imagepolicy\": \"shop:api:digest\"}\n"},
			wantFiles: map[string]string{"hr.yaml": head + "    image:\n      tag:   \"v1\"\t#{ \"$imagepolicy-held-by-stepper\" :\"shop:api:tag\", \"by\": \"flux\" }\n      digest: " + digestB + " ## {\"$imagepolicy-held-by-stepper\": \"shop:api:digest\"}\n"},
			changed:   true,
		},
		{
			name:      "anchor and merge key: the anchored line is the one automation writes",
			files:     map[string]string{"hr.yaml": head + "    base: &base\n      repository: r.example/api\n      tag: &tag v1 # {\"$imagepolicy\": \"shop:api:tag\"}\n    image:\n      <<: *base\n    worker:\n      tag: *tag # {\"$imagepolicy\": \"shop:api:tag\"} never read on an alias\n"},
			wantFiles: map[string]string{"hr.yaml": head + "    base: &base\n      repository: r.example/api\n      tag: &tag v1 # {\"$imagepolicy-held-by-stepper\": \"shop:api:tag\"}\n    image:\n      <<: *base\n    worker:\n      tag: *tag # {\"$imagepolicy\": \"shop:api:tag\"} never read on an alias\n"},
			changed:   true,
		},
		{
			name:      "flow mapping over several lines",
			files:     map[string]string{"hr.yaml": head + "    image: {\n      repository: r.example/api,\n      tag: v1, # {\"$imagepolicy\": \"shop:api:tag\"}\n    }\n"},
			wantFiles: map[string]string{"hr.yaml": head + "    image: {\n      repository: r.example/api,\n      tag: v1, # {\"$imagepolicy-held-by-stepper\": \"shop:api:tag\"}\n    }\n"},
			changed:   true,
		},
		{
			name:      "CRLF line ends",
			files:     map[string]string{"hr.yaml": strings.ReplaceAll(head+"    image:\n      tag: v1 # {\"$imagepolicy\": \"shop:api:tag\"}\n", "\n", "\r\n")},
			wantFiles: map[string]string{"hr.yaml": strings.ReplaceAll(head+"    image:\n      tag: v1 # {\"$imagepolicy-held-by-stepper\": \"shop:api:tag\"}\n", "\n", "\r\n")},
			changed:   true,
		},
		{
			name:  "comments that are no setters of the line stay",
			files: map[string]string{"hr.yaml": head + "    # {\"$imagepolicy\": \"shop:api:tag\"} above the key: automation never reads it\n    image:\n      # tag: v0 # {\"$imagepolicy\": \"shop:api:tag\"}\n      tag: v1 # {\"$imagepolicy\": \"shop:api:tag\"} # trailing text: not JSON, not a setter\n    sidecar:\n      tag: v1 # {\"$imagepolicy\": \"shop:sidecar:tag\"}\n"},
		},
		{
			name:  "a setter whose value is no string is none",
			files: map[string]string{"hr.yaml": head + "    image:\n      tag: v1 # {\"$imagepolicy\": \"shop:api:tag\", \"n\": 1}\n"},
		},
		{
			name:  "no setters",
			files: map[string]string{"hr.yaml": head + "    image:\n      repository: r.example/api\n      tag: v1 # set by stepper\n"},
		},
		{
			name: "release and image in separate files",
			files: map[string]string{
				"a.yaml": head + "    image:\n      tag: v1 # {\"$imagepolicy\": \"shop:api:tag\"}\n",
				"b.yaml": strings.TrimPrefix(other, "---\n"),
			},
			wantFiles: map[string]string{"a.yaml": head + "    image:\n      tag: v1 # {\"$imagepolicy-held-by-stepper\": \"shop:api:tag\"}\n"},
			changed:   true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string][]byte{}
			for n, s := range tc.files {
				files[n] = []byte(s)
			}
			doc := mustOpenFiles(t, Flux, files)
			changed, err := HoldImage(doc, "api")
			if err != nil || changed != tc.changed {
				t.Fatalf("hold: changed=%v err=%v, want changed=%v", changed, err, tc.changed)
			}
			held := doc.Files()
			for n, s := range tc.files {
				want := s
				if w, ok := tc.wantFiles[n]; ok {
					want = w
				}
				if string(held[n]) != want {
					t.Errorf("%s after the hold:\n%s\nwant:\n%s", n, held[n], want)
				}
			}
			if h, err := ImageHeld(doc, "api"); err != nil || h != tc.changed {
				t.Errorf("held: %v %v", h, err)
			}
			if changed, err := HoldImage(doc, "api"); err != nil || changed {
				t.Errorf("second hold: %v %v", changed, err)
			}
			if _, err := ReleaseImage(doc, "api"); err != nil {
				t.Fatal(err)
			}
			if !sameFiles(doc.Files(), files) {
				t.Errorf("hold then release is not the original: %q", doc.Files())
			}
		})
	}
}

// Setters stepper cannot rename surely fail the hold at their line, and
// leave the files as they were.
func TestHoldRefuses(t *testing.T) {
	const head = hrHead + "      version: 1.0.0\n  values:\n    image:"
	for _, tc := range []struct{ name, image, want string }{
		{"long $ref form", "\n      tag: v1 # {\"$ref\": \"#/definitions/io.k8s.cli.setters.shop:api:tag\"}\n", "long $ref form"},
		{"key with JSON escapes", "\n      tag: v1 # {\"\\u0024imagepolicy\": \"shop:api:tag\"}\n", `written as "\u0024imagepolicy"`},
		{"both keys", "\n      tag: v1 # {\"$imagepolicy\": \"shop:api:tag\", \"$imagepolicy-held-by-stepper\": \"shop:api:tag\"}\n", "both live and held"},
		{"setter above a value on its own line", "\n      tag:\n        # {\"$imagepolicy\": \"shop:api:tag\"}\n        v1\n", "between the key and its value"},
		{"anchor, setter, value", "\n      tag: &tag\n        # {\"$imagepolicy\": \"shop:api:tag\"}\n        v1\n", "cannot tell which value"},
		{"comment after the flow mapping", " {repository: r.example/api, tag: v1} # {\"$imagepolicy\": \"shop:api:tag\"}\n", "not right after the value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := head + tc.image
			doc := mustOpenFiles(t, Flux, map[string][]byte{"hr.yaml": []byte(src)})
			changed, err := HoldImage(doc, "api")
			if err == nil || changed || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "hr.yaml:") {
				t.Fatalf("hold: changed=%v err=%v, want an error at hr.yaml saying %q", changed, err, tc.want)
			}
			if string(doc.Files()["hr.yaml"]) != src {
				t.Error("a refused hold changed the file")
			}
		})
	}
}

// Helmsman TOML and helmfile have no setters automation reads: nothing to
// hold. A Helmsman YAML file is YAML automation would edit, so setters
// there are held like a HelmRelease's, and one shared by two apps through
// a merge key is refused, since holding one app would hold the other.
func TestHoldOtherFormats(t *testing.T) {
	for _, tc := range []struct {
		name string
		doc  func(t *testing.T) Document
	}{
		{"helmsman toml", func(t *testing.T) Document {
			return mustLoad(t, "../../testdata/desiredstate/helmsman/spec-example.toml")
		}},
		{"helmsman yaml", func(t *testing.T) Document {
			return mustLoad(t, "../../testdata/desiredstate/helmsman/spec-example.yaml")
		}},
		{"helmfile", func(t *testing.T) Document { return mustLoadEnv(t, "prod") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := tc.doc(t)
			apps, err := doc.Apps()
			if err != nil || len(apps) == 0 {
				t.Fatal(apps, err)
			}
			before := doc.Files()
			for _, a := range apps {
				for _, f := range []func(Document, string) (bool, error){HoldImage, ReleaseImage, ImageHeld} {
					if got, err := f(doc, a.Name); err != nil || got {
						t.Errorf("%s: %v %v", a.Name, got, err)
					}
				}
			}
			if !sameFiles(doc.Files(), before) {
				t.Error("files changed")
			}
		})
	}

	const dsf = "apps:\n  api:\n    namespace: shop\n    enabled: true\n    chart: shop/service\n    version: 1.0.0\n    set:\n      image.repository: r.example/api\n      image.tag: v1 # {\"$imagepolicy\": \"shop:api:tag\"}\n"
	doc := mustOpen(t, HelmsmanYAML, "dsf.yaml", []byte(dsf))
	if changed, err := HoldImage(doc, "api"); err != nil || !changed {
		t.Fatalf("hold in Helmsman YAML: %v %v", changed, err)
	}
	if got, want := string(doc.Files()["dsf.yaml"]), strings.Replace(dsf, `"$imagepolicy"`, `"$imagepolicy-held-by-stepper"`, 1); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	if _, err := ReleaseImage(doc, "api"); err != nil || string(doc.Files()["dsf.yaml"]) != dsf {
		t.Errorf("release: %v\n%s", err, doc.Files()["dsf.yaml"])
	}

	const shared = "common: &common\n  image.repository: r.example/svc\n  image.tag: v1 # {\"$imagepolicy\": \"shop:svc:tag\"}\napps:\n  orders:\n    namespace: shop\n    enabled: true\n    chart: shop/service\n    version: 1.0.0\n    set: *common\n  invoices:\n    namespace: shop\n    enabled: true\n    chart: shop/service\n    version: 1.0.0\n    set: *common\n"
	doc = mustOpen(t, HelmsmanYAML, "dsf.yaml", []byte(shared))
	if changed, err := HoldImage(doc, "orders"); err == nil || changed || !strings.Contains(err.Error(), `app "invoices" reads too`) {
		t.Errorf("hold of a shared line: %v %v", changed, err)
	}
	if string(doc.Files()["dsf.yaml"]) != shared {
		t.Error("a refused hold changed the file")
	}
}

type fakeDoc struct{ Document }

func TestHoldUnknownDocument(t *testing.T) {
	if _, err := HoldImage(fakeDoc{}, "api"); err == nil || !strings.Contains(err.Error(), "not a document read by this package") {
		t.Errorf("got %v", err)
	}
	doc := mustLoad(t, shopProduction)
	if _, err := HoldImage(doc, "blog"); !errors.Is(err, ErrAppNotFound) {
		t.Errorf("unknown app: %v", err)
	}
}

// Renaming the key found in any comment and renaming it back gives the
// comment again, and the renamed comment reads as the other state naming
// the same policy.
func FuzzSetterComment(f *testing.F) {
	for _, s := range []string{
		`# {"$imagepolicy": "flux-system:blog-service-master:tag"}`,
		`#{ "$imagepolicy" :"a", "$imagepolicy": "b" }`,
		`## {"x": "y", "$imagepolicy-held-by-stepper": "ns:p"}`,
		`# {"\u0024imagepolicy": "ns:p"}`,
		`# {"$imagepolicy": "ns:p"} # note`,
		`# {"$ref": "#/definitions/io.k8s.cli.setters.ns:p"}`,
		`# {"a": {"$imagepolicy": "ns:p"}}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, comment string) {
		st, policy, spans, err := parseSetter(comment)
		if err != nil || st == noSetter {
			return
		}
		to, key := heldSetter, heldSetterKey
		if st == heldSetter {
			to, key = liveSetter, liveSetterKey
		}
		renamed := comment
		for i := len(spans) - 1; i >= 0; i-- {
			renamed = renamed[:spans[i][0]] + `"` + key + `"` + renamed[spans[i][1]:]
		}
		st2, policy2, spans2, err := parseSetter(renamed)
		if err != nil || st2 != to || policy2 != policy {
			t.Fatalf("%q renamed to %q reads as %v %q %v", comment, renamed, st2, policy2, err)
		}
		back := renamed
		for i := len(spans2) - 1; i >= 0; i-- {
			back = back[:spans2[i][0]] + `"` + map[setterState]string{liveSetter: liveSetterKey, heldSetter: heldSetterKey}[st] + `"` + back[spans2[i][1]:]
		}
		if back != comment {
			t.Fatalf("%q and back is %q", comment, back)
		}
	})
}

func sameFiles(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for n := range a {
		if !bytes.Equal(a[n], b[n]) {
			return false
		}
	}
	return true
}

// changedLines is a minimal line diff of two versions of a file with the
// same number of lines.
func changedLines(a, b []byte) []string {
	al, bl := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	var out []string
	for i := range min(len(al), len(bl)) {
		if al[i] != bl[i] {
			out = append(out, "-"+al[i], "+"+bl[i])
		}
	}
	return out
}
