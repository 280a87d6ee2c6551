package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The command line `make demo` writes parses, with CHAIN and PLATFORM
// unset as the README's first command leaves them, and set.
func TestMakeDemoCommandLine(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip(err)
	}
	root, err := filepath.Abs(filepath.Join("..", "..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		env             []string
		platform, chain string
	}{
		{nil, "ehealth", ""},
		{[]string{"CHAIN=vendor"}, "ehealth", "vendor"},
		{[]string{"PLATFORM=shop"}, "shop", ""},
	} {
		cmd := exec.Command("make", "-n", "-s", "demo")
		cmd.Dir = root
		cmd.Env = append(withoutMakeVars(os.Environ()), tc.env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("make -n demo %v: %v\n%s", tc.env, err, out)
		}
		var args []string
		for _, line := range strings.Split(string(out), "\n") {
			if _, after, ok := strings.Cut(line, "./internal/demo/cmd/demo"); ok {
				args = strings.Fields(after)
			}
		}
		if args == nil {
			t.Fatalf("make -n demo %v runs no ./internal/demo/cmd/demo:\n%s", tc.env, out)
		}
		f, err := parseFlags(args)
		if err != nil {
			t.Fatalf("make demo %v: the demo refuses %q: %v", tc.env, args, err)
		}
		if f.platform != tc.platform || f.chain != tc.chain {
			t.Errorf("make demo %v: platform %q chain %q, want %q %q", tc.env, f.platform, f.chain, tc.platform, tc.chain)
		}
	}
}

// withoutMakeVars drops the variables make demo reads, so that the
// caller's own do not decide the case.
func withoutMakeVars(env []string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "CHAIN=") && !strings.HasPrefix(kv, "PLATFORM=") && !strings.HasPrefix(kv, "MAKEFLAGS=") && !strings.HasPrefix(kv, "MAKELEVEL=") {
			out = append(out, kv)
		}
	}
	return out
}
