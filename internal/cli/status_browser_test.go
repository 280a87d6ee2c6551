package cli

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/stepper-cd/stepper/internal/report"
	"github.com/stepper-cd/stepper/internal/testenv"
	"github.com/stepper-cd/stepper/steps/status"
)

// The board through the binary, on state the binary made: two signed
// builds in a registry that wants credentials, a desired-state repository
// on a git server, dev → qa → prod by commit. The second build is
// deployed to dev, validated and smoke-tested there, promoted into qa by a
// release manager (GitLab vouches for the job token), and dev is rolled
// back to the first build and held. Then stepper status prints the board
// as text, JSON and an HTML page, which headless Chromium opens: the
// cells are read back through its DOM, and a screenshot is kept.
func TestStatusBoardInBrowser(t *testing.T) {
	platform.Get(t)
	testenv.RequireTool(t, "git")
	chromium := chromiumTool(t)
	w := newStatusWorld(t)

	r := w.s.stepper(t, "status", "-c", w.s.file, "--log-format", "json")
	if r.code != 0 {
		t.Fatalf("status: exit %d\n%s", r.code, r.stderr)
	}
	for _, want := range []string{
		"patient-api  dev ", "rollback ", ", held", "qa: stopped by validated, smoke-tested",
		"promote ", "from dev by maria", "prod: stopped by smoke-tested",
		"billing-api in prod: not signed", "held by rollback",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("status lacks %q:\n%s", want, r.stdout)
		}
	}

	// JSON: the whole board under details.
	var res struct {
		report.Result
		Details status.Board `json:"details"`
	}
	r = w.s.stepper(t, "status", "-c", w.s.file, "--log-format", "json", "-o", "json")
	if err := json.Unmarshal([]byte(r.stdout), &res); r.code != 0 || err != nil {
		t.Fatalf("status -o json: exit %d, %v\n%s\n%s", r.code, err, r.stdout, r.stderr)
	}
	b := &res.Details
	if got := strings.Join(b.Apps, ","); got != "billing-api,patient-api" || len(b.Environments) != 3 {
		t.Fatalf("board: apps %s, %d environments", got, len(b.Environments))
	}
	qa := b.Cell("qa", "patient-api")
	if qa == nil || qa.Release.Digest != w.v2 || qa.Landed == nil || qa.Landed.Actor != "maria" || qa.Landed.Action != "promote" {
		t.Fatalf("qa/patient-api: %+v", qa)
	}
	dev := b.Cell("dev", "patient-api")
	if dev.Release.Digest != w.v1 || dev.Hold == nil || dev.Hold.Reason != "500s on /login" {
		t.Errorf("dev/patient-api: digest %s, hold %+v; want %s held", dev.Release.Digest, dev.Hold, w.v1)
	}

	// The page, opened by Chromium.
	page := filepath.Join(t.TempDir(), "status.html")
	if r := w.s.stepper(t, "status", "-c", w.s.file, "--log-format", "json", "--html", page); r.code != 0 {
		t.Fatalf("status --html: exit %d\n%s", r.code, r.stderr)
	}
	raw := string(mustRead(t, page))
	for _, external := range []string{"<script", "<link", "src=", "@import", "url("} {
		if strings.Contains(raw, external) {
			t.Errorf("the page is not self-contained: it has %q", external)
		}
	}
	dom := chromiumDOM(t, chromium, page)
	cells := boardCells(t, dom)
	cell := func(env, app string) domCell {
		t.Helper()
		c, ok := cells[env+"/"+app]
		if !ok {
			t.Fatalf("no cell %s/%s in the page; cells: %v", env, app, slices.Sorted(maps.Keys(cells)))
		}
		return c
	}
	devCell, qaCell, prodCell := cell("dev", "patient-api"), cell("qa", "patient-api"), cell("prod", "billing-api")
	if got := qaCell.gates; got["signed"] != "pass" || got["validated"] != "pass" || got["smoke-tested"] != "fail" {
		t.Errorf("qa/patient-api gates in the page: %v", got)
	}
	if !strings.Contains(qaCell.fields["next"], "prod: stopped by smoke-tested") || !strings.Contains(qaCell.fields["landed"], "by maria") {
		t.Errorf("qa/patient-api in the page: %v", qaCell.fields)
	}
	if !strings.Contains(devCell.fields["hold"], "held by rollback") || devCell.gates["validated"] != "fail" {
		t.Errorf("dev/patient-api in the page: %v %v", devCell.fields, devCell.gates)
	}
	if prodCell.gates["signed"] != "fail" || cell("qa", "billing-api").text != "—" {
		t.Errorf("billing-api in the page: prod gates %v, qa %q", prodCell.gates, cell("qa", "billing-api").text)
	}
	// Every cell links to its evidence: the commit that landed it and its
	// pipeline, the signature and attestation in the registry.
	wantLinks := []string{
		w.repo.HTTPURL[:len(w.repo.HTTPURL)-len(".git")] + "/-/commit/" + qa.Landed.Commit,
		qa.Landed.Pipeline,
		"http://" + w.s.host + "/v2/vendor-x/patient-api/manifests/sha256-" + strings.TrimPrefix(w.v2, "sha256:") + ".sig",
		"http://" + w.s.host + "/v2/vendor-x/patient-api/manifests/sha256-" + strings.TrimPrefix(w.v2, "sha256:") + ".att",
	}
	for _, want := range wantLinks {
		if !slices.Contains(qaCell.links, want) {
			t.Errorf("qa/patient-api does not link %s; it links %v", want, qaCell.links)
		}
	}
	if len(devCell.links) == 0 || !slices.ContainsFunc(devCell.links, func(l string) bool { return dev.Hold != nil && strings.Contains(l, dev.Hold.Commit) }) {
		t.Errorf("dev/patient-api does not link its hold's commit: %v", devCell.links)
	}
	shot := filepath.Join(t.ArtifactDir(), "status.png")
	chromiumScreenshot(t, chromium, page, shot)
	t.Logf("screenshot of the board: %s (kept with go test -artifacts)", shot)

	// Smoke-tested in qa: the promotion into prod may go.
	w.s.smokeTest(t, "qa", w.built2)
	r = w.s.stepper(t, "status", "-c", w.s.file, "--log-format", "json", "--env", "qa", "--app", "patient-api")
	if r.code != 0 || !strings.Contains(r.stdout, "prod: may promote") {
		t.Errorf("status --env qa after the smoke test: exit %d, want prod: may promote\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

// statusWorld is the state the board test reads.
type statusWorld struct {
	s              *sample
	repo           *testenv.Repo
	v1, v2, built2 string
}

func newStatusWorld(t *testing.T) *statusWorld {
	t.Helper()
	s := newSample(t, stepperBinary(t), "patient-api", "robot$vendor-x+ci")
	gitlab := testenv.StartFakeGitLab(t)
	gitlab.AddGroup("release-managers", "maria")
	gitlab.AddJobToken("test-only-job-token-maria", "maria")
	charts, _ := chartRepo(t, map[string]string{"1.4.0": ""}, false)
	key, err := testenv.NewCosignKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	repoURL := s.git.URL + "/vendor-x/desired-state.git"
	env := func(name string) string {
		return fmt.Sprintf("  - name: %[1]s\n    desiredState: {repo: %[2]q, branch: master, path: %[1]s/dsf.yaml, format: helmsman}\n    land: {via: commit}\n", name, repoURL)
	}
	s.file = filepath.Join(s.dir, "stepper.yaml")
	config := fmt.Sprintf(`registry:
  host: %[1]q
  project: vendor-x
  credentials: {username: env://HARBOR_USER, password: env://HARBOR_PASSWORD}
baseImages: ["%[1]s/base/static"]
signing:
  key: "file://%[2]s"
  password: env://COSIGN_PASSWORD
  publicKeys: [{id: test-only-vendor, path: %[3]q}]
build: {builder: layers}
gitlab: {url: %[4]q, token: env://GITLAB_TOKEN}
chain: main
chains: {main: [dev, qa, prod]}
environments:
`, s.host, key.Private, key.Public, gitlab.URL) + env("dev") + env("qa") + "    promoters: [group:release-managers]\n" + env("prod") + "    promoters: [group:release-managers]\n"
	if err := os.WriteFile(s.file, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	s.env = append(s.env, "HARBOR_USER="+s.user, "HARBOR_PASSWORD="+s.password, "COSIGN_PASSWORD="+testenv.TestOnlyKeyPassword,
		"GITLAB_TOKEN="+gitlab.Token, "CI_JOB_TOKEN=test-only-job-token-maria")
	base := s.pushBase(t, "base/static")
	build := func(tag string) string {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "VERSION"), []byte(tag+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return s.buildSignPush(t, base, "--tag", tag, "--layer", dir+":/version")
	}
	w := &statusWorld{s: s}
	build("1.0.0")
	w.v1 = s.digest
	dsf := func(app, tag, digest string) string {
		return fmt.Sprintf("  %s:\n    namespace: vendor\n    enabled: true\n    chart: charts/patient-api\n    version: \"1.4.0\"\n"+
			"    set:\n      image.repository: %[2]s/vendor-x/%[1]s\n      image.tag: %[3]q\n      image.digest: %[4]q\n      replicaCount: 2\n", app, s.host, tag, digest)
	}
	header := fmt.Sprintf("namespaces:\n  vendor: {}\nhelmRepos:\n  charts: %q\napps:\n", charts)
	// What ran before stepper: the first build everywhere, written by hand,
	// and in prod a billing-api whose image is gone from the registry.
	if w.repo, err = s.git.NewRepo("vendor-x/desired-state", map[string]string{
		"dev/dsf.yaml":  header + dsf("patient-api", "1.0.0", w.v1),
		"qa/dsf.yaml":   header + dsf("patient-api", "1.0.0", w.v1),
		"prod/dsf.yaml": header + dsf("patient-api", "1.0.0", w.v1) + dsf("billing-api", "0.9.0", fakeDigest("gone", 1)),
	}); err != nil {
		t.Fatal(err)
	}
	if w.repo.HTTPURL != repoURL {
		t.Fatalf("the repository is at %s, not %s", w.repo.HTTPURL, repoURL)
	}

	w.built2 = build("1.1.0")
	w.v2 = s.digest
	s.deploy(t, w.built2, "dev")
	s.validateAttest(t, w.built2)
	s.smokeTest(t, "dev", w.built2)
	if r, _ := s.promote(t, "--from", "dev", "--app", "patient-api"); r.code != 0 {
		t.Fatalf("promote dev → qa: exit %d\n%s", r.code, r.stderr)
	}
	if r := s.stepper(t, "rollback", "-c", s.file, "--log-format", "json", "--env", "dev", "--app", "patient-api", "--reason", "500s on /login"); r.code != 0 {
		t.Fatalf("rollback dev: exit %d\n%s", r.code, r.stderr)
	}
	return w
}

// chromiumTool is Debian's headless Chromium: chromium-headless-shell, or
// the full chromium.
func chromiumTool(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium-headless-shell", "chromium"} {
		if path, err := testenv.Tool(name); err == nil {
			return path
		}
	}
	return testenv.RequireTool(t, "chromium-headless-shell")
}

// chromiumArgs run Chromium headless as a test may: no sandbox (root in
// CI), no GPU, no network but the file itself, a profile of its own.
func chromiumArgs(t *testing.T, extra ...string) []string {
	return append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
		"--user-data-dir=" + t.TempDir(), "--hide-scrollbars"}, extra...)
}

