package desiredstate

import (
	"os"
	"strings"
	"testing"
)

// helmsmanExpand is what Helmsman does to a desired-state value before
// handing it to helm (its substituteEnv): $$ passes a $, the rest is
// expanded from the environment.
func helmsmanExpand(v string, env map[string]string) string {
	return os.Expand(strings.ReplaceAll(v, "$$", "${HELMSMAN_DOLLAR}"), func(name string) string {
		if name == "HELMSMAN_DOLLAR" {
			return "$"
		}
		return env[name]
	})
}

// A $ in a Helmsman value is escaped as Helmsman documents ($$), so
// Helmsman neither refuses the file nor expands it; reading back gives
// the user's value, and references stay references.
func TestHelmsmanDollarEscaped(t *testing.T) {
	for _, tc := range []struct {
		format     Format
		name, src  string
		wantInFile []string
	}{
		{HelmsmanYAML, "dev.yaml", `# secrets come from the CI environment
namespaces:
  shop: {}
apps:
  api:
    namespace: shop
    enabled: true
    chart: charts/api
    version: 1.0.0
    set:
      db.password: $DB_PASSWORD # a reference
      price.label: "costs $$5"
`, []string{`env.GREETING: "pa$$word"`, `env.URL: "${BASE_URL}/v1 at $$HOME"`, `env.TOKEN: "$API_TOKEN"`, `env.TWO: "$$$$"`}},
		{HelmsmanTOML, "dev.toml", `# secrets come from the CI environment
[namespaces.shop]
[apps.api]
namespace = "shop"
enabled = true
chart = "charts/api"
version = "1.0.0"
[apps.api.set]
"db.password" = "$DB_PASSWORD" # a reference
"price.label" = "costs $$5"
`, []string{`"env.GREETING" = "pa$$word"`, `"env.URL" = "${BASE_URL}/v1 at $$HOME"`}},
	} {
		t.Run(string(tc.format), func(t *testing.T) {
			doc := mustOpen(t, tc.format, tc.name, []byte(tc.src))
			a, err := doc.App("api")
			if err != nil {
				t.Fatal(err)
			}
			if a.Set["price.label"] != "costs $5" || a.Set["db.password"] != "$DB_PASSWORD" {
				t.Fatalf("read: %v", a.Set)
			}
			set := map[string]string{"env.GREETING": "pa$word", "env.URL": "${BASE_URL}/v1 at $HOME", "env.TOKEN": "$API_TOKEN", "env.TWO": "$$"}
			if changed, err := doc.SetValues("api", set); err != nil || !changed {
				t.Fatalf("set: %v %v", changed, err)
			}
			out := string(doc.Files()[tc.name])
			for _, w := range tc.wantInFile {
				if !strings.Contains(out, w) {
					t.Errorf("file lacks %s:\n%s", w, out)
				}
			}
			again := mustOpen(t, tc.format, tc.name, []byte(out))
			b, _ := again.App("api")
			for k, v := range set {
				if b.Set[k] != v && b.SetString[k] != v {
					t.Errorf("%s reads back as %q, want %q", k, b.Values()[k], v)
				}
			}
			// What Helmsman hands helm: literal dollars arrive as written.
			env := map[string]string{"BASE_URL": "https://api.example", "API_TOKEN": "t0k", "HOME": "/root", "word": "X"}
			if got := helmsmanExpand(escapeDollars("pa$word"), env); got != "pa$word" {
				t.Errorf("Helmsman would pass %q", got)
			}
			if got := helmsmanExpand(escapeDollars("${BASE_URL}/v1 at $HOME"), env); got != "https://api.example/v1 at $HOME" {
				t.Errorf("Helmsman would pass %q", got)
			}
			// Setting the same values again changes nothing.
			if changed, err := doc.SetValues("api", set); err != nil || changed {
				t.Errorf("repeat: %v %v", changed, err)
			}
		})
	}
}

// A reference inside a value ($MAX_HEAP in -Xmx$MAX_HEAP) stays a
// reference through a promotion: copying it unchanged changes nothing, and
// copying a changed value writes the reference, never a literal $$.
func TestPromotionKeepsReferencesInsideValues(t *testing.T) {
	dsf := func(opts string) []byte {
		return []byte("apps:\n  a:\n    namespace: ns\n    enabled: true\n    chart: charts/a\n    version: 1.0.0\n    set:\n      env.JAVA_OPTS: \"" + opts + "\"\n      price.label: \"costs $$5\"\n")
	}
	from := mustOpen(t, HelmsmanYAML, "from.yaml", dsf("-Xmx$MAX_HEAP"))
	to := mustOpen(t, HelmsmanYAML, "to.yaml", dsf("-Xmx$MAX_HEAP"))
	if changed, err := CopyRelease(from, to, "a", DefaultKeys()); err != nil || changed {
		t.Fatalf("copying the same values: changed %v, %v\n%s", changed, err, to.Files()["to.yaml"])
	}
	from = mustOpen(t, HelmsmanYAML, "from.yaml", dsf("-Xmx$MAX_HEAP -Dtrace=on"))
	if changed, err := CopyRelease(from, to, "a", DefaultKeys()); err != nil || !changed {
		t.Fatalf("copying a changed value: changed %v, %v", changed, err)
	}
	out := string(to.Files()["to.yaml"])
	if !strings.Contains(out, `"-Xmx${MAX_HEAP} -Dtrace=on"`) || strings.Contains(out, "$$MAX_HEAP") || !strings.Contains(out, `"costs $$5"`) {
		t.Errorf("the reference did not survive the copy:\n%s", out)
	}
}
