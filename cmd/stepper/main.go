// Command stepper carries a container release from a laptop to production on
// a GitOps-driven Kubernetes platform. See README.md.
package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/stepper-cd/stepper/internal/cli"
)

func main() {
	os.Exit(recoverMain(os.Stderr, func() int {
		ctx, stop := cli.NotifyContext(context.Background(), os.Exit)
		defer stop()
		return cli.Main(ctx, cli.IO{Args: os.Args[1:], Environ: os.Environ(), Stdout: os.Stdout, Stderr: os.Stderr})
	}))
}

// recoverMain is the last line of defence: cli.Main recovers and masks panics itself,
// so one that reaches here happened outside it. Its value is not printed,
// because no secret set exists here to mask it with.
func recoverMain(stderr io.Writer, main func() int) (code int) {
	defer func() {
		if recover() != nil {
			fmt.Fprintln(stderr, "stepper: internal error: panic outside the command (a bug in stepper; please report it)")
			code = 3
		}
	}()
	return main()
}
