package local

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestFreePortsAreDistinctAndListenable(t *testing.T) {
	ports, err := freePorts(5)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if seen[p] {
			t.Fatalf("port %d chosen twice: %v", p, ports)
		}
		seen[p] = true
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			t.Fatalf("port %d: %v", p, err)
		}
		l.Close()
	}
}

// A free port whose connections a leftover port forward sends elsewhere is
// not taken: CI once failed when a podman container's leaked DNAT rule for
// 127.0.0.1:41749 swallowed kube-apiserver's connections to etcd there.
// The rule here forwards one port this test holds to another listener.
func TestReachesListenerSeesAPortForward(t *testing.T) {
	iptables, err := exec.LookPath("iptables")
	if err != nil || os.Geteuid() != 0 {
		t.Skip("needs root and iptables")
	}
	hijacked, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hijacked.Close()
	elsewhere, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer elsewhere.Close()
	if !reachesListener(hijacked.(*net.TCPListener)) {
		t.Fatal("a plain listener is not reachable")
	}
	rule := []string{"OUTPUT", "-p", "tcp", "-d", "127.0.0.1", "--dport", strconv.Itoa(hijacked.Addr().(*net.TCPAddr).Port),
		"-m", "comment", "--comment", "stepper test " + t.Name(), "-j", "DNAT", "--to-destination", elsewhere.Addr().String()}
	if out, err := exec.Command(iptables, append([]string{"-t", "nat", "-I"}, rule...)...).CombinedOutput(); err != nil {
		t.Skipf("cannot add a nat rule here: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command(iptables, append([]string{"-t", "nat", "-D"}, rule...)...).CombinedOutput(); err != nil {
			t.Errorf("remove the test's nat rule: %v: %s", err, out)
		}
	})
	if reachesListener(hijacked.(*net.TCPListener)) {
		t.Error("a port forwarded elsewhere counts as reaching its listener")
	}
}

// When the API server never becomes ready because etcd does not answer, the
// error carries etcd's log as well as the API server's: the API server's
// says only that it could not reach etcd.
func TestStartKubeFailureShowsEtcdLog(t *testing.T) {
	bin := t.TempDir()
	for _, tool := range []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"} {
		path, err := Tool(tool)
		if err != nil {
			t.Skip(err)
		}
		if err := os.Symlink(path, filepath.Join(bin, tool)); err != nil {
			t.Fatal(err)
		}
	}
	// An etcd that runs but never listens.
	script := "#!/bin/sh\necho 'etcd stand-in: running, not listening'\nexec sleep 60\n"
	if err := os.WriteFile(filepath.Join(bin, "etcd"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("STEPPER_TOOLS_BIN", bin)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	k, err := StartKube(ctx, t.TempDir(), KubeOptions{})
	if err == nil {
		k.Stop()
		t.Fatal("kube started without etcd")
	}
	t.Log(err)
	for _, want := range []string{"kube-apiserver", "etcd.log", "etcd stand-in: running, not listening"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
}
