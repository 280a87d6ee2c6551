package runtimecheck

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/stepper-cd/stepper/internal/exit"
)

// pollInterval is the pause between health requests.
const pollInterval = 200 * time.Millisecond

// checkHealth polls the health endpoint until it answers 2xx, the
// container exits or StartTimeout has passed since the start.
func (c *container) checkHealth(ctx context.Context, o Options) (Check, error) {
	check := Check{Name: CheckHealth}
	client := &http.Client{
		// Never through a proxy: the container is on this machine.
		Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
		Timeout:   2 * time.Second,
	}
	deadline := c.started.Add(o.StartTimeout)
	last := "no answer"
	for {
		exited, err := c.hasExited(ctx)
		if err != nil {
			return check, err
		}
		if exited {
			check.Duration = time.Since(c.started)
			check.Message = fmt.Sprintf("the container exited with code %s after %s, before GET %s answered%s",
				c.exitCode, seconds(check.Duration), o.HealthPath, c.lastOutput(ctx))
			return check, nil
		}
		if c.hostPort != "" {
			status, err := get(ctx, client, "http://127.0.0.1:"+c.hostPort+o.HealthPath)
			switch {
			case err != nil && ctx.Err() != nil:
				return check, ctx.Err()
			case err != nil:
				last = err.Error()
			case status >= 200 && status < 300:
				check.Passed, check.Duration = true, time.Since(c.started)
				check.Message = fmt.Sprintf("GET %s answered %d %s after the start", o.HealthPath, status, seconds(check.Duration))
				return check, nil
			default:
				last = fmt.Sprintf("%d %s", status, http.StatusText(status))
			}
		}
		if time.Now().After(deadline) {
			check.Duration = time.Since(c.started)
			check.Message = fmt.Sprintf("GET %s did not answer 2xx within %s on container port %d (last: %s); serve it on $PORT%s",
				o.HealthPath, seconds(o.StartTimeout), o.Port, last, c.lastOutput(ctx))
			return check, nil
		}
		select {
		case <-ctx.Done():
			return check, ctx.Err()
		case <-c.exited:
		case <-time.After(pollInterval):
		}
	}
}

