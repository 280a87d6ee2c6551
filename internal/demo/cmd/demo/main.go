// Command demo runs stepper's whole flow on the sample app against a local
// clone of a platform (see package demo); `make demo` runs it:
//
//	demo [-bin bin/stepper] [-dir bin/demo] [-platform ehealth|shop|gov] [-chain internal|vendor] [-keep]
//
// Run it from the repository's root. It exits 0 once every phase passed
// and its checks held.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/stepper-cd/stepper/internal/demo"
)

// flags are the demo's command line.
type flags struct {
	bin, dir, platform, chain string
	keep                      bool
}

// parseFlags reads the command line `make demo` writes (a test holds the
// two together: an empty CHAIN once left -chain without its value).
func parseFlags(args []string) (flags, error) {
	var f flags
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.StringVar(&f.bin, "bin", "bin/stepper", "the stepper binary")
	fs.StringVar(&f.dir, "dir", "bin/demo", "where the demo works; the status page stays there")
	fs.StringVar(&f.platform, "platform", "ehealth", "the platform cloned: ehealth, shop (Flux, stag-*/master-* tags) or gov (helmfile, merge requests)")
	fs.StringVar(&f.chain, "chain", "", "the eHealth chain: internal (inttest first, the default) or vendor (devenvcgi first)")
	fs.BoolVar(&f.keep, "keep", false, "leave the local clone running at the end (its GitLab and Jenkins stop with the demo)")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	if fs.NArg() > 0 {
		err := fmt.Errorf("demo takes no arguments, only flags: %q", fs.Args())
		fmt.Fprintln(fs.Output(), err)
		return f, err
	}
	return f, nil
}

func main() {
	f, err := parseFlags(os.Args[1:])
	if err != nil {
		os.Exit(2) // the flag set has said why
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			fmt.Fprintln(os.Stderr, "demo:", err)
			os.Exit(2)
		}
		return a
	}
	if _, err := os.Stat("testdata/smoke/app"); err != nil {
		fmt.Fprintln(os.Stderr, "demo: run it from the repository's root (make demo): testdata/smoke/app is not here")
		os.Exit(2)
	}
	// A clone an interrupted demo left running goes first.
	_ = exec.Command(abs(f.bin), "local", "down", "--dir", filepath.Join(abs(f.dir), "clone")).Run()
	// Only what an earlier demo made there goes: -dir may name a folder
	// that holds other things too.
	for _, made := range []string{"clone", "work", "status.html"} {
		if err := os.RemoveAll(filepath.Join(abs(f.dir), made)); err != nil {
			fmt.Fprintln(os.Stderr, "demo:", err)
			os.Exit(1)
		}
	}
	_, err = demo.Run(ctx, demo.Options{Bin: abs(f.bin), Source: abs("."), Dir: abs(f.dir), Platform: f.platform, Chain: f.chain, Out: os.Stdout, Keep: f.keep})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
