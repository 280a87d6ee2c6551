package local

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// process is one child component: its own process group, its output in a
// log file, and a channel closed when it exits.
type process struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error
}

// startProcess runs bin with args, writing stdout and stderr to
// <logDir>/<name>.log. The process gets its own group so Stop reaches its
// children too, and it is killed when this process dies.
func startProcess(name, logDir, bin string, args []string, env []string) (*process, error) {
	logPath := filepath.Join(logDir, name+".log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("start %s: open log: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = childProcAttr()
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// pid is the process id, which is also its process group id.
func (p *process) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop asks the process group to terminate and kills it after a short grace
// period. It is safe to call more than once.
func (p *process) Stop() {
	if p == nil || p.exited() {
		return
	}
	_ = syscall.Kill(-p.pid(), syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
		<-p.done
	}
}

// failure wraps err with the component's name and the tail of its log, which
// is where the reason for a failed start usually is.
func (p *process) failure(err error) error {
	msg := fmt.Sprintf("%s: %v", p.name, err)
	if p.exited() {
		msg = fmt.Sprintf("%s (exited: %v)", msg, p.waitErr)
	}
	return fmt.Errorf("%s\n%s", msg, p.logTail(25))
}

// logTail is the last n lines of the process's log, under a header naming it.
func (p *process) logTail(n int) string {
	return fmt.Sprintf("--- last lines of %s ---\n%s", p.logPath, tailFile(p.logPath, n))
}

// waitReady polls ready until it returns nil, the process exits or ctx ends.
func (p *process) waitReady(ctx context.Context, ready func(context.Context) error) error {
	return waitUntil(ctx, ready, p)
}

// waitUntil polls ready until it returns nil or ctx ends, failing early when
// one of the watched processes exits. A timeout is blamed on the first
// watched process, whose log tail goes into the error.
func waitUntil(ctx context.Context, ready func(context.Context) error, blame *process, watched ...*process) error {
	watched = append([]*process{blame}, watched...)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		err := ready(ctx)
		if err == nil {
			return nil
		}
		for _, p := range watched {
			if p.exited() {
				return p.failure(fmt.Errorf("exited before the platform was ready (waiting for: %v)", err))
			}
		}
		select {
		case <-ctx.Done():
			return blame.failure(fmt.Errorf("not ready: %w (last check: %v)", ctx.Err(), err))
		case <-tick.C:
		}
	}
}

// tailFile returns up to the last n lines of a file.
func tailFile(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	defer f.Close()
	const window = 16 << 10
	if info, err := f.Stat(); err == nil && info.Size() > window {
		_, _ = f.Seek(-window, io.SeekEnd)
	}
	data, _ := io.ReadAll(f)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// freePorts returns n distinct ports on 127.0.0.1 that are free and that
// really reach their listener. A port can be free and still unusable: a
// container engine's leftover port forward (an iptables DNAT rule for
// 127.0.0.1:<port>) sends every connection to it elsewhere, which a
// component on that port shows only as "connection refused" from its
// clients, seconds later. Such ports are skipped.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for tries := 0; len(ports) < n; tries++ {
		if tries == n+20 {
			return nil, fmt.Errorf("find a free port: %d ports on 127.0.0.1 did not reach their own listener; look for port forwards left behind (iptables -t nat -S)", tries-len(ports))
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		// Held open until all are chosen, so the kernel cannot hand one out twice.
		defer l.Close()
		if reachesListener(l.(*net.TCPListener)) {
			ports = append(ports, l.Addr().(*net.TCPAddr).Port)
		}
	}
	return ports, nil
}

// reachesListener reports whether a connection to l's address arrives at l.
func reachesListener(l *net.TCPListener) bool {
	conn, err := net.DialTimeout("tcp", l.Addr().String(), time.Second)
	if err != nil {
		return false
	}
	defer conn.Close()
	_ = l.SetDeadline(time.Now().Add(time.Second))
	accepted, err := l.Accept()
	if err != nil {
		return false
	}
	defer accepted.Close()
	// The connection accepted is the one dialled, not another client's.
	return accepted.RemoteAddr().String() == conn.LocalAddr().String()
}

// httpOK is a readiness check: GET url answers 200 OK.
func httpOK(client *http.Client, url string) func(context.Context) error {
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
		}
		return nil
	}
}

// childEnv is this process's environment without the variables that would
// reconfigure a component behind our back. A drop entry ending in "_" is a
// prefix ("REGISTRY_"); any other is an exact name ("HOME").
func childEnv(drop ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.ContainsFunc(drop, func(d string) bool {
			return name == d || strings.HasSuffix(d, "_") && strings.HasPrefix(name, d)
		}) {
			env = append(env, kv)
		}
	}
	return env
}

// stopper is anything with a nil-safe Stop.
type stopper interface{ Stop() }

// stopAll stops components concurrently; every Stop in this package accepts
// a nil receiver, so half-started platforms can be torn down the same way.
func stopAll(stoppers ...stopper) {
	var wg sync.WaitGroup
	for _, s := range stoppers {
		if s == nil {
			continue
		}
		wg.Go(s.Stop)
	}
	wg.Wait()
}

// goFunc runs f in the background; the returned function waits for its
// result.
func goFunc[T any](f func() (T, error)) func() (T, error) {
	var (
		v    T
		err  error
		done = make(chan struct{})
	)
	go func() {
		defer close(done)
		v, err = f()
	}()
	return func() (T, error) {
		<-done
		return v, err
	}
}
