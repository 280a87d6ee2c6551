//go:build unix

package config_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stepper-cd/stepper/internal/config"
)

// TestFIFONoWriterHonoursCancel: a named pipe with no writer blocks open(2)
// forever; Load must still return when its context ends (SIGTERM).
func TestFIFONoWriterHonoursCancel(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "stepper.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := config.Load(ctx, config.Options{Path: fifo, PathExplicit: true})
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Load = %v, want the context's error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Load blocked on a FIFO past its context")
	}
	// Unblock the abandoned reader so the test leaves no goroutine behind.
	if w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
		w.Close()
	}
}

func TestFIFOWithWriterIsRead(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "stepper.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	go func() {
		if w, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
			w.WriteString("profile: ehealth\nchain: vendor\n")
			w.Close()
		}
	}()
	c, err := config.Load(context.Background(), config.Options{Path: fifo, PathExplicit: true})
	if err != nil || c.ChainName != "vendor" {
		t.Fatalf("Load = %v, %v", c, err)
	}
}
