// Package demo runs stepper's whole flow on the sample app against a local
// clone of a platform (eHealth, the shop or the government's), through the
// stepper binary as a user runs it, and checks the state after every
// phase: the registry, the desired-state repositories and the cluster.
// `make demo` runs it, and so do its tests under `make test`.
//
// It belongs to the test tree: the GitLab and Jenkins the clone's routes go
// through are the project's fakes (internal/testenv), so that stepper's real
// clients are exercised; they never ship in the binary.
package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/stepper-cd/stepper/internal/local"
	"github.com/stepper-cd/stepper/internal/testenv"
)

// Options say where the demo runs.
type Options struct {
	// Bin is the stepper binary.
	Bin string
	// Source is the repository's root: the sample app is built from
	// testdata/smoke/app.
	Source string
	// Dir holds everything the demo makes; the clone under it is removed
	// at the end, the status page (status.html) stays.
	Dir string
	// Platform is the platform cloned: ehealth (the default), shop or gov.
	Platform string
	// Chain is the eHealth chain: internal (inttest first) or vendor
	// (devenvcgi first). The other platforms have one chain.
	Chain string
	// Out hears the narration and every command's output.
	Out io.Writer
	// Keep leaves the clone running at the end (its GitLab and Jenkins
	// stop with the demo).
	Keep bool
}

// Step is one phase of the demo and how long it took.
type Step struct {
	Name string
	Took time.Duration
}

// phase is one step of a platform's flow.
type phase struct {
	name, why string
	run       func(context.Context) error
}

// flow is how the demo runs on one platform.
type flow struct {
	// app is the platform's sample app.
	app string
	// chains are the platform's chains the demo runs.
	chains map[string][]string
	// namespace is where env's apps run on the cluster.
	namespace func(env string) string
	// applier is what applies a desired state on the platform.
	applier string
	// desired checks that env's desired state names digest for the app.
	desired func(d *demo, env, digest string) error
	// phases are the flow's phases after local up.
	phases func(d *demo) []phase
	// fakes sets up the GitLab and Jenkins the platform's routes need;
	// gitlab and jenkins say whether the clone is given their URLs.
	fakes           func(d *demo)
	gitlab, jenkins bool
}

// flows are the platforms the demo runs on.
var flows = map[string]*flow{"ehealth": &ehealthFlow, "shop": &shopFlow, "gov": &govFlow}

type demo struct {
	o       Options
	f       *flow
	app     string
	chain   []string
	clone   string // the clone's directory
	work    string // the app's workspace
	env     []string
	state   *local.State
	gitlab  *testenv.FakeGitLab
	jenkins *testenv.FakeJenkins
	kube    kubernetes.Interface
	appURL  string
	steps   []Step
	// good and broken are the digests of the two builds.
	good, broken string
}

