package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// A rollback that cannot return to an installable release is refused
// before anything changes: no commit, no branch, no merge request, no tag.
// On the commit route (Helmsman) and the merge-request route (helmfile).
func TestRollbackGitOpsRefusals(t *testing.T) {
	bin := stepperBinary(t)
	for _, kind := range []string{"helmsman", "helmfile"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			w := newGitOpsWorld(t, bin, kind, "")
			tags := grTags[kind]
			refused := func(what string, code int, args []string, want ...string) {
				t.Helper()
				before := w.state(t)
				r, _ := w.rollback(t, append([]string{"--env", w.first, "--app", w.a}, args...)...)
				if r.code != code {
					t.Errorf("%s: exit %d, want %d\n%s", what, r.code, code, r.stderr)
				}
				assertContains(t, what+": the error", r.stderr, want...)
				w.unchanged(t, what, before)
			}

			refused("without --reason", 2, nil, "--reason")
			refused("with no release by stepper in the history", 1, []string{"--reason", "INC-1"},
				"holds no release of it by stepper", "--to-commit")

			a1 := w.build(t, w.a, tags.a[0])
			w.deploy(t, a1)
			a2 := w.build(t, w.a, tags.a[1])
			w.deploy(t, a2)
			refused("--to a release that never ran here", 1, []string{"--to", "9.9.9", "--reason", "INC-2"},
				"no earlier release matching", "9.9.9", "--history")
			refused("--to the release that runs now", 1, []string{"--to", a2.digest, "--reason", "INC-3"}, "no earlier release matching")

			// The release before was deleted from the registry (a retention
			// policy, a clean-up by hand): there is nothing to return to.
			w.deleteImage(t, a1)
			refused("to an image deleted from the registry", 1, []string{"--reason", "INC-4"},
				"rollback "+w.a+" in "+w.first+" to "+a1.short()+" refused", "gate rollback", "gone from the registry")
			refused("--to an image deleted from the registry", 1, []string{"--to", a1.digest, "--reason", "INC-5"}, "gone from the registry")

			// An image nobody signed, put into the desired state by hand,
			// with a signed release on top: the way back leads to an image
			// that was never admitted.
			unsigned := w.buildUnsigned(t, w.a, tags.a[2])
			w.commitByHand(t, "try "+unsigned.tag+" quickly", w.handEdits(w.read(t, w.branch), [2]grBuild{a2, unsigned}))
			a4 := w.build(t, w.a, tags.a[2]+"-1")
			w.deploy(t, a4)
			refused("to an unsigned image", 1, []string{"--reason", "INC-6"}, "gate signed", unsigned.short())

			// The refusals changed nothing: a4 still runs, unheld.
			hist := w.history(t)
			if len(hist) == 0 || hist[0].Digest != a4.digest || hist[0].Hold {
				t.Errorf("after the refusals the history starts with %+v, want the deploy of %s", hist, a4.digest)
			}
		})
	}
}

// deleteImage deletes b's manifest through the registry's API, as a
// retention policy does; its tags go with it.
func (w *grWorld) deleteImage(t *testing.T, b grBuild) {
	t.Helper()
	d, err := name.NewDigest(b.repo+"@"+b.digest, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Delete(d, remote.WithContext(t.Context()), remote.WithAuth(w.auth())); err != nil {
		t.Fatalf("delete %s: %v", d, err)
	}
	if _, err := remote.Head(d, remote.WithContext(t.Context()), remote.WithAuth(w.auth())); err == nil {
		t.Fatalf("%s is still in the registry", d)
	}
}

// buildUnsigned builds app and pushes it by digest, tagged by hand under
// tag, and signs nothing.
func (w *grWorld) buildUnsigned(t *testing.T, app, tag string) grBuild {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "VERSION"), []byte(app+" "+tag+" unsigned\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	result := filepath.Join(t.TempDir(), "build.json")
	r := w.stepper(t, "build-sign-push", "-c", w.file, "--log-format", "json", "--result", result, "--app", app, "--phase", "build",
		"--builder", "layers", "--base", w.base, "--layer", w.appDir+":/app", "--layer", dir+":/version",
		"--entrypoint", "/app/server", "--user", "65532:65532", "--tag", tag)
	if r.code != 0 {
		t.Fatalf("build-sign-push --phase build: exit %d\n%s", r.code, r.stderr)
	}
	res := resultOf(t, []string{"--result", result})
	repo, _, _ := strings.Cut(res.Outputs["image-ref"], "@")
	repo = strings.TrimSuffix(repo, ":"+tag)
	b := grBuild{app: app, tag: tag, result: result, digest: res.Digest, repo: repo}
	d, err := name.NewDigest(repo+"@"+b.digest, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Get(d, remote.WithContext(t.Context()), remote.WithAuth(w.auth()))
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range []string{tag, w.fileTag(b)} {
		if err := remote.Tag(d.Context().Tag(tg), desc, remote.WithContext(t.Context()), remote.WithAuth(w.auth())); err != nil {
			t.Fatal(err)
		}
	}
	return b
}
