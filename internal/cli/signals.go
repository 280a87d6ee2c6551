package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// StopBudget is how long a step has to wind down after SIGINT or SIGTERM.
// The platforms stepper runs on kill a process 10 s after SIGTERM; stopping a
// little earlier leaves time to write the result file.
const StopBudget = 9 * time.Second

// signalCause is the cancellation cause of a context ended by a signal.
type signalCause struct{ sig os.Signal }

func (s signalCause) Error() string { return "interrupted by " + signalName(s.sig) }

func (s signalCause) code() int {
	if s.sig == syscall.SIGTERM {
		return 143
	}
	return 130
}

func signalName(sig os.Signal) string {
	if sig == syscall.SIGTERM {
		return "SIGTERM"
	}
	return "SIGINT"
}

// NotifyContext returns a context cancelled by the first SIGINT or SIGTERM,
// with the signal as its cause. A second signal, or the step still running
// StopBudget after the first, calls exitFn with the signal's exit code: the
// process must not outlive the platform's kill timeout. stop releases the
// signal handlers.
func NotifyContext(parent context.Context, exitFn func(code int)) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(parent)
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		var first signalCause
		select {
		case sig := <-ch:
			first = signalCause{sig}
			cancel(first)
		case <-done:
			return
		}
		timer := time.NewTimer(StopBudget)
		defer timer.Stop()
		select {
		case sig := <-ch:
			fmt.Fprintf(os.Stderr, "stepper: second %s, exiting now\n", signalName(sig))
			exitFn(signalCause{sig}.code())
		case <-timer.C:
			fmt.Fprintf(os.Stderr, "stepper: still running %s after %s, exiting\n", StopBudget, signalName(first.sig))
			exitFn(first.code())
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		close(done)
		cancel(nil)
	}
}
