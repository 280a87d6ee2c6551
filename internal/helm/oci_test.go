package helm_test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/helm"
	"github.com/stepper-cd/stepper/internal/registry"
	"github.com/stepper-cd/stepper/internal/secret"
	"github.com/stepper-cd/stepper/internal/testenv"
)

func TestOCI(t *testing.T) {
	reg := platform.Get(t).Registry
	dir := packageWeb(t, webVersions...)
	repo := "oci://" + reg.Host + "/charts"
	for _, v := range webVersions {
		helmCLI(t, "push", filepath.Join(dir, "web-"+v+".tgz"), repo, "--plain-http")
	}
	c := newClient(t)
	ctx := t.Context()

	versions, err := c.Versions(ctx, repo, "web")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"1.2.0-rc.1", "1.1.0", "1.0.0", "0.9.0"}; !slices.Equal(versions, want) {
		t.Errorf("Versions = %v, want %v", versions, want)
	}
	if latest, err := c.Latest(ctx, repo, "web"); err != nil || latest != "1.1.0" {
		t.Errorf("Latest = %q, %v; want 1.1.0", latest, err)
	}

	for _, tc := range []struct {
		ref  helm.ChartRef
		want string
	}{
		{helm.ChartRef{Repo: repo, Name: "web"}, "1.1.0"},
		{helm.ChartRef{Repo: repo + "/web", Version: "1.0.0"}, "1.0.0"}, // the name may end the repository
		{helm.ChartRef{Repo: repo, Name: "web", Version: "~0.9"}, "0.9.0"},
	} {
		ch, err := c.Load(ctx, tc.ref)
		if err != nil {
			t.Fatalf("Load(%s): %v", tc.ref, err)
		}
		m := ch.Metadata()
		if m.Version != tc.want || m.Source != repo+"/web@"+tc.want || !strings.HasPrefix(m.README, "# web") {
			t.Errorf("Load(%s) = %+v, want version %s", tc.ref, m, tc.want)
		}
		if _, err := c.Render(ctx, ch, helm.RenderOptions{}); err != nil {
			t.Errorf("Render(%s): %v", tc.ref, err)
		}
	}

	for _, tc := range []struct {
		name string
		ref  helm.ChartRef
		want string
	}{
		{"unknown version", helm.ChartRef{Repo: repo, Name: "web", Version: "3.0.0"}, "no version 3.0.0"},
		{"unknown chart", helm.ChartRef{Repo: repo, Name: "nothing"}, "not found in registry"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Load(ctx, tc.ref)
			if exit.ClassOf(err) != exit.Usage || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Load(%s) = %v (%v), want a usage error containing %q", tc.ref, err, exit.ClassOf(err), tc.want)
			}
		})
	}
}

// Credentials come from stepper's keychain, the same one image pushes use.
func TestOCIAuth(t *testing.T) {
	testenv.RequireTool(t, "docker-registry")
	const user, password = "stepper-ci", "canary-helm-password-51c7"
	reg, err := testenv.StartRegistryAuth(t.Context(), t.TempDir(), user, password)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Stop)
	dir := packageWeb(t, "1.0.0")
	repo := "oci://" + reg.Host + "/charts"
	helmCLI(t, "push", filepath.Join(dir, "web-1.0.0.tgz"), repo, "--plain-http", "--username", user, "--password", password)

	_, err = newClient(t).Versions(t.Context(), repo, "web")
	if exit.ClassOf(err) != exit.Usage || !strings.Contains(err.Error(), "refused access") {
		t.Errorf("anonymous: %v (%v), want a usage error saying access was refused", err, exit.ClassOf(err))
	}

	kc := registry.Keychain(registry.KeychainOptions{Host: reg.Host, Environ: []string{},
		Username: secret.NewValue(user, nil), Password: secret.NewValue(password, nil)})
	c := helm.New(helm.Options{CacheDir: t.TempDir(), Keychain: kc})
	ch, err := c.Load(t.Context(), helm.ChartRef{Repo: repo, Name: "web"})
	if err != nil {
		t.Fatal(err)
	}
	if m := ch.Metadata(); m.Version != "1.0.0" {
		t.Errorf("loaded version %s, want 1.0.0", m.Version)
	}
}
