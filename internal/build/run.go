package build

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/logging"
)

// tailLines is how much of a failed tool's output an error carries.
const tailLines = 20

// run runs a builder tool, streaming its output to the logger at debug
// level. A failure carries the output's last lines, since the reason is
// almost always there; it is a failed build (exit 1), because a Dockerfile
// that does not build is the caller's to fix.
// what names the command in messages, such as "buildah bud".
func (b *Builders) run(ctx context.Context, what, dir string, env []string, argv ...string) error {
	log := logging.From(ctx)
	out := &lineLog{log: func(line string) { log.Debug().Str("tool", argv[0]).Msg(line) }}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = append(b.toolEnviron(), env...)
	cmd.Stdout, cmd.Stderr = out, out
	// The tool's own children (buildah's chroot, docker's plugins) go down
	// with it when the context ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	log.Debug().Strs("argv", argv).Msg("run builder tool")
	err := cmd.Run()
	out.flush()
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", what, ctx.Err())
	}
	tail := out.tail()
	if tail == "" {
		return exit.Failedf("%s: %v", what, err)
	}
	return exit.Failedf("%s: %v; its last output:\n%s", what, err, tail)
}

// lineLog passes each output line to log and keeps the last tailLines.
type lineLog struct {
	log     func(string)
	mu      sync.Mutex
	partial []byte
	last    []string
}

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.line(string(l.partial[:i]))
		l.partial = l.partial[i+1:]
	}
	return len(p), nil
}

func (l *lineLog) line(s string) {
	s = strings.TrimRight(s, "\r")
	l.log(s)
	l.last = append(l.last, s)
	if len(l.last) > tailLines {
		l.last = l.last[len(l.last)-tailLines:]
	}
}

func (l *lineLog) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.partial) > 0 {
		l.line(string(l.partial))
		l.partial = nil
	}
}

func (l *lineLog) tail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.TrimSpace(strings.Join(l.last, "\n"))
}
