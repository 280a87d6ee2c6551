package local

import (
	"io"
	"log"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// The shop clone's image automation, against a registry and a git server:
// each policy picks its newest tag the way Flux's does (semver over what
// the pattern extracts, numerical over a timestamp), writes tag, name and
// digest through the live setters in one commit of fluxcdbot's, leaves a
// held setter alone, and does nothing once the files say it all.
func TestImageAutomationRound(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(reg.Close)
	host := strings.TrimPrefix(reg.URL, "http://")
	push := func(repo string, tags ...string) string {
		t.Helper()
		img, err := random.Image(64, 1)
		if err != nil {
			t.Fatal(err)
		}
		d, _ := img.Digest()
		for _, tag := range tags {
			ref, err := name.ParseReference(host+"/"+repo+":"+tag, name.Insecure)
			if err != nil {
				t.Fatal(err)
			}
			if err := remote.Write(ref, img); err != nil {
				t.Fatal(err)
			}
		}
		return d.String()
	}
	push("shop/api", "master-1.2.0", "stag-9.9.9")
	want := push("shop/api", "master-1.10.0") // semver, not string order
	push("shop/api", "master-latest", "master-1.11.0-rc.1")
	push("shop/web", "main-1a2b3c4-1763400000")
	wantWeb := push("shop/web", "main-9f8e7d6-1763500000")
	push("shop/web", "main-5555555-1763300000")

	g, err := StartGitServer(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Stop)
	// policy is an ImageRepository of the registry and the ImagePolicy on it.
	policy := func(app, filter, choose string) string {
		return "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageRepository\nmetadata: {name: " + app + ", namespace: flux-system}\n" +
			"spec: {image: " + host + "/shop/" + app + "}\n---\n" +
			"apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImagePolicy\nmetadata: {name: " + app + ", namespace: flux-system}\n" +
			"spec:\n  imageRepositoryRef: {name: " + app + "}\n  filterTags: " + filter + "\n  policy: " + choose + "\n---\n"
	}
	policies := policy("api", `{pattern: '^master-(?P<v>.*)$', extract: '$v'}`, `{semver: {range: '>=1.0.0'}}`) +
		policy("web", `{pattern: '^main-[a-f0-9]+-(?P<ts>[0-9]+)', extract: '$ts'}`, `{numerical: {order: asc}}`) + `apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageUpdateAutomation
metadata: {name: prod, namespace: flux-system}
spec:
  update: {path: ./apps, strategy: Setters}
`
	release := func(app, state string) string {
		return "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {name: " + app + "}\nspec:\n  values:\n    image:\n" +
			"      repository: \"\" # {\"" + state + "\": \"flux-system:" + app + ":name\"}\n" +
			"      tag: old # {\"" + state + "\": \"flux-system:" + app + ":tag\"}\n" +
			"      digest: \"\" # {\"" + state + "\": \"flux-system:" + app + ":digest\"}\n"
	}
	held := release("web", "$imagepolicy-held-by-stepper")
	r, err := g.NewRepo("shop/flux", map[string]string{
		"automation.yaml": policies, "apps/api.yaml": release("api", "$imagepolicy"), "apps/web.yaml": held,
		"apps/web-canary.yaml": strings.ReplaceAll(release("web", "$imagepolicy"), "name: web}", "name: web-canary}"),
	})
	if err != nil {
		t.Fatal(err)
	}
	var logged []string
	a := &ImageAutomation{Repo: r, Branch: "master", Work: t.TempDir() + "/work", Logf: func(f string, args ...any) { logged = append(logged, f) }}
	commit, err := a.Round(t.Context())
	if err != nil || commit == "" {
		t.Fatalf("round: %q %v", commit, err)
	}
	show := func(what ...string) string {
		out, err := runGit(r.git, r.Dir, append([]string{"show"}, what...)...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	api := show("master:apps/api.yaml")
	for _, s := range []string{"tag: master-1.10.0 #", `repository: "` + host + `/shop/api" #`, `digest: "` + want + `" #`} {
		if !strings.Contains(api, s) {
			t.Errorf("apps/api.yaml lacks %q:\n%s", s, api)
		}
	}
	if canary := show("master:apps/web-canary.yaml"); !strings.Contains(canary, "tag: main-9f8e7d6-1763500000 #") || !strings.Contains(canary, wantWeb) {
		t.Errorf("the numerical policy did not pick the newest timestamp:\n%s", canary)
	}
	if got := show("master:apps/web.yaml"); got != strings.TrimSpace(held) {
		t.Errorf("the held release changed:\n%s", got)
	}
	if msg := show("--no-patch", "--format=%an%n%B", commit); !strings.HasPrefix(msg, "fluxcdbot\nAutomated image update") ||
		!strings.Contains(msg, "Automation name: flux-system/prod") || !strings.Contains(msg, "- apps/api.yaml") {
		t.Errorf("the commit:\n%s", msg)
	}
	if again, err := a.Round(t.Context()); err != nil || again != "" {
		t.Errorf("a second round with nothing new: %q %v", again, err)
	}

	// A policy that cannot be read says where.
	r2, err := g.NewRepo("shop/broken", map[string]string{"automation.yaml": strings.Replace(policies, "'^master-(?P<v>.*)$'", "'^master-(?P<v'", 1)})
	if err != nil {
		t.Fatal(err)
	}
	b := &ImageAutomation{Repo: r2, Branch: "master", Work: t.TempDir() + "/b"}
	if _, err := b.Round(t.Context()); err == nil || !strings.Contains(err.Error(), "automation.yaml") || !strings.Contains(err.Error(), "flux-system/api") {
		t.Errorf("a broken pattern: %v, want an error naming the file and the policy", err)
	}
}
