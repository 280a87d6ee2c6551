// Command referrers-registry serves an OCI registry with the referrers API
// (GET /v2/<name>/referrers/<digest>) on a local address. It is the test
// platform's stand-in for registries such as Harbor 2.8+, Zot or
// distribution 3; blobs may live on disk, manifests live in memory.
//
//	referrers-registry -addr 127.0.0.1:5001 [-blobs DIR]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "referrers-registry:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:5001", "address to listen on")
	blobs := flag.String("blobs", "", "directory for blobs (default: in memory)")
	flag.Parse()

	opts := []registry.Option{
		registry.WithReferrersSupport(true),
		registry.Logger(log.New(os.Stderr, "", log.LstdFlags)),
	}
	if *blobs != "" {
		if err := os.MkdirAll(*blobs, 0o755); err != nil {
			return fmt.Errorf("blob directory: %w", err)
		}
		opts = append(opts, registry.WithBlobHandler(registry.NewDiskBlobHandler(*blobs)))
	}
	srv := &http.Server{
		Addr:              *addr,
		Handler:           registry.New(opts...),
		ReadHeaderTimeout: 10 * time.Second,
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()

	log.Printf("serving on %s with the referrers API", *addr)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve %s: %w", *addr, err)
	}
	return nil
}
