package build

import (
	"archive/tar"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/stepper-cd/stepper/internal/exit"
)

func appDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "app", "bin", "api"), "#!/bin/false\nbinary\n", 0o755)
	writeFile(t, filepath.Join(dir, "app", "config", "api.yaml"), "port: 8080\n", 0o644)
	if err := os.Symlink("config/api.yaml", filepath.Join(dir, "app", "api.yaml")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "VERSION"), "1.4.1\n", 0o644)
	return dir
}

func layersRequest(f *fixture, dir string) Request {
	return Request{
		Builder: Layers,
		Context: dir,
		Base:    f.base.String(),
		Layers:  []string{"app:/srv/api", "VERSION"},
		Config: ImageConfig{
			User:         "65532",
			Entrypoint:   []string{"/srv/api/bin/api"},
			Cmd:          []string{"--serve"},
			Env:          []string{"MODE=prod"},
			ExposedPorts: []string{"8080", "9090/udp"},
			WorkingDir:   "/srv/api",
			Labels:       map[string]string{"team": "payments"},
		},
		Metadata: meta,
		Approved: []string{"harbor.example/base/static", f.baseRepo},
		Created:  created,
	}
}

func TestLayersBuildIsReproducibleAndStamped(t *testing.T) {
	f := newFixture(t)
	dir := appDir(t)
	b := f.builders(t)

	first := buildTwice(t, b, layersRequest(f, dir))
	d1, _ := first.Image.Digest()

	checkResult(t, f, first)
	if !first.NonRoot {
		t.Error("NonRoot = false for user 65532")
	}
	if first.BaseName != f.base.String() {
		t.Errorf("BaseName = %s, want %s", first.BaseName, f.base)
	}
	wantParams := map[string]string{"builder": "layers", "base": f.base.String(), "layers": "app:/srv/api,VERSION"}
	for k, v := range wantParams {
		if first.Parameters[k] != v {
			t.Errorf("Parameters[%s] = %q, want %q", k, first.Parameters[k], v)
		}
	}

	cfg, err := first.Image.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Config
	if c.User != "65532" || c.WorkingDir != "/srv/api" || !slices.Equal(c.Entrypoint, []string{"/srv/api/bin/api"}) ||
		!slices.Equal(c.Cmd, []string{"--serve"}) || c.Labels["team"] != "payments" {
		t.Errorf("config = %+v", c)
	}
	if !slices.Contains(c.Env, "MODE=prod") || len(c.Env) != 2 {
		t.Errorf("env = %v, want the base's PATH and MODE=prod", c.Env)
	}
	if _, ok := c.ExposedPorts["8080/tcp"]; !ok {
		t.Errorf("exposed ports = %v", c.ExposedPorts)
	}
	if _, ok := c.ExposedPorts["9090/udp"]; !ok {
		t.Errorf("exposed ports = %v", c.ExposedPorts)
	}
	if !cfg.Created.Time.Equal(created) {
		t.Errorf("created = %v, want %v", cfg.Created, created)
	}

	// The base's layers are the registry's own, so a push mounts them.
	layers, err := first.Image.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 4 {
		t.Fatalf("%d layers, want the base's 2 and 2 more", len(layers))
	}
	for i := range 2 {
		if _, ok := layers[i].(*remote.MountableLayer); !ok {
			t.Errorf("base layer %d is a %T, want a *remote.MountableLayer", i, layers[i])
		}
	}

	// The app layer: sorted entries, fixed dates, root's files, modes kept.
	rc, err := layers[2].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if !h.ModTime.Equal(created) || h.Uid != 0 || h.Gid != 0 {
			t.Errorf("%s: mtime %v uid %d gid %d", h.Name, h.ModTime, h.Uid, h.Gid)
		}
		if h.Name == "srv/api/bin/api" && h.Mode != 0o755 {
			t.Errorf("%s: mode %o, want 755", h.Name, h.Mode)
		}
		if h.Name == "srv/api/api.yaml" && (h.Typeflag != tar.TypeSymlink || h.Linkname != "config/api.yaml") {
			t.Errorf("%s: want a symlink to config/api.yaml, got type %c to %q", h.Name, h.Typeflag, h.Linkname)
		}
	}
	want := []string{"srv/", "srv/api/", "srv/api/api.yaml", "srv/api/bin/", "srv/api/bin/api", "srv/api/config/", "srv/api/config/api.yaml"}
	if !slices.Equal(names, want) {
		t.Errorf("entries = %q, want %q", names, want)
	}

	pulled := pushAndPull(t, f, first.Image, "team/api")
	if m, _ := pulled.Manifest(); m.Annotations[AnnotationRevision] != meta.Revision {
		t.Errorf("pulled manifest annotations = %v", m.Annotations)
	}

	// One byte more changes the digest.
	writeFile(t, filepath.Join(dir, "VERSION"), "1.4.2\n", 0o644)
	third, err := b.Build(t.Context(), layersRequest(f, dir))
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	if d3, _ := third.Image.Digest(); d3 == d1 {
		t.Errorf("changed input, same digest %s", d3)
	}
}

