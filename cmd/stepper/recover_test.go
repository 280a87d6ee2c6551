package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestRecoverMainPanicWithoutPrintingIt(t *testing.T) {
	var stderr bytes.Buffer
	code := recoverMain(&stderr, func() int { panic("token glpat-unmasked") })
	if code != 3 {
		t.Errorf("exit code = %d, want 3", code)
	}
	if strings.Contains(stderr.String(), "glpat-unmasked") || !strings.Contains(stderr.String(), "internal error") {
		t.Errorf("stderr = %q, want an internal error without the panic value", stderr.String())
	}
}

func TestRecoverMainPassesExitCode(t *testing.T) {
	if code := recoverMain(&bytes.Buffer{}, func() int { return 2 }); code != 2 {
		t.Errorf("exit code = %d, want 2", code)
	}
}
