package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/stepper-cd/stepper/internal/build"
	"github.com/stepper-cd/stepper/internal/registry"
	"github.com/stepper-cd/stepper/internal/signing"
	"github.com/stepper-cd/stepper/internal/testenv"
)

// valFixture is a platform for validate: the approved registry with the
// approved base and one image per image rule, signed with the approved key;
// another registry; an official chart repository with the fixture chart at
// 1.3.0 and 1.4.0 and an undocumented variant; an unofficial repository.
type valFixture struct {
	host, otherHost      string
	repo, unofficialRepo string
	digests              map[string]string
	key                  testenv.CosignKey
	config               string
	dir                  string
}

func newValFixture(t *testing.T) *valFixture {
	t.Helper()
	testenv.RequireTool(t, "helm")
	p := platform.Get(t)
	f := &valFixture{host: p.Registry.Host, otherHost: p.ReferrersRegistry.Host, digests: map[string]string{}, dir: t.TempDir()}
	ctx := t.Context()
	base, err := testenv.PushBaseImage(ctx, f.host, "base/static")
	if err != nil {
		t.Fatal(err)
	}
	if f.key, err = testenv.NewCosignKey(f.dir); err != nil {
		t.Fatal(err)
	}
	pem, _ := os.ReadFile(f.key.Private)
	key, err := signing.LoadKey(ctx, signing.KeySource{PEM: pem, Password: []byte(testenv.TestOnlyKeyPassword)})
	if err != nil {
		t.Fatal(err)
	}
	client := registry.New(registry.Options{})
	builders := &build.Builders{Images: client}
	appDir := filepath.Join(f.dir, "app")
	os.MkdirAll(appDir, 0o755)

	// layered builds the app (content varies the digest) on the approved base.
	layered := func(content, user string, entrypoint []string) v1.Image {
		os.WriteFile(filepath.Join(appDir, "server"), []byte(content), 0o755)
		res, err := builders.Build(ctx, build.Request{
			Builder: build.Layers, Base: base.String(), Layers: []string{appDir + ":/app"},
			Config:   build.ImageConfig{User: user, Entrypoint: entrypoint},
			Approved: []string{f.host + "/base/static"}, Created: time.Unix(1795000000, 0),
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { res.Close() })
		return res.Image
	}
	push := func(host, app, tag string, img v1.Image, sign bool) {
		pushed, err := client.Push(ctx, host+"/vendor-x/"+app, img)
		if err != nil {
			t.Fatal(err)
		}
		if err := client.Tag(ctx, pushed.Ref, []string{tag}, true); err != nil {
			t.Fatal(err)
		}
		if sign {
			if _, err := signing.Sign(ctx, key, pushed.Ref, signing.Options{Format: signing.FormatSigTag, RemoteOptions: client.RemoteOptions(ctx)}); err != nil {
				t.Fatal(err)
			}
		}
		f.digests[app] = pushed.Ref.DigestStr()
	}
	exec := []string{"/app/server"}
	push(f.host, "good", "1.0.0", layered("good", "65532", exec), true)
	push(f.host, "case-image-non-root", "1.0.0", layered("root", "0", exec), true)
	push(f.host, "case-image-signed", "1.0.0", layered("unsigned", "65532", exec), false)
	push(f.otherHost, "case-image-approved-registry", "1.0.0", layered("elsewhere", "65532", exec), true)
	push(f.host, "case-image-pinned", "1.0.0", layered("tag only", "65532", exec), true)
	push(f.host, "case-image-no-latest", "latest", layered("latest", "65532", exec), true)
	push(f.host, "case-image-exec-form", "1.0.0", layered("shell", "65532", []string{"/bin/sh", "-c", "/app/server"}), true)

	// On the approved base without build-sign-push's annotations: the
	// layers prove the base, only the annotation is missing.
	baseImg, err := remote.Image(base, remote.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	push(f.host, "case-image-base-annotation", "1.0.0", appOn(t, baseImg, nil), true)
	// On another base, claiming the approved one in its annotations: the
	// annotation alone must not pass.
	other, _ := random.Image(512, 2)
	push(f.host, "case-image-approved-base", "1.0.0", appOn(t, other, map[string]string{
		"org.opencontainers.image.base.name":   f.host + "/base/static",
		"org.opencontainers.image.base.digest": base.DigestStr(),
	}), true)

	f.repo, _ = chartRepo(t, map[string]string{"1.3.0": "", "1.4.0": ""}, true)
	f.unofficialRepo, _ = chartRepo(t, map[string]string{"1.4.0": ""}, false)

	os.WriteFile(filepath.Join(f.dir, "vendor-2026.pub"), mustRead(t, f.key.Public), 0o644)
	f.config = writeConfig(t, fmt.Sprintf(`
registry: {host: %q, project: vendor-x}
baseImages: [%q]
signing:
  publicKeys: [{id: vendor-2026, path: %q}]
charts:
  repositories: [%q]
environments:
  - name: test
    desiredState: {repo: "file:///nonexistent", branch: main, path: dsf.yaml, format: helmsman}
    land: {via: commit}
`, f.host, f.host+"/base/static", filepath.Join(f.dir, "vendor-2026.pub"), f.repo))
	return f
}

// appOn puts a one-layer app on base, non-root with an exec-form entrypoint.
func appOn(t *testing.T, base v1.Image, annotations map[string]string) v1.Image {
	t.Helper()
	layer, _ := random.Layer(1024, "application/vnd.docker.image.rootfs.diff.tar.gzip")
	img, err := mutate.AppendLayers(base, layer)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	c.User, c.Entrypoint = "65532", []string{"/app/server"}
	if img, err = mutate.Config(img, c); err != nil {
		t.Fatal(err)
	}
	if annotations != nil {
		img = mutate.Annotations(img, annotations).(v1.Image)
	}
	return img
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// chartRepo packages the fixture chart at each version with the real helm
// CLI, indexes it and serves it over HTTP: a real chart repository. With
// undocumented it also holds patient-api-undocumented, the chart without
// README or annotations.
func chartRepo(t testing.TB, versions map[string]string, undocumented bool) (url, dir string) {
	t.Helper()
	helm := testenv.RequireTool(t, "helm")
	dir = t.TempDir()
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(srv.Close)
	src, _ := filepath.Abs(filepath.Join("..", "..", "testdata", "validate", "charts", "patient-api"))
	pkg := func(chartDir string) {
		out, err := exec.Command(helm, "package", chartDir, "-d", dir).CombinedOutput()
		if err != nil {
			t.Fatalf("helm package: %v\n%s", err, out)
		}
	}
	for v := range versions {
		c := copyChart(t, src)
		setChartField(t, c, "version", v)
		pkg(c)
	}
	if undocumented {
		c := copyChart(t, src)
		setChartField(t, c, "name", "patient-api-undocumented")
		setChartField(t, c, "version", "1.4.0")
		os.Remove(filepath.Join(c, "README.md"))
		b := mustRead(t, filepath.Join(c, "Chart.yaml"))
		os.WriteFile(filepath.Join(c, "Chart.yaml"), []byte(strings.Split(string(b), "annotations:")[0]), 0o644)
		pkg(c)
	}
	if out, err := exec.Command(helm, "repo", "index", dir, "--url", srv.URL).CombinedOutput(); err != nil {
		t.Fatalf("helm repo index: %v\n%s", err, out)
	}
	return srv.URL, dir
}

func copyChart(t testing.TB, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "patient-api")
	if out, err := exec.Command("cp", "-r", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	return dst
}

func setChartField(t testing.TB, dir, field, value string) {
	t.Helper()
	p := filepath.Join(dir, "Chart.yaml")
	var lines []string
	for _, l := range strings.Split(string(mustRead(t, p)), "\n") {
		if strings.HasPrefix(l, field+":") {
			l = field + ": " + value
		}
		lines = append(lines, l)
	}
	os.WriteFile(p, []byte(strings.Join(lines, "\n")), 0o644)
}

// dsf fills in the cases' desired-state template.
func (f *valFixture) dsf(t *testing.T) string {
	t.Helper()
	tmpl, err := template.New("dsf.yaml.tmpl").Funcs(template.FuncMap{
		"digest": func(app string) (string, error) {
			d, ok := f.digests[app]
			if !ok {
				return "", fmt.Errorf("no image built for %s", app)
			}
			return d, nil
		},
	}).ParseFiles(filepath.Join("..", "..", "testdata", "validate", "cases", "dsf.yaml.tmpl"))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := tmpl.Execute(&b, map[string]string{"Host": f.host, "OtherHost": f.otherHost, "Repo": f.repo, "UnofficialRepo": f.unofficialRepo}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "dsf.yaml")
	os.WriteFile(path, []byte(b.String()), 0o644)
	// Values that run the good image without the entry naming it.
	os.WriteFile(filepath.Join(dir, "image-of-good.yaml"), []byte(fmt.Sprintf("image: {repository: %q, tag: \"1.0.0\", digest: %q}\n",
		f.host+"/vendor-x/good", f.digests["good"])), 0o644)
	return path
}

type validateDetails struct {
	Details struct {
		Findings []struct {
			Rule, Severity, App, Message string
		} `json:"findings"`
	} `json:"details"`
}

// Every rule has a case in testdata/validate/cases that breaks exactly
// that rule; the good app breaks none. One validate run over the whole
// desired state checks them all.
func TestValidateEveryRuleHasACase(t *testing.T) {
	f := newValFixture(t)
	state := f.dsf(t)
	out := t.TempDir()
	args := []string{"validate", "-c", f.config, "--env", "test", "--all", "--state", state, "-o", "json",
		"--junit", filepath.Join(out, "junit.xml"), "--code-quality", filepath.Join(out, "codequality.json")}
	r := runCLI(t, []string{"HOME=" + t.TempDir()}, args...)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1 (errors found)\n%s", r.code, r.stderr)
	}
	var res validateDetails
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, r.stdout)
	}
	byApp := map[string][]string{}
	for _, fd := range res.Details.Findings {
		byApp[fd.App] = append(byApp[fd.App], fd.Rule)
	}
	if got := byApp["good"]; len(got) > 0 {
		t.Errorf("good: findings %v, want none", got)
		for _, fd := range res.Details.Findings {
			if fd.App == "good" {
				t.Logf("  %s: %s", fd.Rule, fd.Message)
			}
		}
	}
	tmpl := string(mustRead(t, filepath.Join("..", "..", "testdata", "validate", "cases", "dsf.yaml.tmpl")))
	cases := 0
	for _, line := range strings.Split(tmpl, "\n") {
		app, ok := strings.CutPrefix(strings.TrimSuffix(line, ":"), "  case-")
		if !ok || strings.HasPrefix(app, " ") {
			continue
		}
		cases++
		got := byApp["case-"+app]
		slices.Sort(got)
		if !slices.Equal(got, []string{app}) {
			t.Errorf("case-%s: findings %v, want exactly [%s]", app, got, app)
			for _, fd := range res.Details.Findings {
				if fd.App == "case-"+app {
					t.Logf("  %s: %s", fd.Rule, fd.Message)
				}
			}
		}
	}
	if cases < 25 {
		t.Errorf("only %d cases in the template", cases)
	}
	t.Logf("%d cases, each breaking exactly its rule", cases)
	for _, file := range []string{"junit.xml", "codequality.json"} {
		if b, err := os.ReadFile(filepath.Join(out, file)); err != nil || len(b) == 0 {
			t.Errorf("%s not written: %v", file, err)
		}
	}

	// An app the desired state lacks.
	r = runCLI(t, []string{"HOME=" + t.TempDir()}, "validate", "-c", f.config, "--env", "test", "--app", "god", "--state", state, "-o", "json")
	if r.code != 1 || !strings.Contains(r.stdout, `"state-app-present"`) || !strings.Contains(r.stdout, "good") {
		t.Errorf("missing app: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

// The good app alone passes, and the text output says so.
func TestValidateGoodAppPasses(t *testing.T) {
	f := newValFixture(t)
	r := runCLI(t, []string{"HOME=" + t.TempDir()}, "validate", "-c", f.config, "--env", "test", "--app", "good", "--state", f.dsf(t))
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "validate test/good: succeeded") {
		t.Errorf("stdout:\n%s", r.stdout)
	}
}

// A chart from a local path is checked and rendered, but says it is not the
// official copy (a warning, so validate still passes).
func TestValidateLocalChart(t *testing.T) {
	f := newValFixture(t)
	chart, _ := filepath.Abs(filepath.Join("..", "..", "testdata", "validate", "charts", "patient-api"))
	ref := f.host + "/vendor-x/good@" + f.digests["good"]
	r := runCLI(t, []string{"HOME=" + t.TempDir()}, "validate", "-c", f.config, "--app", "patient-api", "--image", ref, "--chart", chart,
		"--set", "image.repository="+f.host+"/vendor-x/good", "--set", "image.digest="+f.digests["good"], "-o", "json")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	var res validateDetails
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatal(err)
	}
	var rules []string
	for _, fd := range res.Details.Findings {
		if fd.Severity != "info" {
			rules = append(rules, fd.Rule)
		}
	}
	if !slices.Equal(rules, []string{"chart-local"}) {
		t.Errorf("findings %v, want [chart-local]", rules)
	}
}

var _ = name.ParseReference

// validate --runtime starts the image with podman, configured the way
// podman is configured anywhere: containers.conf and storage.conf named by
// CONTAINERS_CONF and CONTAINERS_STORAGE_CONF. A good image passes the
// health, uid and SIGTERM checks; one whose app answers 500 fails health.
func TestValidateRuntimeWithPodman(t *testing.T) {
	testenv.RequireTool(t, "podman")
	f := newBSPFixture(t, "")
	bin := filepath.Join(f.appDir, "server")
	os.Remove(bin)
	build := exec.Command("go", "build", "-o", bin, filepath.Join("..", "..", "testdata", "smoke", "app"))
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	runroot, err := os.MkdirTemp("", "stepper-run")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(runroot) })
	conf := t.TempDir()
	os.WriteFile(filepath.Join(conf, "containers.conf"), []byte("[engine]\nruntime = \"runc\"\ncgroup_manager = \"cgroupfs\"\n[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=1024:1024\"]\n"), 0o644)
	os.WriteFile(filepath.Join(conf, "storage.conf"), []byte(fmt.Sprintf("[storage]\ndriver = \"vfs\"\nrunroot = %q\ngraphroot = %q\n", runroot, filepath.Join(conf, "storage"))), 0o644)
	env := append(f.environ, "CONTAINERS_CONF="+filepath.Join(conf, "containers.conf"), "CONTAINERS_STORAGE_CONF="+filepath.Join(conf, "storage.conf"), "PATH="+os.Getenv("PATH"))
	for _, tc := range []struct {
		name, health string
		code         int
	}{{"healthy", "200", 0}, {"healthz answers 500", "500", 1}} {
		t.Run(tc.name, func(t *testing.T) {
			args := f.args(t, "--tag", "runtime-"+tc.health, "--allow-retag", "--env", "HOST=0.0.0.0", "--env", "HEALTH_STATUS="+tc.health, "--expose", "8080")
			if r := runCLI(t, f.environ, args...); r.code != 0 {
				t.Fatalf("build-sign-push: exit %d\n%s", r.code, r.stderr)
			}
			ref := resultOf(t, args).Outputs["image-ref"]
			r := runCLI(t, env, "validate", "-c", f.config, "--app", "api", "--image", ref, "--runtime", "-o", "json")
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d\n%s\n%s", r.code, tc.code, r.stdout, r.stderr)
			}
			if tc.code == 1 && !strings.Contains(r.stdout, `"runtime-health"`) {
				t.Errorf("no runtime-health finding:\n%s", r.stdout)
			}
		})
	}
}