func TestLayersBuildTakesTarballsAsTheyAre(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	var layerTar []byte
	{
		path := filepath.Join(dir, "prebuilt.tar")
		if err := writeLayerTar(appDir(t), "/opt/app", owner{1000, 1000}, created, path); err != nil {
			t.Fatal(err)
		}
		var err error
		if layerTar, err = os.ReadFile(path); err != nil {
			t.Fatal(err)
		}
	}
	req := layersRequest(f, dir)
	req.Layers = []string{"prebuilt.tar"}
	res, err := f.builders(t).Build(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	layers, _ := res.Image.Layers()
	rc, err := layers[len(layers)-1].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	if string(got) != string(layerTar) {
		t.Error("the tarball layer's content differs from the tarball")
	}
}

func TestLayersBuildRefusesUnapprovedBase(t *testing.T) {
	f := newFixture(t)
	dir := appDir(t)
	// The approved tag exists but names another image.
	other, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag(f.baseRepo+":nonroot", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, other, remote.WithContext(t.Context())); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name     string
		approved []string
		fetches  bool
	}{
		{"other repository", []string{"harbor.example/base/distroless"}, false},
		{"other digest", []string{f.baseRepo + "@sha256:" + "0000000000000000000000000000000000000000000000000000000000000000"}, true},
		{"other tag", []string{f.baseRepo + ":nonroot"}, true},
		{"nothing approved", nil, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f.images = &remoteImages{}
			req := layersRequest(f, dir)
			req.Approved = tt.approved
			_, err := f.builders(t).Build(t.Context(), req)
			wantClass(t, err, exit.Failed, "--base", "is not approved", f.base.String())
			for _, a := range tt.approved {
				wantClass(t, err, exit.Failed, a)
			}
			if fetched := f.images.Fetched(); !tt.fetches && len(fetched) > 0 {
				t.Errorf("fetched %v before refusing a foreign repository", fetched)
			}
		})
	}
}

func TestLayersBuildAcceptsPinnedApprovals(t *testing.T) {
	f := newFixture(t)
	dir := appDir(t)
	for _, approved := range []string{f.base.String(), f.baseRepo + ":latest"} {
		t.Run(approved, func(t *testing.T) {
			req := layersRequest(f, dir)
			req.Approved = []string{approved}
			res, err := f.builders(t).Build(t.Context(), req)
			if err != nil {
				t.Fatal(err)
			}
			res.Close()
		})
	}
}

func TestLayersBuildUsageErrors(t *testing.T) {
	f := newFixture(t)
	dir := appDir(t)
	for _, tt := range []struct {
		name   string
		edit   func(*Request)
		saying string
	}{
		{"no base", func(r *Request) { r.Base = "" }, "needs --base"},
		{"no layers", func(r *Request) { r.Layers = nil }, "at least one --layer"},
		{"missing source", func(r *Request) { r.Layers = []string{"nothere:/x"} }, "nothere"},
		{"tarball with dest", func(r *Request) {
			writeFile(t, filepath.Join(dir, "x.tar"), "", 0o644)
			r.Layers = []string{"x.tar:/x"}
		}, "takes no DEST"},
		{"bad chown", func(r *Request) { r.Chown = "app" }, "UID[:GID]"},
		{"bad port", func(r *Request) { r.Config.ExposedPorts = []string{"http"} }, "PORT"},
		{"bad approved entry", func(r *Request) { r.Approved = []string{"Not A Reference"} }, "baseImages"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req := layersRequest(f, dir)
			tt.edit(&req)
			_, err := f.builders(t).Build(t.Context(), req)
			wantClass(t, err, exit.Usage, tt.saying)
		})
	}
}
