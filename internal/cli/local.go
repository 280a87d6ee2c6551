package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/local"
)

// LocalCmd groups `stepper local`.
type LocalCmd struct {
	Up     LocalUpCmd     `cmd:"" help:"Start a local clone of the platform and write a ready stepper.yaml for it."`
	Status LocalStatusCmd `cmd:"" help:"Show what the local clone runs, where, and whether each part answers."`
	Down   LocalDownCmd   `cmd:"" help:"Stop the local clone and remove everything it made."`
	Serve  LocalServeCmd  `cmd:"" hidden:"" help:"Run the local clone in the foreground (what up starts)."`
}

// localClone are the flags that say what clone to make, shared by up and
// the serve process it starts. No STEPPER_* variable sets them (env:"-"):
// STEPPER_CHAIN, STEPPER_APP and the like belong to the configuration and
// the verbs.
type localClone struct {
	Platform   string   `arg:"" optional:"" default:"ehealth" enum:"ehealth,shop,gov" help:"The platform to clone: ehealth (Helmsman, Jenkins), shop (Flux, tags), gov (helmfile, merge requests)."`
	Chain      string   `placeholder:"CHAIN" env:"-" help:"The chain stepper.yaml follows: internal (inttest first, the default) or vendor (devenvcgi first) for ehealth; release for shop and gov."`
	App        []string `placeholder:"NAME" env:"-" help:"Apps that get an entry in every environment's desired state. Repeatable. Default: the platform's sample app (patient-api, blog-service, hocs-casework)."`
	Kubeconfig string   `placeholder:"FILE" type:"path" env:"-" help:"Use this cluster (its current context) instead of starting the local control plane."`
	Without    []string `enum:"kube,distribution" placeholder:"PART" env:"-" help:"Leave out a part: kube (no cluster at all), distribution (the second registry, docker-registry 2.8, which has no referrers API)."`
	Bare       bool     `env:"-" help:"Start the components only: no key, base image, charts, repositories or stepper.yaml (what the tests' platform is)."`
	GitLab     string   `name:"gitlab" placeholder:"URL" env:"-" help:"A GitLab whose API the merge requests go through (token in GITLAB_TOKEN): ehealth's from master into prod, gov's into main. Without it they land as commits."`
	NoBuild    bool     `env:"-" help:"Refuse instead of building missing control-plane binaries (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok) from source."`
	Jenkins    string   `name:"jenkins" placeholder:"URL" env:"-" help:"A Jenkins whose promotion jobs (ehealth-promote-exttest, ehealth-promote-prod) exttest and prod land through (JENKINS_USER, JENKINS_TOKEN); without it, they land as commits."`
}

func localDir(dir string) (string, error) {
	if dir != "" {
		return filepath.Abs(dir)
	}
	return local.DefaultDir()
}

// LocalUpCmd is `stepper local up`.
type LocalUpCmd struct {
	localClone
	Dir string `placeholder:"DIR" env:"-" help:"Where the clone keeps everything (default ~/.cache/stepper/local)."`
}

// Help is the long help of `stepper local up`.
func (LocalUpCmd) Help() string {
	return `Starts a local clone of the platform in the background and writes a ready
stepper.yaml for it, so that every verb runs against it unchanged:

  - an OCI registry with the referrers API, served from the stepper
    process (blobs on disk, manifests in memory), and Debian's
    docker-registry 2.8 when it is installed;
  - the platform's approved base image, non-root, in that registry;
  - a fresh cosign key pair, its password in a file beside it;
  - the platform's chart in a Helm chart repository;
  - the platform's desired-state repositories, served over git's HTTP
    protocol: ehealth's Helmsman files (master and prod branches), the
    shop's Flux HelmReleases with a stand-in for Flux's image automation
    that follows master-* tags, the government's helmfile layouts in
    deploy-notprod and deploy-prod;
  - Kubernetes: the cluster of --kubeconfig, otherwise etcd, kube-apiserver,
    kube-controller-manager and kube-scheduler with kwok simulating the
    nodes and pods. When they are missing, up builds them from source with
    Go first and caches them (minutes on a small machine, once; make tools
    builds the same), saying what builds and how long its last build took.

Routes that need GitLab or Jenkins (ehealth's promotion jobs and merge
request, gov's merge requests) land as commits unless --gitlab and
--jenkins name them; local status lists them. Every line the clone logs while it starts is shown. It returns once
the clone is ready; source DIR/env to point stepper (STEPPER_CONFIG) and
kubectl (KUBECONFIG) at it. A clone already running is left as it is.

Examples:

    stepper local up
    stepper local up ehealth --chain vendor --app patient-api --app careplan
    stepper local up shop
    stepper local up gov --gitlab https://gitlab.example
    stepper local up --kubeconfig ~/.kube/config
    source ~/.cache/stepper/local/env && stepper config show
`
}