// chromiumDOM opens page and returns the DOM Chromium built from it.
func chromiumDOM(t *testing.T, chromium, page string) *html.Node {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), chromium, chromiumArgs(t, "--dump-dom", "file://"+page)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s --dump-dom: %v\n%s", chromium, err, stderr.String())
	}
	doc, err := html.Parse(strings.NewReader(string(out)))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// chromiumScreenshot renders page into png.
func chromiumScreenshot(t *testing.T, chromium, page, png string) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), chromium, chromiumArgs(t, "--window-size=1400,900", "--screenshot="+png, "file://"+page)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s --screenshot: %v\n%s", chromium, err, out)
	}
	if fi, err := os.Stat(png); err != nil || fi.Size() < 1000 {
		t.Fatalf("no screenshot at %s: %v", png, err)
	}
}

// domCell is one td of the board as the browser has it.
type domCell struct {
	text   string
	gates  map[string]string // gate → pass, fail, off
	fields map[string]string // data-field → text
	links  []string
}

// boardCells reads the board's cells from the DOM, by env/app.
func boardCells(t *testing.T, doc *html.Node) map[string]domCell {
	t.Helper()
	out := map[string]domCell{}
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "td" && attr(n, "data-env") != "" {
			c := domCell{text: strings.TrimSpace(textOf(n)), gates: map[string]string{}, fields: map[string]string{}}
			var inner func(m *html.Node)
			inner = func(m *html.Node) {
				if m.Type == html.ElementNode {
					if g := attr(m, "data-gate"); g != "" {
						c.gates[g] = strings.Fields(attr(m, "class"))[1]
					}
					if f := attr(m, "data-field"); f != "" {
						c.fields[f] = strings.Join(strings.Fields(textOf(m)), " ")
					}
					if m.Data == "a" {
						c.links = append(c.links, attr(m, "href"))
					}
				}
				for k := m.FirstChild; k != nil; k = k.NextSibling {
					inner(k)
				}
			}
			inner(n)
			out[attr(n, "data-env")+"/"+attr(n, "data-app")] = c
			return
		}
		for k := n.FirstChild; k != nil; k = k.NextSibling {
			walk(k)
		}
	}
	walk(doc)
	if len(out) == 0 {
		t.Fatal("the page has no board cells")
	}
	return out
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func textOf(n *html.Node) string {
	if n.Type == html.TextNode {
		return n.Data
	}
	var b strings.Builder
	for k := n.FirstChild; k != nil; k = k.NextSibling {
		b.WriteString(textOf(k))
	}
	return b.String()
}
