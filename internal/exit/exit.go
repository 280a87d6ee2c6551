// Package exit classifies errors into the process exit codes stepper
// documents. Code anywhere may mark an error with its class; only the CLI edge
// turns the class into an exit status.
//
//	0   success
//	1   the step ran and what it checks failed (policy, smoke test, refused promotion)
//	2   usage or configuration error
//	3   infrastructure error (registry, cluster, git, GitLab or Jenkins)
//	130 interrupted by SIGINT, 143 by SIGTERM
package exit

import (
	"context"
	"errors"
	"fmt"
)

// Class is what kind of failure an error is.
type Class int

// The classes, numbered by the exit code they produce.
const (
	OK          Class = 0
	Failed      Class = 1
	Usage       Class = 2
	Infra       Class = 3
	Interrupted Class = 130
	Terminated  Class = 143
)

func (c Class) String() string {
	switch c {
	case OK:
		return "ok"
	case Failed:
		return "failed"
	case Usage:
		return "usage"
	case Infra:
		return "infrastructure"
	case Interrupted:
		return "interrupted"
	case Terminated:
		return "terminated"
	}
	return fmt.Sprintf("class(%d)", int(c))
}

type classified struct {
	class Class
	err   error
}

func (c *classified) Error() string { return c.err.Error() }
func (c *classified) Unwrap() error { return c.err }

// Mark returns err marked with class; nil stays nil. An outer mark wins over an
// inner one, so the layer that knows most about a failure decides.
func Mark(class Class, err error) error {
	if err == nil {
		return nil
	}
	return &classified{class: class, err: err}
}

// Usagef returns a usage or configuration error.
func Usagef(format string, args ...any) error { return Mark(Usage, fmt.Errorf(format, args...)) }

// Failedf returns an error for a check that ran and did not pass.
func Failedf(format string, args ...any) error { return Mark(Failed, fmt.Errorf(format, args...)) }

// Infraf returns an error for an outside system that failed or is unreachable.
func Infraf(format string, args ...any) error { return Mark(Infra, fmt.Errorf(format, args...)) }

// ClassOf reports the class of err. Unmarked errors are infrastructure errors
// unless they come from a cancelled context, which counts as an interruption.
func ClassOf(err error) Class {
	if err == nil {
		return OK
	}
	var c *classified
	if errors.As(err, &c) {
		return c.class
	}
	if errors.Is(err, context.Canceled) {
		return Interrupted
	}
	return Infra
}

// Code is the process exit status for err.
func Code(err error) int { return int(ClassOf(err)) }