// Run starts the clone.
func (c *LocalUpCmd) Run(ctx context.Context, rt *Runtime) error {
	dir, err := localDir(c.Dir)
	if err != nil {
		return err
	}
	if !c.Bare {
		if err := c.cloneOptions(dir).Check(); err != nil {
			return exit.Mark(exit.Usage, err)
		}
	}
	if err := c.preflight(ctx, rt.Stderr); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return exit.Infraf("local up: %w", err)
	}
	args := append([]string{"local", "serve", "--dir", dir}, c.args()...)
	began := time.Now()
	fmt.Fprintf(rt.Stderr, "starting the local clone in %s; its log is %s\n", dir, local.LogPath(dir))
	s, started, err := local.Up(ctx, dir, local.Spawn{Path: self, Args: args}, rt.Stderr)
	if err != nil {
		if errors.As(err, new(local.ErrNotClone)) {
			return exit.Mark(exit.Usage, err)
		}
		return exit.Mark(exit.Infra, err)
	}
	if !started {
		fmt.Fprintf(rt.Stderr, "the local clone in %s runs already (pid %d); stepper local down stops it\n", dir, s.PID)
	} else {
		fmt.Fprintf(rt.Stderr, "the local clone is ready in %s\n", time.Since(began).Round(100*time.Millisecond))
	}
	if rt.Globals.Output == "json" {
		return printJSON(rt, s)
	}
	return writeLocalState(rt.Stdout, s, nil)
}

func (c localClone) cloneOptions(dir string) local.CloneOptions {
	return local.CloneOptions{Platform: c.Platform, Chain: c.Chain, Apps: c.App, Dir: dir, GitLab: c.GitLab, Jenkins: c.Jenkins}
}

// args are the flags that make serve clone what up was asked for.
func (c localClone) args() []string {
	args := []string{c.Platform}
	if c.Chain != "" {
		args = append(args, "--chain", c.Chain)
	}
	for _, app := range c.App {
		args = append(args, "--app", app)
	}
	if c.Kubeconfig != "" {
		args = append(args, "--kubeconfig", c.Kubeconfig)
	}
	for _, w := range c.Without {
		args = append(args, "--without", w)
	}
	if c.Bare {
		args = append(args, "--bare")
	}
	if c.GitLab != "" {
		args = append(args, "--gitlab", c.GitLab)
	}
	if c.Jenkins != "" {
		args = append(args, "--jenkins", c.Jenkins)
	}
	return args
}

// platform is what the serve process starts for these flags.
func (c localClone) platform() local.Options {
	var o local.Options
	for _, w := range c.Without {
		switch w {
		case "kube":
			o.SkipKube = true
		case "distribution":
			o.SkipRegistry = true
		}
	}
	if c.Kubeconfig != "" {
		o.SkipKube = true
	}
	if _, err := local.Tool("docker-registry"); err != nil {
		// The second registry is optional: it runs where it is installed.
		o.SkipRegistry = true
	}
	return o
}

