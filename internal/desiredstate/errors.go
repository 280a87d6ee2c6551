package desiredstate

import (
	"errors"
	"fmt"
)

// Error is a problem in a desired-state file, with where it is and what to
// do about it, so a CI log points the user straight at the line to fix.
type Error struct {
	File   string
	Line   int // 1-based; 0 when unknown
	Column int // 1-based; 0 when unknown
	Msg    string
	Hint   string // what to do; may be empty
	Err    error  // underlying cause; may be nil
}

func (e *Error) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d:%d", e.File, e.Line, max(e.Column, 1))
	}
	msg := loc + ": " + e.Msg
	if e.Hint != "" {
		msg += " (" + e.Hint + ")"
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// ErrAppNotFound is wrapped by errors about an app that is not in a document.
var ErrAppNotFound = errors.New("app not found")

func errorAt(p Pos, hint, format string, args ...any) *Error {
	return &Error{File: p.File, Line: p.Line, Column: p.Column, Msg: fmt.Sprintf(format, args...), Hint: hint}
}
