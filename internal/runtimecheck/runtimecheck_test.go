package runtimecheck

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/testenv"
)

// platform is one registry (docker-registry 2.8) for the whole package.
var platform = testenv.NewShared(testenv.Options{SkipReferrersRegistry: true, SkipGit: true, SkipKube: true})

func TestMain(m *testing.M) {
	code := m.Run()
	platform.Stop()
	testApp.remove()
	os.Exit(code)
}

// testAppSource is the app every test image runs: it serves /healthz on
// $PORT and exits 0 on SIGTERM, unless its flags say otherwise.
const testAppSource = `package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ignoreTerm := flag.Bool("ignore-sigterm", false, "keep running on SIGTERM")
	exitAtOnce := flag.Int("exit", -1, "exit at once with this code")
	flag.Parse()
	if *exitAtOnce >= 0 {
		fmt.Println("test app: exiting at once")
		os.Exit(*exitAtOnce)
	}
	if *ignoreTerm {
		signal.Ignore(syscall.SIGTERM)
	} else {
		term := make(chan os.Signal, 1)
		signal.Notify(term, syscall.SIGTERM)
		go func() { <-term; os.Exit(0) }()
	}
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	http.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	log.Fatal(http.ListenAndServe(":"+port, nil))
}
`

// testApp is the compiled test app, built once per test binary.
var testApp appBuild

type appBuild struct {
	once sync.Once
	dir  string
	bin  []byte
	err  error
}

func (a *appBuild) remove() {
	if a.dir != "" {
		os.RemoveAll(a.dir)
	}
}

func testAppBinary(t *testing.T) []byte {
	t.Helper()
	goTool := testenv.RequireTool(t, "go")
	testApp.once.Do(func() {
		testApp.dir, testApp.err = os.MkdirTemp("", "stepper-runtimecheck-app-")
		if testApp.err != nil {
			return
		}
		os.WriteFile(filepath.Join(testApp.dir, "main.go"), []byte(testAppSource), 0o644)
		os.WriteFile(filepath.Join(testApp.dir, "go.mod"), []byte("module testapp\n\ngo 1.24\n"), 0o644)
		cmd := exec.Command(goTool, "build", "-trimpath", "-o", "app", ".")
		cmd.Dir = testApp.dir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
		if out, err := cmd.CombinedOutput(); err != nil {
			testApp.err = errors.New("build test app: " + err.Error() + "\n" + string(out))
			return
		}
		testApp.bin, testApp.err = os.ReadFile(filepath.Join(testApp.dir, "app"))
	})
	if testApp.err != nil {
		t.Fatal(testApp.err)
	}
	return testApp.bin
}

// pushTestImage lays the test app at /app on testenv's base image, sets
// its config with edit and pushes it; it returns the digest reference.
func pushTestImage(t *testing.T, repo string, edit func(*v1.Config)) string {
	t.Helper()
	bin := testAppBinary(t)
	reg := platform.Get(t).Registry
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "app", Mode: 0o755, Size: int64(len(bin)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)})
	tw.Write(bin)
	tw.Close()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(buf.Bytes())), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		t.Fatal(err)
	}
	base, err := testenv.BaseImage()
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(base, layer)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	config := cfg.Config
	config.User = "65532"
	config.Entrypoint = []string{"/app"}
	edit(&config)
	if img, err = mutate.Config(img, config); err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag(reg.Host+"/runtimecheck/"+repo+":test", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img, remote.WithContext(t.Context())); err != nil {
		t.Fatal(err)
	}
	digest, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return tag.Context().Digest(digest.String()).String()
}

// podmanEngine is podman with storage of the test's own, so tests run in
// parallel, and the flags that work in this sandbox: runc with cgroupfs and
// explicit rlimits. It fails the test if a container is left behind.
func podmanEngine(t *testing.T) *Engine {
	t.Helper()
	podman := testenv.RequireTool(t, "podman")
	testenv.RequireTool(t, "runc")
	// podman refuses a runroot path longer than 50 characters, which
	// t.TempDir() paths are.
	runroot, err := os.MkdirTemp("", "stepper-run")
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	e := &Engine{
		Path: podman,
		Kind: Podman,
		StorageArgs: []string{"--root", root, "--runroot", runroot, "--storage-driver", "vfs",
			"--cgroup-manager", "cgroupfs", "--runtime", "runc"},
		ExtraRunArgs: []string{"--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"},
	}
	var mu sync.Mutex
	var names []string
	e.beforeRun = func(name string) {
		mu.Lock()
		defer mu.Unlock()
		names = append(names, name)
	}
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		checkNoPortForwards(t, e, names)
		// A killed `podman run` also left the container's conmon running,
		// unknown to `podman ps`. A container's exit command (`podman
		// container cleanup`) may still be finishing, so give it a moment.
		procs := processesMentioning(root)
		for deadline := time.Now().Add(10 * time.Second); len(procs) > 0 && time.Now().Before(deadline); {
			time.Sleep(100 * time.Millisecond)
			procs = processesMentioning(root)
		}
		for _, proc := range procs {
			t.Errorf("process left behind: %s", proc)
		}
	})
	t.Cleanup(func() {
		out, err := e.run(context.Background(), "ps", "--all", "--quiet")
		if err != nil {
			t.Errorf("podman ps: %v", err)
		} else if strings.TrimSpace(out) != "" {
			t.Errorf("containers left behind: %s", out)
			e.run(context.Background(), "rm", "--force", "--all", "--time", "0")
		}
		os.RemoveAll(runroot)
	})
	return e
}