// Run runs the demo: every phase in order, stopping at the first that
// fails, and returns the phases it ran with their times.
func Run(ctx context.Context, o Options) (steps []Step, err error) {
	if o.Platform == "" {
		o.Platform = "ehealth"
	}
	f, ok := flows[o.Platform]
	if !ok {
		return nil, fmt.Errorf("demo: no platform %q; choose one of %s", o.Platform, strings.Join(slices.Sorted(maps.Keys(flows)), ", "))
	}
	if o.Chain == "" {
		o.Chain = slices.Sorted(maps.Keys(f.chains))[0]
	}
	chain, ok := f.chains[o.Chain]
	if !ok {
		return nil, fmt.Errorf("demo: the %s platform has no chain %q; choose one of %s", o.Platform, o.Chain, strings.Join(slices.Sorted(maps.Keys(f.chains)), ", "))
	}
	d := &demo{o: o, f: f, app: f.app, chain: chain, clone: filepath.Join(o.Dir, "clone"), work: filepath.Join(o.Dir, "work")}
	if err := os.MkdirAll(d.work, 0o755); err != nil {
		return nil, err
	}
	d.gitlab = testenv.NewFakeGitLab()
	defer d.gitlab.Close()
	d.jenkins = testenv.NewFakeJenkins()
	defer d.jenkins.Close()
	if f.fakes != nil {
		f.fakes(d)
	}
	defer func() {
		if !o.Keep {
			_, _ = d.run(context.WithoutCancel(ctx), nil, "local", "down", "--dir", d.clone)
		}
	}()
	phases := append([]phase{
		{"local up", "start a local clone of the " + o.Platform + " platform: registry, base image, signing key, chart repository, desired-state repositories and a Kubernetes control plane with kwok", d.up},
		{"build-sign-push", "build the sample app as layers on the approved base image, push it by digest and sign it", d.build},
	}, f.phases(d)...)
	for i, p := range phases {
		fmt.Fprintf(o.Out, "\n━━ %d/%d %s ━━\n%s.\n", i+1, len(phases), p.name, p.why)
		began := time.Now()
		err := p.run(ctx)
		d.steps = append(d.steps, Step{Name: p.name, Took: time.Since(began)})
		if err != nil {
			return d.steps, fmt.Errorf("demo: %s: %w", p.name, err)
		}
	}
	d.summary()
	return d.steps, nil
}

// summary prints the time each phase took.
func (d *demo) summary() {
	fmt.Fprintf(d.o.Out, "\n━━ done ━━\n")
	tw := tabwriter.NewWriter(d.o.Out, 0, 4, 2, ' ', tabwriter.AlignRight)
	var total time.Duration
	for _, s := range d.steps {
		fmt.Fprintf(tw, "%s\t%.1f s\t\n", s.Name, s.Took.Seconds())
		total += s.Took
	}
	fmt.Fprintf(tw, "total\t%.1f s\t\n", total.Seconds())
	_ = tw.Flush()
}

// say narrates one line.
func (d *demo) say(format string, args ...any) {
	fmt.Fprintf(d.o.Out, "   "+format+"\n", args...)
}

// checked narrates a check the demo made of the state.
func (d *demo) checked(format string, args ...any) {
	fmt.Fprintf(d.o.Out, "   ✓ "+format+"\n", args...)
}

// run runs the stepper binary with the clone's environment plus extra,
// echoing the command and its output, and returns its stdout and exit code.
func (d *demo) run(ctx context.Context, extra []string, args ...string) (string, int) {
	fmt.Fprintf(d.o.Out, "   $ stepper %s\n", strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, d.o.Bin, args...)
	cmd.Env = append(append(slices.Clone(d.env), extra...), "STEPPER_LOG_FORMAT=console")
	if d.env == nil {
		cmd.Env = append(os.Environ(), extra...)
	}
	cmd.Dir = d.work
	var stdout bytes.Buffer
	out := &indent{w: d.o.Out}
	cmd.Stdout, cmd.Stderr = io.MultiWriter(&stdout, out), out
	err := cmd.Run()
	out.flush()
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		return stdout.String(), exitErr.ExitCode()
	case err != nil:
		fmt.Fprintf(d.o.Out, "     %v\n", err)
		return stdout.String(), -1
	}
	return stdout.String(), 0
}

// must runs stepper and wants exit 0.
func (d *demo) must(ctx context.Context, args ...string) (string, error) {
	out, code := d.run(ctx, nil, args...)
	if code != 0 {
		return out, fmt.Errorf("stepper %s exited %d", args[0], code)
	}
	return out, nil
}

// quiet runs stepper for the demo's own checks: nothing is echoed, and
// anything but exit 0 is an error that carries the output.
func (d *demo) quiet(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, d.o.Bin, args...)
	cmd.Env, cmd.Dir = d.env, d.work
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("stepper %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// indent prefixes every line written to w.
type indent struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte
}

func (i *indent) Write(p []byte) (int, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.buf = append(i.buf, p...)
	for {
		n := bytes.IndexByte(i.buf, '\n')
		if n < 0 {
			return len(p), nil
		}
		fmt.Fprintf(i.w, "     %s\n", i.buf[:n])
		i.buf = i.buf[n+1:]
	}
}