func get(ctx context.Context, client *http.Client, u string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		var urlErr *url.Error
		if errors.As(err, &urlErr) {
			err = urlErr.Err // the URL is in the message already
		}
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// checkNonRoot reads the uid of the container's main process.
func (c *container) checkNonRoot(ctx context.Context, _ Options) (Check, error) {
	check := Check{Name: CheckNonRoot}
	start := time.Now()
	if exited, err := c.hasExited(ctx); err != nil || exited {
		check.Message = fmt.Sprintf("not checked: the container exited with code %s", c.exitCode)
		return check, err
	}
	uid, err := c.uid(ctx)
	check.Duration = time.Since(start)
	if err != nil {
		return check, err
	}
	if uid == 0 {
		check.Message = "the process runs as uid 0 (root), which the platform refuses: set USER to a numeric non-root uid, like 65532, in the image"
		return check, nil
	}
	check.Passed = true
	check.Message = fmt.Sprintf("the process runs as uid %d", uid)
	return check, nil
}

// uid is the container's main process's uid as the container sees it:
// from /proc when the engine runs on this machine (podman, or a local
// docker), else from the engine's `top`.
func (c *container) uid(ctx context.Context) (int, error) {
	state, err := c.inspect(ctx)
	if err != nil {
		return 0, err
	}
	uid, procErr := procUID(state.State.Pid, state.ID)
	if procErr == nil {
		return uid, nil
	}
	uid, topErr := c.topUID(ctx)
	if topErr != nil {
		return 0, exit.Infraf("runtime check: read the uid of %s: %v; %v", c.name, procErr, topErr)
	}
	return uid, nil
}

// procUID reads pid's uid from /proc, after making sure pid is the
// container's: a remote engine's pid numbers are another machine's. A
// process whose real or effective uid is 0 counts as root.
func procUID(pid int, containerID string) (int, error) {
	if pid <= 0 || containerID == "" {
		return 0, fmt.Errorf("no process id")
	}
	dir := "/proc/" + strconv.Itoa(pid)
	cgroup, err := os.ReadFile(dir + "/cgroup")
	if err != nil {
		return 0, err
	}
	if !strings.Contains(string(cgroup), containerID) {
		return 0, fmt.Errorf("process %d here is not the container's", pid)
	}
	status, err := os.ReadFile(dir + "/status")
	if err != nil {
		return 0, err
	}
	uid := -1
	for line := range strings.Lines(string(status)) {
		fields := strings.Fields(line)
		if len(fields) >= 3 && fields[0] == "Uid:" {
			real, err1 := strconv.Atoi(fields[1])
			effective, err2 := strconv.Atoi(fields[2])
			if err1 != nil || err2 != nil {
				return 0, fmt.Errorf("%s/status: bad Uid line %q", dir, line)
			}
			uid = min(real, effective)
		}
	}
	if uid < 0 {
		return 0, fmt.Errorf("%s/status: no Uid line", dir)
	}
	uidMap, err := os.ReadFile(dir + "/uid_map")
	if err != nil {
		return 0, err
	}
	return insideUID(uid, string(uidMap))
}

// insideUID maps a uid seen from here to the uid inside the container's
// user namespace (rootless podman maps container root to the user).
func insideUID(outside int, uidMap string) (int, error) {
	for line := range strings.Lines(uidMap) {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		in, err1 := strconv.Atoi(f[0])
		out, err2 := strconv.Atoi(f[1])
		n, err3 := strconv.Atoi(f[2])
		if err1 == nil && err2 == nil && err3 == nil && outside >= out && outside-out < n {
			return in + outside - out, nil
		}
	}
	return 0, fmt.Errorf("uid %d is not mapped into the container", outside)
}

// topUID asks the engine for the uid of the container's first process.
func (c *container) topUID(ctx context.Context) (int, error) {
	args := []string{"top", c.name, "uid"}
	if c.e.Kind == Docker {
		args = []string{"top", c.name, "-o", "pid,uid"} // docker top needs the pid column
	}
	out, err := c.e.run(ctx, args...)
	if err != nil {
		return 0, err
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 2 {
		return 0, fmt.Errorf("%s top: no process listed", c.e.Kind)
	}
	header, first := strings.Fields(lines[0]), strings.Fields(lines[1])
	for i, h := range header {
		if h == "UID" && i < len(first) {
			return strconv.Atoi(first[i])
		}
	}
	return 0, fmt.Errorf("%s top: no UID column in %q", c.e.Kind, lines[0])
}

// checkSIGTERM sends SIGTERM, as the platform does to stop a pod, and
// waits KillDeadline for the container to exit.
func (c *container) checkSIGTERM(ctx context.Context, o Options) (Check, error) {
	check := Check{Name: CheckSIGTERM}
	if exited, err := c.hasExited(ctx); err != nil || exited {
		check.Message = fmt.Sprintf("not checked: the container had exited already, with code %s", c.exitCode)
		return check, err
	}
	start := time.Now()
	deadline := time.NewTimer(o.KillDeadline)
	defer deadline.Stop()
	if _, err := c.e.run(ctx, "kill", "--signal", "TERM", c.name); err != nil {
		// The process may have ended on its own just before.
		if exited, _ := c.hasExited(ctx); !exited {
			return check, infraError(ctx, fmt.Errorf("runtime check: send SIGTERM: %w", err))
		}
	}
	select {
	case <-ctx.Done():
		return check, ctx.Err()
	case <-c.exited:
		check.Duration = time.Since(start)
		if _, err := c.hasExited(ctx); err != nil {
			return check, err
		}
		check.Passed = true
		check.Message = fmt.Sprintf("exited with code %s %s after SIGTERM (deadline %s)", c.exitCode, seconds(check.Duration), seconds(o.KillDeadline))
	case <-deadline.C:
		check.Duration = time.Since(start)
		check.Message = fmt.Sprintf("still running %s after SIGTERM, when the platform kills it: handle SIGTERM by finishing in-flight requests and exiting", seconds(o.KillDeadline))
	}
	return check, nil
}

// lastOutput is the container's last log lines, as a message suffix.
func (c *container) lastOutput(ctx context.Context) string {
	if logs := c.logs(ctx); logs != "" {
		return "; its last output:\n" + logs
	}
	return ""
}