// processesMentioning lists the live processes whose command line contains
// s, as "pid: command line".
func processesMentioning(s string) []string {
	var found []string
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		if _, err := strconv.Atoi(d.Name()); err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		if err != nil || !bytes.Contains(cmdline, []byte(s)) {
			continue
		}
		found = append(found, d.Name()+": "+string(bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '})))
	}
	return found
}

// checkNoPortForwards fails the test when a container it ran, now removed,
// left rules in iptables' nat table (CNI's portmap and bridge plugins tag
// them with the container's ID), and removes them: a leaked DNAT rule for
// 127.0.0.1:<port> breaks whatever listens on that port later, in any test.
// It needs root and iptables, as rootful podman does; without them it says
// so and checks nothing.
func checkNoPortForwards(t *testing.T, e *Engine, names []string) {
	t.Helper()
	iptables, err := exec.LookPath("iptables")
	if err != nil || os.Geteuid() != 0 {
		t.Log("not checked for port forwards left behind: needs root and iptables")
		return
	}
	out, err := exec.Command(iptables, "-t", "nat", "-S").CombinedOutput()
	if err != nil {
		t.Logf("not checked for port forwards left behind: iptables -t nat -S: %v: %s", err, out)
		return
	}
	for _, name := range names {
		ids, err := e.run(context.Background(), "events", "--stream=false", "--since", "1h",
			"--filter", "container="+name, "--filter", "event=create", "--format", "{{.ID}}")
		if err != nil {
			t.Errorf("podman events for %s: %v", name, err)
			continue
		}
		for id := range strings.FieldsSeq(ids) {
			var leaked []string
			for line := range strings.Lines(string(out)) {
				if strings.Contains(line, id) {
					leaked = append(leaked, strings.TrimSpace(line))
				}
			}
			if len(leaked) > 0 {
				t.Errorf("container %s (%.12s) was removed but left %d nat rules behind:\n%s",
					name, id, len(leaked), strings.Join(leaked, "\n"))
				removeNatRules(t, iptables, leaked)
			}
		}
	}
}

// removeNatRules deletes `iptables -S` rules and then flushes and deletes
// the container's own chains they belong to or jump to (CNI-<hash> and
// CNI-DN-<hash>, not the shared CNI-HOSTPORT-*).
func removeNatRules(t *testing.T, iptables string, rules []string) {
	chains := map[string]bool{}
	own := func(chain string) {
		if strings.HasPrefix(chain, "CNI-") && !strings.HasPrefix(chain, "CNI-HOSTPORT-") {
			chains[chain] = true
		}
	}
	for _, rule := range rules {
		fields := strings.Fields(rule)
		if len(fields) < 2 || fields[0] != "-A" {
			continue
		}
		own(fields[1])
		if i := slices.Index(fields, "-j"); i > 0 && i+1 < len(fields) {
			own(fields[i+1])
		}
		// iptables -S quotes its output for a shell to read back.
		del := iptables + " -t nat -D " + strings.TrimPrefix(rule, "-A ")
		if out, err := exec.Command("sh", "-c", del).CombinedOutput(); err != nil {
			t.Logf("remove the leaked rule: %s: %v: %s", del, err, out)
		}
	}
	for chain := range chains {
		for _, op := range []string{"-F", "-X"} {
			if out, err := exec.Command(iptables, "-t", "nat", op, chain).CombinedOutput(); err != nil {
				t.Logf("iptables -t nat %s %s: %v: %s", op, chain, err, out)
			}
		}
	}
}

func TestCheckWithPodman(t *testing.T) {
	t.Parallel()
	clean := func(c *v1.Config) {
		// Not 8080, so the check must take the port from the image.
		c.ExposedPorts = map[string]struct{}{"9090/tcp": {}}
	}
	tests := []struct {
		name  string
		edit  func(*v1.Config)
		opts  Options
		want  map[string]bool // check name → passed
		about map[string]string
	}{
		// First: it waits out the kill deadline while the others run.
		{
			name:  "ignores-sigterm",
			edit:  func(c *v1.Config) { c.Entrypoint = []string{"/app", "-ignore-sigterm"} },
			want:  map[string]bool{CheckHealth: true, CheckNonRoot: true, CheckSIGTERM: false},
			about: map[string]string{CheckSIGTERM: "still running 10.0s after SIGTERM"},
		},
		{
			name: "clean",
			edit: clean,
			want: map[string]bool{CheckHealth: true, CheckNonRoot: true, CheckSIGTERM: true},
			about: map[string]string{CheckHealth: "GET /healthz answered 200", CheckNonRoot: "uid 65532",
				CheckSIGTERM: "exited with code 0"},
		},
		{
			name:  "root",
			edit:  func(c *v1.Config) { c.User = "0" },
			want:  map[string]bool{CheckHealth: true, CheckNonRoot: false, CheckSIGTERM: true},
			about: map[string]string{CheckNonRoot: "uid 0 (root)"},
		},
		{
			name:  "no-health-endpoint",
			edit:  func(c *v1.Config) {},
			opts:  Options{HealthPath: "ready", StartTimeout: 2 * time.Second},
			want:  map[string]bool{CheckHealth: false, CheckNonRoot: true, CheckSIGTERM: true},
			about: map[string]string{CheckHealth: "GET /ready did not answer 2xx within 2.0s on container port 8080 (last: 404 Not Found)"},
		},
		{
			name: "exits-at-once",
			edit: func(c *v1.Config) { c.Entrypoint = []string{"/app", "-exit", "3"} },
			want: map[string]bool{CheckHealth: false, CheckNonRoot: false, CheckSIGTERM: false},
			about: map[string]string{CheckHealth: "exited with code 3", CheckNonRoot: "not checked",
				CheckSIGTERM: "not checked"},
		},
		{
			name:  "no-such-entrypoint",
			edit:  func(c *v1.Config) { c.Entrypoint = []string{"/nope"} },
			want:  map[string]bool{CheckHealth: false, CheckNonRoot: false, CheckSIGTERM: false},
			about: map[string]string{CheckHealth: "did not start", CheckSIGTERM: "did not start"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := podmanEngine(t)
			opts := tt.opts
			opts.Image, opts.Insecure = pushTestImage(t, tt.name, tt.edit), true
			start := time.Now()
			res, err := e.Check(t.Context(), opts)
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			t.Logf("checked in %s", time.Since(start).Round(time.Millisecond))
			var names []string
			for _, c := range res.Checks {
				names = append(names, c.Name)
				t.Logf("%s passed=%v %s: %s", c.Name, c.Passed, c.Duration.Round(time.Millisecond), c.Message)
				if want := tt.want[c.Name]; c.Passed != want {
					t.Errorf("%s: passed = %v, want %v: %s", c.Name, c.Passed, want, c.Message)
				}
				if about := tt.about[c.Name]; !strings.Contains(c.Message, about) {
					t.Errorf("%s: message %q does not say %q", c.Name, c.Message, about)
				}
			}
			if got := strings.Join(names, ","); got != "health,non-root-uid,sigterm" {
				t.Errorf("checks %s, want health,non-root-uid,sigterm", got)
			}
			if res.Passed() != (tt.name == "clean") {
				t.Errorf("Passed() = %v", res.Passed())
			}
		})
	}
}

func TestCheckPullFailureIsInfra(t *testing.T) {
	t.Parallel()
	e := podmanEngine(t)
	image := platform.Get(t).Registry.Host + "/runtimecheck/missing@sha256:" + strings.Repeat("0", 64)
	_, err := e.Check(t.Context(), Options{Image: image, Insecure: true})
	if exit.ClassOf(err) != exit.Infra || !strings.Contains(err.Error(), "pull "+image) {
		t.Errorf("err = %v (class %v), want an infrastructure error naming the pull", err, exit.ClassOf(err))
	}
}

// A cancelled check stops at once and still removes its container and its
// port forwarding, whether the cancel comes while the engine starts the
// container or while the check waits for it; podmanEngine's cleanup fails
// the test otherwise. A `podman run` killed between creating the container
// and starting it left its iptables DNAT rule for 127.0.0.1:<host port>
// behind, and that rule later swallowed a kube-apiserver's connections to
// an etcd that the kernel had given the same port.
func TestCheckCancelledLeavesNothing(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		cancel func(cidfile string, cancel context.CancelFunc)
	}{
		{"while the engine starts it", cancelOnPortForward},
		{"while the check waits for it", func(_ string, cancel context.CancelFunc) {
			time.AfterFunc(3*time.Second, cancel)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := podmanEngine(t)
			cidfile := filepath.Join(t.TempDir(), "cid")
			e.ExtraRunArgs = append(e.ExtraRunArgs, "--cidfile", cidfile)
			image := pushTestImage(t, "cancelled", func(c *v1.Config) {})
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			record := e.beforeRun
			e.beforeRun = func(name string) {
				record(name)
				go tt.cancel(cidfile, cancel)
			}
			start := time.Now()
			_, err := e.Check(ctx, Options{Image: image, Insecure: true, HealthPath: "/never", StartTimeout: time.Minute})
			if !errors.Is(err, context.Canceled) {
				t.Errorf("err = %v, want context.Canceled", err)
			}
			t.Logf("cancelled check returned after %s", time.Since(start).Round(time.Millisecond))
			if took := time.Since(start); took > 20*time.Second {
				t.Errorf("cancelled check took %s", took)
			}
		})
	}
}

