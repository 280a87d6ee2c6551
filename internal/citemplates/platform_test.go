package citemplates

import (
	"encoding/base64"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/stepper-cd/stepper/internal/testenv"
)

// gitlabCILocalVersion is the gitlab-ci-local .ci/tools.sh pins; the
// pipelines' behaviour (include fetching, reports, variables) is that
// version's.
const gitlabCILocalVersion = "4.73.0"

// templatesVersion is the tag the components project is published under
// on the local git server, as a release of ci-templates would be.
const templatesVersion = "0.1.0"

// world is the local platform the pipelines run against: a git server
// (the GitLab instance's repositories: the components project, the vendor's
// project, the desired-state repositories), a registry behind the vendor's
// credentials, and the stepper under test behind a timing shim.
type world struct {
	glci, bin    string
	shim         string // directory holding the shim named stepper
	timings      string
	home         string // HOME of gitlab-ci-local and its jobs
	git          *testenv.GitServer
	host         string // the registry
	user, secret string // its only credentials
}

// newWorld starts the platform with a registry that only user may use.
func newWorld(t *testing.T, user string) *world {
	t.Helper()
	w := &world{glci: testenv.RequireTool(t, "gitlab-ci-local"), home: t.TempDir(), user: user, secret: "test-only-registry-password"}
	for _, tool := range []string{"git", "rsync", "node", "docker-registry", "cosign", "helm"} {
		testenv.RequireTool(t, tool)
	}
	if out, err := exec.Command(w.glci, "--version").Output(); err != nil || strings.TrimSpace(string(out)) != gitlabCILocalVersion {
		t.Fatalf("gitlab-ci-local --version: %q (%v), want %s, the version .ci/tools.sh pins", strings.TrimSpace(string(out)), err, gitlabCILocalVersion)
	}
	w.bin = stepperBinary(t)
	w.shim = t.TempDir()
	w.timings = filepath.Join(t.TempDir(), "stepper-runs")
	if err := os.WriteFile(filepath.Join(w.shim, "stepper"), fmt.Appendf(nil, stepperShim, w.bin, w.timings), 0o755); err != nil {
		t.Fatal(err)
	}
	var err error
	if w.git, err = testenv.StartGitServer(t.Context(), t.TempDir()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.git.Stop)
	reg, err := testenv.StartRegistryAuth(t.Context(), t.TempDir(), w.user, w.secret)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Stop)
	w.host = reg.Host
	w.publishTemplates(t)
	return w
}

// publishTemplates puts ci-templates/ on the git server as the components
// project stepper-cd/ci-templates, tagged templatesVersion: templates/ at
// its root, as the CI/CD catalog and include: project want it.
func (w *world) publishTemplates(t *testing.T) {
	t.Helper()
	files := readTree(t, filepath.Join("..", "..", "ci-templates"), nil)
	repo, err := w.git.NewRepo("stepper-cd/ci-templates", files)
	if err != nil {
		t.Fatal(err)
	}
	gitRun(t, repo.Dir, "tag", templatesVersion, "master")
}

// jobEnv is the environment of gitlab-ci-local and so of its shell jobs:
// the shim first on PATH, a HOME of the test's, nothing else of the
// caller's.
func (w *world) jobEnv() []string {
	return []string{"PATH=" + w.shim + string(os.PathListSeparator) + os.Getenv("PATH"), "HOME=" + w.home, "LANG=C.UTF-8"}
}

// stepper runs the stepper under test outside any pipeline, as the
// platform's own jobs or the test's setup do, and returns its combined
// output; it fails the test on a non-zero exit.
func (w *world) stepper(t *testing.T, env []string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), w.bin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("stepper %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (w *world) auth() authn.Authenticator {
	return &authn.Basic{Username: w.user, Password: w.secret}
}

// priorBuild builds, signs and pushes another image of app under tag with
// the layers builder, as the release an environment ran before: a
// promotion's rollback gate and a rollback ask for it. env holds what the
// configuration's signing key and registry credentials need.
func (w *world) priorBuild(t *testing.T, env []string, config, app, base, tag string) {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "VERSION"), app+" "+tag+"\n")
	w.stepper(t, env, "build-sign-push", "-c", config, "--app", app, "--builder", "layers", "--base", base, "--layer", dir+":/version",
		"--user", "65532:65532", "--entrypoint", "/app/server", "--tag", tag, "--log-format", "json")
}

// authFile is a containers-auth.json (and docker config.json) with the
// registry's credentials.
func (w *world) authFile() string {
	auth := base64.StdEncoding.EncodeToString([]byte(w.user + ":" + w.secret))
	return fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, w.host, auth)
}

// pushBase pushes the test base image to repo of the registry and returns
// it by digest.
func (w *world) pushBase(t *testing.T, repo string) string {
	t.Helper()
	img, err := testenv.BaseImage()
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag(w.host+"/"+repo+":latest", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img, remote.WithContext(t.Context()), remote.WithAuth(w.auth())); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	return tag.Context().Digest(d.String()).String()
}

