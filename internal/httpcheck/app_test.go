package httpcheck

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// buildApp builds testdata/smoke/app, the stand-in for a deployed service,
// into a temporary directory that lives as long as t.
func buildApp(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("these tests build testdata/smoke/app and need the go command: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "app")
	out, err := exec.Command(goBin, "build", "-o", bin, "../../testdata/smoke/app").CombinedOutput()
	if err != nil {
		t.Fatalf("go build testdata/smoke/app: %v\n%s", err, out)
	}
	return bin
}

// freePort is a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// appProcess is one running app. Stopping it at the end of the test checks
// that SIGTERM makes it exit 0.
type appProcess struct {
	url  string
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
}

// startApp runs bin on port with only the given environment, so variables of
// the test's own environment cannot change the app, and stops it when t ends.
func startApp(t *testing.T, bin string, port int, env ...string) *appProcess {
	t.Helper()
	a, err := launchApp(bin, port, env...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.stop(t) })
	return a
}

// launchApp is startApp for a goroutine other than the test's.
func launchApp(bin string, port int, env ...string) (*appProcess, error) {
	a := &appProcess{
		url:  appURL(port),
		cmd:  exec.Command(bin),
		out:  &lockedBuffer{},
		done: make(chan struct{}),
	}
	a.cmd.Env = append([]string{"PORT=" + strconv.Itoa(port)}, env...)
	a.cmd.Stdout, a.cmd.Stderr = a.out, a.out
	if err := a.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { _ = a.cmd.Wait(); close(a.done) }()
	return a, nil
}

// waitReady waits until the app answers /readyz.
func (a *appProcess) waitReady(t *testing.T) {
	t.Helper()
	for range 100 {
		select {
		case <-a.done:
			t.Fatalf("app exited at start (%v):\n%s", a.cmd.ProcessState, a.out)
		default:
		}
		if resp, err := http.Get(a.url + "/readyz"); err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("app not ready at %s:\n%s", a.url, a.out)
}

func (a *appProcess) stop(t *testing.T) {
	select {
	case <-a.done:
		return // exited by itself; a test that expects this checks the code
	default:
	}
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.done:
		if code := a.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("app exited %d on SIGTERM, want 0:\n%s", code, a.out)
		}
	case <-time.After(10 * time.Second):
		_ = a.cmd.Process.Kill()
		<-a.done
		t.Errorf("app ignored SIGTERM:\n%s", a.out)
	}
}

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// silentServer accepts connections and never answers, like an app stuck in
// a deadlock.
func silentServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return // closed at cleanup
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return "http://" + l.Addr().String()
}

// quick are options for checks that are meant to fail: they give up soon.
var quick = Options{UserAgent: "stepper/test", RequestTimeout: 2 * time.Second, Deadline: 600 * time.Millisecond, Interval: 100 * time.Millisecond}

// patient are options for checks that are meant to pass.
var patient = Options{UserAgent: "stepper/test", RequestTimeout: 2 * time.Second, Deadline: 30 * time.Second, Interval: 100 * time.Millisecond}

func runCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}
