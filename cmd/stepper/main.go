// Command stepper carries a container release from a laptop to production on
// a GitOps-driven Kubernetes platform. See README.md.
package main

import (
	"context"
	"os"

	"github.com/stepper-cd/stepper/internal/cli"
)

func main() {
	ctx, stop := cli.NotifyContext(context.Background(), os.Exit)
	code := cli.Main(ctx, cli.IO{Args: os.Args[1:], Environ: os.Environ(), Stdout: os.Stdout, Stderr: os.Stderr})
	stop()
	os.Exit(code)
}
