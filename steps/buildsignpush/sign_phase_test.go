package buildsignpush_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stepper-cd/stepper/internal/build"
	"github.com/stepper-cd/stepper/internal/registry"
	"github.com/stepper-cd/stepper/internal/testenv"
	"github.com/stepper-cd/stepper/steps/buildsignpush"
)

// The sign phase takes the base image from the image in the registry, not
// from the result file the build job wrote: a result file that names
// another base is refused.
func TestSignPhaseRefusesForgedBase(t *testing.T) {
	p := platform.Get(t)
	base, err := testenv.PushBaseImage(t.Context(), p.Registry.Host, "base/static")
	if err != nil {
		t.Fatal(err)
	}
	app := filepath.Join(t.TempDir(), "app")
	os.WriteFile(app, []byte("the app\n"), 0o755)
	client := registry.New(registry.Options{})
	step := &buildsignpush.Step{Builder: &build.Builders{Images: client}, Registry: client}
	built, err := step.Run(t.Context(), buildsignpush.Job{
		Options:    buildsignpush.Options{Phase: buildsignpush.PhaseBuild, Base: base.String(), Layers: []string{app + ":/app/server"}, Entrypoint: "/app/server", User: "65532"},
		Repository: p.Registry.Host + "/vendor/forged", Tags: []string{"t1"}, BuilderName: build.Layers,
		Approved: []string{p.Registry.Host + "/base/static"},
	})
	if err != nil {
		t.Fatal(err)
	}
	forged := built.Built
	forged.BaseImage = "harbor.example.test/base/approved:1"
	forged.BaseDigest = "sha256:" + strings.Repeat("ab", 32)
	_, err = step.Run(t.Context(), buildsignpush.Job{
		Options: buildsignpush.Options{Phase: buildsignpush.PhaseSign}, Built: &forged, DryRun: true,
	})
	if err == nil || !strings.Contains(err.Error(), "base image digest") {
		t.Fatalf("err = %v, want the forged base refused", err)
	}
}
