package buildsignpush_test

import (
	"archive/tar"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/stepper-cd/stepper/internal/build"
	"github.com/stepper-cd/stepper/internal/registry"
	"github.com/stepper-cd/stepper/internal/signing"
	"github.com/stepper-cd/stepper/internal/testenv"
	"github.com/stepper-cd/stepper/steps/buildsignpush"
)

var platform = testenv.NewShared(testenv.Options{SkipReferrersRegistry: true, SkipGit: true, SkipKube: true})

func TestMain(m *testing.M) {
	code := m.Run()
	platform.Stop()
	os.Exit(code)
}

// appLayerSize is the app the cold-push benchmark lays on the base: random,
// so incompressible, about the size of a JVM service's jar and libraries.
const appLayerSize = 50 << 20

// coldFixture is what both sides of the cold-push comparison start from:
// the approved base in the registry, the app as a layer tarball, a key.
type coldFixture struct {
	host   string
	base   name.Digest
	tar    string
	key    testenv.CosignKey
	keyPEM []byte
}

func newColdFixture(b *testing.B) *coldFixture {
	b.Helper()
	p := platform.Get(b)
	f := &coldFixture{host: p.Registry.Host}
	var err error
	if f.base, err = testenv.PushBaseImage(b.Context(), f.host, "base/static"); err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	if f.key, err = testenv.NewCosignKey(dir); err != nil {
		b.Fatal(err)
	}
	f.keyPEM, _ = os.ReadFile(f.key.Private)
	f.tar = filepath.Join(dir, "app.tar")
	writeRandomTar(b, f.tar, "app/blob", appLayerSize)
	return f
}

func writeRandomTar(b *testing.B, path, name string, size int64) {
	out, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer out.Close()
	tw := tar.NewWriter(out)
	tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: size, Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)})
	if _, err := io.CopyN(tw, rand.Reader, size); err != nil {
		b.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		b.Fatal(err)
	}
}

var repoSeq atomic.Int64

// BenchmarkColdPush builds layers-on-base, pushes and signs a ~50 MB image
// into a fresh repository each time: stepper in one process, against the
// same work done by crane append + crane push + cosign sign. Target:
// stepper ≤ 0.5× the peers' time. stepper also attests provenance, which
// the peers do not.
func BenchmarkColdPush(b *testing.B) {
	f := newColdFixture(b)
	b.Run("stepper", func(b *testing.B) {
		key, err := signing.LoadKey(b.Context(), signing.KeySource{PEM: f.keyPEM, Password: []byte(testenv.TestOnlyKeyPassword)})
		if err != nil {
			b.Fatal(err)
		}
		client := registry.New(registry.Options{})
		step := &buildsignpush.Step{
			Builder:  &build.Builders{Images: client},
			Registry: client,
			Signer:   &buildsignpush.KeySigner{Key: key, Options: signing.Options{Format: signing.FormatSigTag, RemoteOptions: client.RemoteOptions(b.Context())}},
		}
		b.SetBytes(appLayerSize)
		for b.Loop() {
			job := buildsignpush.Job{
				Options: buildsignpush.Options{
					Phase: buildsignpush.PhaseAll, Base: f.base.String(), Layers: []string{f.tar},
					Entrypoint: "/app/blob", User: "65532",
				},
				Repository:  fmt.Sprintf("%s/bench/stepper-%d", f.host, repoSeq.Add(1)),
				Tags:        []string{"cold"},
				BuilderName: build.Layers,
				Approved:    []string{f.host + "/base/static"},
				Source:      buildsignpush.Source{Commit: "0123456789abcdef0123456789abcdef01234567", URL: "https://gitlab.example.test/bench/app"},
			}
			out, err := step.Run(b.Context(), job)
			if err != nil {
				b.Fatal(err)
			}
			if out.Pushed.BytesUploaded < appLayerSize {
				b.Fatalf("cold push uploaded %d bytes, less than the app layer", out.Pushed.BytesUploaded)
			}
		}
	})
	b.Run("crane+cosign", func(b *testing.B) {
		crane := testenv.RequireTool(b, "crane")
		testenv.RequireTool(b, "cosign")
		work := b.TempDir()
		b.SetBytes(appLayerSize)
		for b.Loop() {
			repo := fmt.Sprintf("%s/bench/peers-%d", f.host, repoSeq.Add(1))
			out := filepath.Join(work, "image.tar")
			run(b, crane, "append", "--insecure", "-b", f.base.String(), "-f", f.tar, "-t", repo+":cold", "-o", out)
			digest := strings.TrimSpace(run(b, crane, "push", "--insecure", out, repo+":cold"))
			if o, err := testenv.Cosign(b, []string{"COSIGN_PASSWORD=" + testenv.TestOnlyKeyPassword}, "sign", "--key", f.key.Private,
				"--tlog-upload=false", "--use-signing-config=false", "--new-bundle-format=false", "--allow-http-registry", digest); err != nil {
				b.Fatalf("cosign sign: %v\n%s", err, o)
			}
		}
	})
}

// BenchmarkRerunUnchanged runs the whole step again on unchanged inputs, a
// pipeline retry: the layers build gives the same digest, the push finds
// every blob and the manifest there, the signature is already present. The
// provenance is new (it records this run's times), so it is attested again.
// Target for the push: 0 image blob bytes and under 300 ms.
func BenchmarkRerunUnchanged(b *testing.B) {
	f := newColdFixture(b)
	key, err := signing.LoadKey(b.Context(), signing.KeySource{PEM: f.keyPEM, Password: []byte(testenv.TestOnlyKeyPassword)})
	if err != nil {
		b.Fatal(err)
	}
	client := registry.New(registry.Options{})
	step := &buildsignpush.Step{
		Builder:  &build.Builders{Images: client},
		Registry: client,
		Signer:   &buildsignpush.KeySigner{Key: key, Options: signing.Options{Format: signing.FormatSigTag, RemoteOptions: client.RemoteOptions(b.Context())}},
	}
	job := buildsignpush.Job{
		Options: buildsignpush.Options{
			Phase: buildsignpush.PhaseAll, Base: f.base.String(), Layers: []string{f.tar},
			Entrypoint: "/app/blob", User: "65532",
		},
		Repository:  f.host + "/bench/rerun",
		Tags:        []string{"rerun"},
		BuilderName: build.Layers,
		Approved:    []string{f.host + "/base/static"},
		Source:      buildsignpush.Source{Commit: "0123456789abcdef0123456789abcdef01234567", CommitTime: time.Unix(1795000000, 0)},
	}
	first, err := step.Run(b.Context(), job)
	if err != nil {
		b.Fatal(err)
	}
	var sent int64
	var push time.Duration
	for b.Loop() {
		out, err := step.Run(b.Context(), job)
		if err != nil {
			b.Fatal(err)
		}
		if out.Image != first.Image {
			b.Fatalf("re-run built %s, not the reproducible %s", out.Image, first.Image)
		}
		sent += out.Pushed.BytesUploaded
		push += out.Pushed.Duration
	}
	if sent != 0 {
		b.Fatalf("re-running on unchanged inputs uploaded %d image bytes", sent)
	}
	b.ReportMetric(float64(sent)/float64(b.N), "blob-bytes/op")
	b.ReportMetric(float64(push.Milliseconds())/float64(b.N), "push-ms/op")
}

func run(b *testing.B, bin string, args ...string) string {
	b.Helper()
	out, err := exec.CommandContext(b.Context(), bin, args...).Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		b.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, msg)
	}
	return string(out)
}