// cancelOnPortForward cancels as soon as the container's port forward is in
// iptables, which podman sets up before it starts the container's process:
// the moment a killed `podman run` used to leave the rule behind. The
// container's ID comes from the engine's --cidfile (`inspect` would wait
// for run's lock). Without root and iptables it cancels after half a second,
// about then.
func cancelOnPortForward(cidfile string, cancel context.CancelFunc) {
	defer cancel()
	iptables, err := exec.LookPath("iptables")
	if err != nil || os.Geteuid() != 0 {
		time.Sleep(500 * time.Millisecond)
		return
	}
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		id, _ := os.ReadFile(cidfile)
		if len(id) == 0 {
			continue
		}
		if rules, _ := exec.Command(iptables, "-t", "nat", "-S").Output(); bytes.Contains(rules, id) {
			return
		}
	}
}

func TestDetect(t *testing.T) {
	dir := t.TempDir()
	answering := filepath.Join(dir, "answering", "docker")
	silent := filepath.Join(dir, "silent", "docker")
	for path, code := range map[string]string{answering: "0", silent: "1"} {
		os.MkdirAll(filepath.Dir(path), 0o755)
		os.WriteFile(path, []byte("#!/bin/sh\nexit "+code+"\n"), 0o755)
	}
	onPath := func(tools map[string]string) func(string) (string, error) {
		return func(file string) (string, error) {
			if p, ok := tools[file]; ok {
				return p, nil
			}
			return "", exec.ErrNotFound
		}
	}
	tests := []struct {
		name     string
		tools    map[string]string
		wantKind string
	}{
		{"podman first", map[string]string{"podman": "/usr/bin/podman", "docker": answering}, Podman},
		{"docker that answers", map[string]string{"docker": answering}, Docker},
		{"docker without an engine", map[string]string{"docker": silent}, ""},
		{"none", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Detect(onPath(tt.tools), []string{"PATH=/usr/bin:/bin"})
			if tt.wantKind == "" {
				if exit.ClassOf(err) != exit.Usage || !strings.Contains(err.Error(), "--runtime needs") {
					t.Errorf("err = %v, want a usage error about --runtime", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if e.Kind != tt.wantKind || e.Path != tt.tools[tt.wantKind] {
				t.Errorf("got %s at %s, want %s", e.Kind, e.Path, tt.wantKind)
			}
		})
	}
}

func TestChoosePort(t *testing.T) {
	tests := []struct {
		exposed map[string]struct{}
		want    int
	}{
		{nil, 8080},
		{map[string]struct{}{"53/udp": {}}, 8080},
		{map[string]struct{}{"9090/tcp": {}, "3000/tcp": {}}, 3000},
		{map[string]struct{}{"9090/tcp": {}, "8080/tcp": {}}, 8080},
		{map[string]struct{}{"5000": {}}, 5000},
	}
	for _, tt := range tests {
		if got := choosePort(tt.exposed); got != tt.want {
			t.Errorf("choosePort(%v) = %d, want %d", tt.exposed, got, tt.want)
		}
	}
}

func TestInsideUID(t *testing.T) {
	tests := []struct {
		outside int
		uidMap  string
		want    int
		wantErr bool
	}{
		{65532, "         0          0 4294967295\n", 65532, false},
		// rootless podman: container root is the user, the rest subuids
		{1000, "0 1000 1\n1 100000 65536\n", 0, false},
		{165531, "0 1000 1\n1 100000 65536\n", 65532, false},
		{5, "0 1000 1\n", 0, true},
	}
	for _, tt := range tests {
		got, err := insideUID(tt.outside, tt.uidMap)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("insideUID(%d, %q) = %d, %v", tt.outside, tt.uidMap, got, err)
		}
	}
}