// preflight makes sure, before anything starts, that the clone's tools
// are there. Missing control-plane binaries (etcd, kube-*, kwok) are built
// from source with the Go toolchain and cached, saying what builds and
// how long its last build took; anything else missing, or the control
// plane without Go or with --no-build, is refused with what to do instead.
func (c localClone) preflight(ctx context.Context, progress io.Writer) error {
	missing := c.missingTools()
	if len(missing) == 0 {
		return nil
	}
	builds, rest := local.Buildable(missing)
	_, noGo := exec.LookPath("go")
	if len(rest) == 0 && !c.NoBuild && noGo == nil {
		fmt.Fprintf(progress, "the control plane lacks %s: building it from source once; later clones start at once\n", strings.Join(missing, ", "))
		logf := func(format string, args ...any) {
			fmt.Fprintf(progress, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
		}
		if err := local.BuildControlPlane(ctx, builds, logf); err != nil {
			return exit.Infraf("local up: %w", err)
		}
		if missing = c.missingTools(); len(missing) == 0 {
			return nil
		}
	}
	hint := "install them with make tools (.ci/tools.sh) in stepper's repository, which builds and caches them under ~/.cache/stepper"
	switch {
	case len(builds) > 0 && c.NoBuild:
		hint = "local up builds the control plane itself without --no-build; or " + hint
	case len(builds) > 0 && noGo != nil:
		hint = "with Go on PATH local up builds the control plane itself; or " + hint
	}
	if !c.platform().SkipKube {
		hint += ", or use a cluster of your own with --kubeconfig FILE, or start no cluster with --without kube"
	}
	where := "~/.cache/stepper/bin"
	if cache, err := local.CacheDir(); err == nil {
		where = filepath.Join(cache, "bin")
	}
	return exit.Usagef("local up: %s not found in %s or PATH: %s", strings.Join(missing, ", "), where, hint)
}

// missingTools are the clone's tools not found.
func (c localClone) missingTools() []string {
	var missing []string
	for _, tool := range c.platform().Tools() {
		if _, err := local.Tool(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	return missing
}

// LocalServeCmd is the clone's serve process.
type LocalServeCmd struct {
	localClone
	Dir string `required:"" placeholder:"DIR" env:"-" help:"The clone's directory."`
}

// Run serves until interrupted.
func (c *LocalServeCmd) Run(ctx context.Context) error {
	opts := local.ServeOptions{Kubeconfig: c.Kubeconfig, Platform: c.platform()}
	if _, err := local.Tool("docker-registry"); err != nil && !slices.Contains(c.Without, "distribution") {
		fmt.Println("docker-registry is not installed: only the registry with the referrers API runs")
	}
	if !c.Bare {
		clone := c.cloneOptions(c.Dir)
		opts.Seed = func(ctx context.Context, p *local.Platform, logf func(string, ...any)) (*local.Clone, error) {
			return local.Seed(ctx, p, clone, logf)
		}
	}
	return local.Serve(ctx, c.Dir, opts)
}

// LocalStatusCmd is `stepper local status`.
type LocalStatusCmd struct {
	Dir string `placeholder:"DIR" env:"-" help:"The clone's directory (default ~/.cache/stepper/local)."`
}

// Help is the long help of `stepper local status`.
func (LocalStatusCmd) Help() string {
	return `Shows whether the local clone runs, what it runs and where, and asks each
part whether it answers: the registries, the git server, the chart
repository and the Kubernetes API. It lists the platform's routes the clone
lands as commits. Exit 1 when the clone is not running or a part does not
answer.

Examples:

    stepper local status
    stepper local status -o json
`
}

// Run reports the clone.
func (c *LocalStatusCmd) Run(ctx context.Context, rt *Runtime) error {
	dir, err := localDir(c.Dir)
	if err != nil {
		return err
	}
	s, err := local.ReadState(dir)
	if err != nil {
		return exit.Mark(exit.Failed, err)
	}
	if !s.Alive(dir) {
		return exit.Failedf("local status: no local clone runs in %s; start one with stepper local up", dir)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	checks := local.Health(ctx, s)
	var down []string
	for _, ch := range checks {
		if !ch.OK {
			down = append(down, ch.Part)
		}
	}
	if rt.Globals.Output == "json" {
		if err := printJSON(rt, struct {
			*local.State
			Health []local.Check `json:"health"`
		}{s, checks}); err != nil {
			return err
		}
	} else if err := writeLocalState(rt.Stdout, s, checks); err != nil {
		return err
	}
	if len(down) > 0 {
		return exit.Failedf("local status: %s of the clone in %s do not answer; its log is %s", strings.Join(down, ", "), dir, local.LogPath(dir))
	}
	return nil
}

// LocalDownCmd is `stepper local down`.
type LocalDownCmd struct {
	Dir string `placeholder:"DIR" env:"-" help:"The clone's directory (default ~/.cache/stepper/local)."`
}

// Help is the long help of `stepper local down`.
func (LocalDownCmd) Help() string {
	return `Stops the local clone and removes its directory: the registry's images,
the repositories, the keys, the cluster's data, stepper.yaml and the logs.
Nothing to do when it is not running.

Examples:

    stepper local down
    stepper local down --dir /tmp/clone
`
}

// Run stops the clone.
func (c *LocalDownCmd) Run(rt *Runtime) error {
	dir, err := localDir(c.Dir)
	if err != nil {
		return err
	}
	running, err := local.Down(dir)
	if err != nil {
		if errors.As(err, new(local.ErrNotClone)) {
			return exit.Mark(exit.Usage, err)
		}
		return exit.Mark(exit.Infra, err)
	}
	if running {
		fmt.Fprintf(rt.Stdout, "the local clone stopped; %s removed\n", dir)
	} else {
		fmt.Fprintf(rt.Stdout, "no local clone was running; %s removed\n", dir)
	}
	return nil
}

// writeLocalState prints the clone as a terminal reads it.
func writeLocalState(w io.Writer, s *local.State, checks []local.Check) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "local clone\t%s (pid %d, since %s)\n", s.Dir, s.PID, s.Started.Local().Format(time.DateTime))
	if c := s.Clone; c != nil {
		fmt.Fprintf(tw, "platform\t%s, chain %s, apps %s\n", c.Platform, c.Chain, strings.Join(c.Apps, ", "))
		fmt.Fprintf(tw, "stepper.yaml\t%s\n", c.Config)
		fmt.Fprintf(tw, "base image\t%s\n", c.BaseImage)
		fmt.Fprintf(tw, "signing key\t%s\n", c.PublicKey)
		if c.Automation != "" {
			fmt.Fprintf(tw, "automation\t%s\n", c.Automation)
		}
	}
	fmt.Fprintln(tw)
	if checks == nil {
		checks = local.Parts(s)
	}
	fmt.Fprintln(tw, "PART\tWHERE\tHEALTH")
	for _, ch := range checks {
		health := ch.Detail
		if health == "" {
			health = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", ch.Part, ch.Where, health)
	}
	if c := s.Clone; c != nil && len(c.Routes) > 0 {
		fmt.Fprintln(tw)
		fmt.Fprintln(tw, "ENV\tTHE PLATFORM LANDS BY\tTHE CLONE LANDS BY")
		for _, r := range c.Routes {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Env, r.Platform, r.Local)
		}
	}
	fmt.Fprintln(tw)
	fmt.Fprintf(tw, "use it:\tsource %s\n", local.EnvPath(s.Dir))
	return tw.Flush()
}
