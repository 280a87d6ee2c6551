package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/stepper-cd/stepper/internal/testenv"
)

// serve runs the platform in the foreground, publishes its state once it is
// ready and tears everything down on SIGINT or SIGTERM.
func serve(stateDir string, opts testenv.Options) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	startCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	began := time.Now()
	p, err := testenv.Start(startCtx, dataDir(stateDir), opts)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	defer p.Stop()
	defer removeState(stateDir)
	if err := writeState(stateDir, p); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	fmt.Printf("platform ready in %s; environment in %s\n", time.Since(began).Round(100*time.Millisecond), envPath(stateDir))
	<-ctx.Done()
	fmt.Println("platform stopping")
	return nil
}
