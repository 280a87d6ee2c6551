package desiredstate

import (
	"path/filepath"
	"strings"
	"testing"
)

// Promotion, diff and revert work on Flux and helmfile through the
// Document interface alone.
func TestNestedCopyDiffRevert(t *testing.T) {
	cases := []struct {
		name       string
		from, to   func(t *testing.T) Document
		app        string
		wantImage  string
		keepValues map[string]string // per-environment values the target keeps
	}{
		{"flux", func(t *testing.T) Document { return mustLoad(t, fluxData+"/staging") }, func(t *testing.T) Document { return mustLoad(t, fluxData+"/prod") },
			"blog-service", "docker.io/hostedshop/blog-service:stag-9d8e7f6", map[string]string{"replicaCount": "3", "ingress.host": "blog.shop.example"}},
		{"helmfile", func(t *testing.T) Document { return mustLoadEnv(t, "notprod") }, func(t *testing.T) Document { return mustLoadEnv(t, "prod") },
			"casework-api", "quay.io/ukhomeofficedigital/hocs-casework:3.2.0", map[string]string{"replicaCount": "3", "env.CASEWORK_DB_HOST": "casework-db.prod.svc"}},
	}
	keys := DefaultKeys()
	keys.PerEnvironment = []string{"env.*_DB_HOST"}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			from, before, to := tc.from(t), tc.to(t), tc.to(t)
			if diffs, err := Diff(before, from); err != nil || len(diffs) == 0 {
				t.Fatalf("diff: %v %v", diffs, err)
			}
			changed, err := CopyRelease(from, to, tc.app, keys)
			if err != nil || !changed {
				t.Fatalf("copy: changed=%v err=%v", changed, err)
			}
			got, err := to.App(tc.app)
			if err != nil {
				t.Fatal(err)
			}
			if got.Image.String() != tc.wantImage {
				t.Errorf("image %s, want %s", got.Image, tc.wantImage)
			}
			for k, v := range tc.keepValues {
				if got.Values()[k] != v {
					t.Errorf("per-environment %s = %q, want %q", k, got.Values()[k], v)
				}
			}
			var diff string
			files := before.Files()
			for _, name := range sortedFiles(files) {
				if string(files[name]) == string(to.Files()[name]) {
					continue
				}
				d, _ := unifiedDiff("a/"+name, "b/"+name, files[name], to.Files()[name])
				diff += d
			}
			checkGolden(t, filepath.Join("../../testdata/desiredstate", tc.name, "golden", "copy-"+tc.app+".diff"), []byte(diff))
			if again, err := CopyRelease(from, to, tc.app, keys); err != nil || again {
				t.Fatalf("second copy: changed=%v err=%v", again, err)
			}
			// Diff now shows only what stays per environment.
			diffs, err := Diff(to, from)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range diffs {
				if d.App == tc.app && (d.Field == "image" || d.Field == "version") {
					t.Errorf("still differs after the copy: %+v", d)
				}
			}
			// Reverting the promotion restores the target byte for byte.
			current, err := Open(to.Format(), to.Files(), WithEnvironment(envOf(to)))
			if err != nil {
				t.Fatal(err)
			}
			if changed, err := Revert(current, before, to, tc.app); err != nil || !changed {
				t.Fatalf("revert: changed=%v err=%v", changed, err)
			}
			for name, src := range before.Files() {
				if string(current.Files()[name]) != string(src) {
					t.Errorf("%s not restored:\n%s", name, current.Files()[name])
				}
			}
		})
	}
}

func mustLoadEnv(t *testing.T, env string) Document {
	t.Helper()
	d, err := Load(helmfileData, WithEnvironment(env))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func envOf(d Document) string {
	if n, ok := d.(*nestedDoc); ok {
		if h, ok := n.lay.(helmfileLayout); ok {
			return h.env
		}
	}
	return ""
}

// A value that is already there needs no edit, even under a mapping that
// an anchor shares: a promotion whose values did not change is not refused
// because the file uses anchors. A value that does change still is.
func TestSetValuesUnchangedUnderAnAnchor(t *testing.T) {
	src := `apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: api
  namespace: shop
spec:
  chart:
    spec: {chart: api, version: "1.0.0"}
  values:
    resources:
      limits: &limits {memory: 512Mi}
      requests: *limits
`
	doc := mustOpen(t, Flux, "api.yaml", []byte(src))
	if changed, err := doc.SetValues("api", map[string]string{"resources.requests.memory": "512Mi"}); err != nil || changed {
		t.Fatalf("setting the value that is there: changed %v, %v", changed, err)
	}
	if got := string(doc.Files()["api.yaml"]); got != src {
		t.Errorf("the file changed:\n%s", got)
	}
	if _, err := doc.SetValues("api", map[string]string{"resources.requests.memory": "1Gi"}); err == nil || !strings.Contains(err.Error(), "anchor") {
		t.Errorf("changing a shared value: %v, want the anchor refusal", err)
	}
}
