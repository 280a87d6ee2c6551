// Command platform runs the local test platform (see package testenv) in the
// background for a developer or the demo:
//
//	platform up [-skip kube,git,...]   start it detached; return once it is ready
//	platform status                    show whether it runs and its environment
//	platform down                      stop it (does nothing when it is not running)
//	platform serve [-skip ...]         run it in the foreground until interrupted
//
// `up` writes ~/.cache/stepper/platform/state.json and an `env` file of
// export lines (STEPPER_TEST_REGISTRY, STEPPER_TEST_REFERRERS_REGISTRY,
// STEPPER_TEST_GIT_URL, STEPPER_TEST_GIT_DIR, KUBECONFIG, ...) for
// `source`. Each `up` starts with fresh data; logs stay until the next `up`.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/stepper-cd/stepper/internal/testenv"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "platform:", err)
		os.Exit(1)
	}
}

const usage = `usage: platform up|down|status|serve [flags]

  up      start the platform in the background and wait until it is ready
  down    stop it; nothing to do when it is not running
  status  show whether it runs, and its environment
  serve   run it in the foreground until interrupted (what up starts)

flags:
`

func run(args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New(usage + "  (none given)")
	}
	cache, err := testenv.CacheDir()
	if err != nil {
		return err
	}
	flags := flag.NewFlagSet("platform "+args[0], flag.ContinueOnError)
	stateDir := flags.String("state", filepath.Join(cache, "platform"), "directory for state.json, the env file, logs and data")
	skip := flags.String("skip", "", "comma-separated components to leave out: registry, referrers-registry, git, kube")
	flags.Usage = func() {
		fmt.Fprint(flags.Output(), usage)
		flags.PrintDefaults()
	}
	if err := flags.Parse(args[1:]); err != nil {
		return err
	}
	opts, err := parseSkip(*skip)
	if err != nil {
		return err
	}
	switch args[0] {
	case "up":
		return up(*stateDir, *skip, out)
	case "down":
		return down(*stateDir, out)
	case "status":
		return status(*stateDir, out)
	case "serve":
		return serve(*stateDir, opts)
	default:
		return fmt.Errorf("unknown command %q\n%s", args[0], usage)
	}
}

func parseSkip(list string) (testenv.Options, error) {
	var opts testenv.Options
	if list == "" {
		return opts, nil
	}
	for _, name := range strings.Split(list, ",") {
		switch strings.TrimSpace(name) {
		case "registry":
			opts.SkipRegistry = true
		case "referrers-registry":
			opts.SkipReferrersRegistry = true
		case "git":
			opts.SkipGit = true
		case "kube":
			opts.SkipKube = true
		default:
			return opts, fmt.Errorf("-skip: unknown component %q; want registry, referrers-registry, git or kube", name)
		}
	}
	return opts, nil
}