// tagDigest is the digest repoTag ("project/app:tag") names in the
// registry, or "".
func (w *world) tagDigest(t *testing.T, repoTag string) string {
	t.Helper()
	ref, err := name.ParseReference(w.host+"/"+repoTag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Head(ref, remote.WithContext(t.Context()), remote.WithAuth(w.auth()))
	if err != nil {
		return ""
	}
	return desc.Digest.String()
}

// verifySignature checks ref's signature with the official cosign CLI,
// offline, with the public key pub.
func (w *world) verifySignature(t *testing.T, pub, ref string, extra ...string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(w.authFile()), 0o600); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"--key", pub, "--insecure-ignore-tlog=true", "--allow-http-registry"}, extra...)
	verb := "verify"
	if len(extra) > 0 {
		verb = "verify-attestation"
	}
	out, err := testenv.Cosign(t, []string{"DOCKER_CONFIG=" + dir}, append(append([]string{verb}, args...), ref)...)
	if err != nil {
		t.Fatalf("cosign %s %s: %v\n%s", verb, ref, err, out)
	}
	return out
}

// chartRepository packages the test chart under each name and version
// and serves the packages with an index (digests included, which the apply
// job demands), as a platform's chart repository does.
func chartRepository(t *testing.T, charts map[string]string) string {
	t.Helper()
	helm := testenv.RequireTool(t, "helm")
	dir := t.TempDir()
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(srv.Close)
	src := filepath.Join("..", "..", "testdata", "validate", "charts", "patient-api")
	for chart, version := range charts {
		c := filepath.Join(t.TempDir(), chart)
		if err := os.CopyFS(c, os.DirFS(src)); err != nil {
			t.Fatal(err)
		}
		meta := filepath.Join(c, "Chart.yaml")
		b, err := os.ReadFile(meta)
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		for _, line := range strings.Split(string(b), "\n") {
			switch {
			case strings.HasPrefix(line, "name:"):
				line = "name: " + chart
			case strings.HasPrefix(line, "version:"):
				line = "version: " + version
			}
			lines = append(lines, line)
		}
		if err := os.WriteFile(meta, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(helm, "package", c, "-d", dir).CombinedOutput(); err != nil {
			t.Fatalf("helm package %s: %v\n%s", chart, err, out)
		}
	}
	if out, err := exec.Command(helm, "repo", "index", dir, "--url", srv.URL).CombinedOutput(); err != nil {
		t.Fatalf("helm repo index: %v\n%s", err, out)
	}
	return srv.URL
}

var (
	smokeAppOnce sync.Once
	smokeAppBin  string
	smokeAppErr  error
)

// smokeApp starts testdata/smoke/app, which stands in for the deployed app
// (kwok runs no containers), and returns its base URL.
func smokeApp(t *testing.T) string {
	t.Helper()
	smokeAppOnce.Do(func() {
		dir, err := os.MkdirTemp("", "stepper-smoke-app-")
		if err != nil {
			smokeAppErr = err
			return
		}
		smokeAppBin = filepath.Join(dir, "app")
		if out, err := exec.Command("go", "build", "-o", smokeAppBin, filepath.Join("..", "..", "testdata", "smoke", "app")).CombinedOutput(); err != nil {
			smokeAppErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if smokeAppErr != nil {
		t.Fatal(smokeAppErr)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(smokeAppBin)
	cmd.Env = []string{"PORT=" + port}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() })
	return "http://" + addr
}

// swaps replace addresses in a text, in order: a longer address before
// its prefix. apply fails unless the result differs from the text in the
// addresses alone.
type swaps [][2]string

func (sw swaps) apply(t *testing.T, what, text string) string {
	t.Helper()
	out := text
	for _, s := range sw {
		if !strings.Contains(out, s[0]) {
			t.Fatalf("%s: no %q to swap", what, s[0])
		}
		out = strings.ReplaceAll(out, s[0], s[1])
	}
	return out
}

// seed reads a directory of testdata/samples as a repository's files, with
// the addresses swapped (where present).
func seed(t *testing.T, dir string, sw swaps) map[string]string {
	t.Helper()
	return readTree(t, filepath.Join("..", "..", "testdata", "samples", dir), sw)
}

// readTree reads every file below root, by its slash-separated path
// relative to root, with the addresses swapped where present.
func readTree(t *testing.T, root string, sw swaps) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		b, err := os.ReadFile(path)
		text := string(b)
		for _, s := range sw {
			text = strings.ReplaceAll(text, s[0], s[1])
		}
		files[filepath.ToSlash(rel)] = text
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func readTestdata(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", path))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// readmeExample is the YAML block of ci-templates/README.md that follows
// the comment <!-- example: name -->, its addresses swapped.
func readmeExample(t *testing.T, name string, sw swaps) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "ci-templates", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "<!-- example: "+name+" -->\n```yaml\n")
	if !ok {
		t.Fatalf("ci-templates/README.md has no example %s", name)
	}
	block, _, ok := strings.Cut(rest, "\n```")
	if !ok {
		t.Fatalf("ci-templates/README.md: example %s does not end", name)
	}
	return sw.apply(t, "README example "+name, block+"\n")
}