func (i *indent) flush() {
	i.mu.Lock()
	defer i.mu.Unlock()
	if len(i.buf) > 0 {
		fmt.Fprintf(i.w, "     %s\n", i.buf)
		i.buf = nil
	}
}

// up starts the clone with the fakes' URLs and learns its addresses.
func (d *demo) up(ctx context.Context) error {
	args := []string{"local", "up", d.o.Platform, "--dir", d.clone, "--chain", d.o.Chain, "--app", d.app}
	if d.f.gitlab {
		args = append(args, "--gitlab", d.gitlab.URL)
	}
	if d.f.jenkins {
		args = append(args, "--jenkins", d.jenkins.URL)
	}
	if _, err := d.must(ctx, args...); err != nil {
		return err
	}
	s, err := local.ReadState(d.clone)
	if err != nil || s == nil || s.Clone == nil {
		return fmt.Errorf("the clone published no state: %v", err)
	}
	d.state = s
	d.env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"GITLAB_TOKEN=" + d.gitlab.Token, "JENKINS_USER=" + d.jenkins.User, "JENKINS_TOKEN=" + d.jenkins.Token}
	for _, k := range []string{"STEPPER_CACHE", "STEPPER_TOOLS_BIN", "TMPDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			d.env = append(d.env, k+"="+v)
		}
	}
	for k, v := range s.Env {
		d.env = append(d.env, k+"="+v)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", s.Env["KUBECONFIG"])
	if err != nil {
		return fmt.Errorf("the clone's kubeconfig: %w", err)
	}
	if d.kube, err = kubernetes.NewForConfig(cfg); err != nil {
		return err
	}
	if _, err := d.must(ctx, "local", "status", "--dir", d.clone); err != nil {
		return err
	}
	out, err := d.quiet(ctx, "local", "status", "--dir", d.clone, "-o", "json")
	if err != nil {
		return err
	}
	var st struct {
		Health []local.Check `json:"health"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		return fmt.Errorf("local status -o json: %w", err)
	}
	for _, h := range st.Health {
		if !h.OK {
			return fmt.Errorf("%s does not answer: %s", h.Part, h.Detail)
		}
	}
	d.checked("%d parts answer", len(st.Health))
	if d.f.gitlab {
		d.checked("GitLab (merge requests) at %s", d.gitlab.URL)
	}
	if d.f.jenkins {
		d.checked("Jenkins (promotion jobs) at %s", d.jenkins.URL)
	}
	return nil
}

// build compiles the sample app and builds, pushes and signs its image.
func (d *demo) build(ctx context.Context) error {
	d.say("the sample app is testdata/smoke/app, a small web service, compiled statically")
	gobuild := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", filepath.Join(d.work, "app"), "./testdata/smoke/app")
	gobuild.Dir = d.o.Source
	gobuild.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := gobuild.CombinedOutput(); err != nil {
		return fmt.Errorf("go build the sample app: %v\n%s", err, out)
	}
	digest, err := d.buildImage(ctx, "1.0.0", "build.json")
	if err != nil {
		return err
	}
	d.good = digest
	return d.checkSigned(ctx, digest)
}

// buildImage builds the app as tag and returns its digest.
func (d *demo) buildImage(ctx context.Context, tag, result string) (string, error) {
	if err := os.WriteFile(filepath.Join(d.work, "VERSION"), []byte(tag+"\n"), 0o644); err != nil {
		return "", err
	}
	if _, err := d.must(ctx, "build-sign-push", "--app", d.app, "--builder", "layers", "--layer", "app:/app",
		"--layer", "VERSION:/VERSION", "--entrypoint", "/app", "--expose", "8080", "--tag", tag, "--result", result); err != nil {
		return "", err
	}
	var r struct{ Image, Digest string }
	data, err := os.ReadFile(filepath.Join(d.work, result))
	if err != nil {
		return "", err
	}
	if err := json.Unmarshal(data, &r); err != nil || r.Digest == "" {
		return "", fmt.Errorf("the build result %s names no digest: %v", result, err)
	}
	got, err := d.head(ctx, d.image()+":"+tag)
	if err != nil {
		return "", err
	}
	if got != r.Digest {
		return "", fmt.Errorf("tag %s names %s, the build pushed %s", tag, got, r.Digest)
	}
	d.checked("the registry's %s:%s names %s", d.image(), tag, short(r.Digest))
	return r.Digest, nil
}

// image is the app's repository in the clone's registry.
func (d *demo) image() string {
	return d.state.Clone.Registry + "/" + d.state.Clone.Project + "/" + d.app
}

// head returns the digest a reference names in the registry.
func (d *demo) head(ctx context.Context, ref string) (string, error) {
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		return "", err
	}
	desc, err := remote.Head(r, remote.WithContext(ctx))
	if err != nil {
		return "", fmt.Errorf("the registry has no %s: %w", ref, err)
	}
	return desc.Digest.String(), nil
}

// checkSigned checks cosign's signature and attestation tags of digest.
func (d *demo) checkSigned(ctx context.Context, digest string) error {
	tag := strings.Replace(digest, ":", "-", 1)
	for _, suffix := range []string{".sig", ".att"} {
		if _, err := d.head(ctx, d.image()+":"+tag+suffix); err != nil {
			return err
		}
	}
	d.checked("the signature (%s.sig) and the signed provenance (%s.att) are in the registry", tag, tag)
	return nil
}

func (d *demo) chart() []string {
	return []string{"--chart", d.state.Clone.Charts + "/" + d.state.Clone.Chart, "--chart-version", d.state.Clone.ChartVersion}
}

// validate shows a failing variant, then signs the passing verdict.
func (d *demo) validate(ctx context.Context) error {
	d.say("a variant whose pods may run as root and have no probes:")
	args := append([]string{"validate", "--from-result", "build.json", "--app", d.app}, d.chart()...)
	out, code := d.run(ctx, nil, append(args, "--set", "securityContext.runAsNonRoot=false", "--set", "probes.readiness=false", "--set", "probes.liveness=false")...)
	if code != 1 {
		return fmt.Errorf("the variant that breaks the rules exited %d, want 1", code)
	}
	if !strings.Contains(out, "error") {
		return fmt.Errorf("the variant that breaks the rules reported no error")
	}
	d.checked("the variant is refused (exit 1) with its findings")
	d.say("the release as it is, its verdict signed and attached to the digest:")
	if _, err := d.must(ctx, append(args, "--attest")...); err != nil {
		return err
	}
	d.checked("validate passed and attached its signed verdict")
	return nil
}

// apply installs an environment's desired state on the cluster, as the
// platform's Jenkins job does with Helmsman, and checks the rollout.
func (d *demo) apply(ctx context.Context, env, digest string) error {
	d.say("%s applies %s's desired state:", d.f.applier, env)
	if _, err := d.must(ctx, "deploy", "--apply", "--env", env, "--app", d.app, "--kubeconfig", d.state.Env["KUBECONFIG"], "--timeout", "2m"); err != nil {
		return err
	}
	return d.wantRunning(ctx, env, digest)
}

// smoke tests the app in env and checks the evidence.
func (d *demo) smoke(ctx context.Context, env string) error {
	if d.appURL == "" {
		if err := d.startApp(ctx); err != nil {
			return err
		}
	}
	d.say("kwok runs no container, so the HTTP checks go to a copy of the app on this machine, %s", d.appURL)
	if _, err := d.must(ctx, "smoke-test", "--env", env, "--app", d.app, "--kubeconfig", d.state.Env["KUBECONFIG"],
		"--url", d.appURL, "--soak", "1s", "--timeout", "2m"); err != nil {
		return err
	}
	d.checked("smoke-test passed in %s and signed its evidence", env)
	return nil
}

// startApp runs the sample app on a free port until the demo ends.
func (d *demo) startApp(ctx context.Context) error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.CommandContext(context.WithoutCancel(ctx), filepath.Join(d.work, "app"), "-port", strconv.Itoa(port))
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the sample app: %w", err)
	}
	go func() { <-ctx.Done(); _ = cmd.Process.Kill() }()
	d.appURL = "http://127.0.0.1:" + strconv.Itoa(port)
	for range 50 {
		if resp, err := http.Get(d.appURL + "/healthz"); err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("the sample app does not answer at %s", d.appURL)
}

// status prints the board and writes its page.
func (d *demo) status(ctx context.Context) error {
	if _, err := d.must(ctx, "status", "--kubeconfig", d.state.Env["KUBECONFIG"]); err != nil {
		return err
	}
	page := filepath.Join(d.o.Dir, "status.html")
	if _, err := d.must(ctx, "status", "--html", page); err != nil {
		return err
	}
	out, err := d.quiet(ctx, "status", "-o", "json")
	if err != nil {
		return err
	}
	if !strings.Contains(out, d.good) {
		return fmt.Errorf("the board does not show %s", d.good)
	}
	d.checked("the board shows %s in every environment; the page is %s", short(d.good), page)
	return nil
}

// wantRunning checks that the app's Deployment in env runs digest and is
// ready.
func (d *demo) wantRunning(ctx context.Context, env, digest string) error {
	dep, err := d.kube.AppsV1().Deployments(d.f.namespace(env)).Get(ctx, d.app, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("the cluster: %w", err)
	}
	image := dep.Spec.Template.Spec.Containers[0].Image
	if !strings.HasSuffix(image, "@"+digest) {
		return fmt.Errorf("the cluster's %s/%s runs %s, want %s", dep.Namespace, d.app, image, short(digest))
	}
	want := int32(1)
	if dep.Spec.Replicas != nil {
		want = *dep.Spec.Replicas
	}
	if dep.Status.ReadyReplicas < want || dep.Status.UpdatedReplicas < want {
		return fmt.Errorf("the cluster's %s/%s has %d of %d replicas ready", dep.Namespace, d.app, dep.Status.ReadyReplicas, want)
	}
	d.checked("the cluster's %s/%s runs %s, %d/%d replicas ready", dep.Namespace, d.app, short(digest), dep.Status.ReadyReplicas, want)
	return nil
}

// wantDesired checks that env's desired state names digest for the app.
func (d *demo) wantDesired(env, digest string) error {
	if d.f.desired == nil {
		return fmt.Errorf("the %s flow checks its desired state its own way", d.o.Platform)
	}
	return d.f.desired(d, env, digest)
}

// rev is a branch's commit in the desired-state repository.
func (d *demo) rev(branch string) string {
	out, _ := d.git("rev-parse", "refs/heads/"+branch)
	return out
}

// git runs git on the clone's first desired-state repository.
func (d *demo) git(args ...string) (string, error) {
	return d.gitIn(d.repoName(d.state.Clone.Repo), args...)
}

// repoName is the path of a repository of the clone's git server.
func (d *demo) repoName(url string) string {
	return strings.TrimSuffix(strings.TrimPrefix(url, d.state.Env["STEPPER_LOCAL_GIT_URL"]+"/"), ".git")
}

// gitIn runs git on the bare repository repo ("ehealth/desired-state").
func (d *demo) gitIn(repo string, args ...string) (string, error) {
	dir := filepath.Join(d.state.Env["STEPPER_LOCAL_GIT_DIR"], filepath.FromSlash(repo)+".git")
	cmd := exec.Command("git", append([]string{"--git-dir", dir}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

func short(digest string) string {
	if i := strings.IndexByte(digest, ':'); i >= 0 && len(digest) > i+13 {
		return digest[:i+13]
	}
	return digest
}
