package buildsignpush_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stepper-cd/stepper/internal/build"
	"github.com/stepper-cd/stepper/internal/registry"
	"github.com/stepper-cd/stepper/internal/signing"
	"github.com/stepper-cd/stepper/internal/testenv"
	"github.com/stepper-cd/stepper/steps/buildsignpush"
)

// watchedBuilder records whether the signing key was loaded when the build
// (where the vendor's Dockerfile runs) started.
type watchedBuilder struct {
	inner         buildsignpush.Builder
	loaded        *bool
	loadedAtBuild bool
}

func (w *watchedBuilder) Build(ctx context.Context, r build.Request) (*build.Result, error) {
	w.loadedAtBuild = *w.loaded
	return w.inner.Build(ctx, r)
}

// The signing key is decrypted only after the build has run, in a real run
// and in a dry run alike.
func TestSigningKeyLoadedAfterBuild(t *testing.T) {
	p := platform.Get(t)
	base, err := testenv.PushBaseImage(t.Context(), p.Registry.Host, "base/static")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	key, err := testenv.NewCosignKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	pem, _ := os.ReadFile(key.Private)
	app := filepath.Join(dir, "app")
	os.WriteFile(app, []byte("the app\n"), 0o755)
	client := registry.New(registry.Options{})

	for _, dryRun := range []bool{false, true} {
		loaded := false
		wb := &watchedBuilder{inner: &build.Builders{Images: client}, loaded: &loaded}
		step := &buildsignpush.Step{Builder: wb, Registry: client, LoadSigner: func() (buildsignpush.Signer, error) {
			loaded = true
			k, err := signing.LoadKey(t.Context(), signing.KeySource{PEM: pem, Password: []byte(testenv.TestOnlyKeyPassword)})
			if err != nil {
				return nil, err
			}
			return &buildsignpush.KeySigner{Key: k, Options: signing.Options{Format: signing.FormatSigTag, RemoteOptions: client.RemoteOptions(t.Context())}}, nil
		}}
		out, err := step.Run(t.Context(), buildsignpush.Job{
			Options:    buildsignpush.Options{Phase: buildsignpush.PhaseAll, Base: base.String(), Layers: []string{app + ":/app/server"}, Entrypoint: "/app/server", User: "65532"},
			Repository: p.Registry.Host + "/vendor/lazy", Tags: []string{"t1"}, BuilderName: build.Layers,
			Approved: []string{p.Registry.Host + "/base/static"}, DryRun: dryRun,
			Source: buildsignpush.Source{Commit: "0123456789abcdef0123456789abcdef01234567"},
		})
		if err != nil {
			t.Fatalf("dry run %v: %v", dryRun, err)
		}
		if wb.loadedAtBuild {
			t.Errorf("dry run %v: the signing key was loaded before the build ran", dryRun)
		}
		if !loaded {
			t.Errorf("dry run %v: the signing key was never loaded", dryRun)
		}
		if !dryRun && out.Signature == "" {
			t.Error("not signed")
		}
	}

	// A key that does not load fails the run after the build, nothing signed.
	step := &buildsignpush.Step{Builder: &build.Builders{Images: client}, Registry: client,
		LoadSigner: func() (buildsignpush.Signer, error) { return nil, errors.New("wrong password") }}
	_, err = step.Run(t.Context(), buildsignpush.Job{
		Options:    buildsignpush.Options{Phase: buildsignpush.PhaseAll, Base: base.String(), Layers: []string{app + ":/app/server"}, Entrypoint: "/app/server", User: "65532"},
		Repository: p.Registry.Host + "/vendor/lazy", Tags: []string{"t2"}, BuilderName: build.Layers,
		Approved: []string{p.Registry.Host + "/base/static"}, DryRun: true,
	})
	if err == nil {
		t.Error("a signer that failed to load did not fail the run")
	}
}
