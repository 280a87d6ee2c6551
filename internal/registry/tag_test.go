package registry_test

import (
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/registry"
)

func TestTags(t *testing.T) {
	for _, reg := range registries(t) {
		t.Run(regName(reg), func(t *testing.T) {
			ctx := t.Context()
			c := registry.New(registry.Options{})
			repo := reg.Host + "/tags/app"
			first, err := c.Push(ctx, repo, randomImage(t, 1024, 1))
			if err != nil {
				t.Fatal(err)
			}
			second, err := c.Push(ctx, repo, randomImage(t, 1024, 1))
			if err != nil {
				t.Fatal(err)
			}
			tagsAt := func(tag string) string {
				t.Helper()
				ref, err := name.ParseReference(repo + ":" + tag)
				if err != nil {
					t.Fatal(err)
				}
				desc, err := remote.Head(ref, remote.WithContext(ctx))
				if err != nil {
					t.Fatalf("head %s: %v", tag, err)
				}
				return desc.Digest.String()
			}
			refused := func(err error, tag, at string) {
				t.Helper()
				if exit.ClassOf(err) != exit.Failed {
					t.Fatalf("moving %s: %v (class %s), want a refusal", tag, err, exit.ClassOf(err))
				}
				for _, want := range []string{":" + tag, "already points at " + at, "--allow-retag"} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("refusal %q does not say %q", err, want)
					}
				}
			}

			// New tags are fine before and after they are set to the same digest.
			if err := c.CheckTags(ctx, repo, first.Ref.DigestStr(), []string{"v1", "latest"}, false); err != nil {
				t.Fatal(err)
			}
			if err := c.Tag(ctx, first.Ref, []string{"v1", "latest"}, false); err != nil {
				t.Fatal(err)
			}
			if err := c.CheckTags(ctx, repo, first.Ref.DigestStr(), []string{"v1", "latest"}, false); err != nil {
				t.Fatalf("same digest: %v", err)
			}
			if err := c.Tag(ctx, first.Ref, []string{"v1"}, false); err != nil {
				t.Fatalf("tagging again is idempotent: %v", err)
			}

			// Moving v1 is refused, before the push and at the tagging.
			refused(c.CheckTags(ctx, repo, second.Ref.DigestStr(), []string{"v2", "v1"}, false), "v1", first.Ref.DigestStr())
			refused(c.CheckTags(ctx, repo, "", []string{"v1"}, false), "v1", first.Ref.DigestStr())
			refused(c.Tag(ctx, second.Ref, []string{"v1"}, false), "v1", first.Ref.DigestStr())
			if got := tagsAt("v1"); got != first.Ref.DigestStr() {
				t.Fatalf("refused tag moved to %s", got)
			}

			// Unless asked to.
			if err := c.CheckTags(ctx, repo, second.Ref.DigestStr(), []string{"v1"}, true); err != nil {
				t.Fatal(err)
			}
			if err := c.Tag(ctx, second.Ref, []string{"v1"}, true); err != nil {
				t.Fatal(err)
			}
			if got := tagsAt("v1"); got != second.Ref.DigestStr() {
				t.Fatalf("v1 at %s after --allow-retag, want %s", got, second.Ref.DigestStr())
			}
			if got := tagsAt("latest"); got != first.Ref.DigestStr() {
				t.Fatalf("latest moved to %s", got)
			}

			for _, bad := range []string{"", "-x", "has space", strings.Repeat("x", 129)} {
				if err := c.CheckTags(ctx, repo, "", []string{bad}, false); exit.ClassOf(err) != exit.Usage {
					t.Errorf("tag %q: %v, want a usage error", bad, err)
				}
			}
		})
	}
}
