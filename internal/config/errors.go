package config

import (
	"strconv"
	"strings"

	"github.com/stepper-cd/stepper/internal/exit"
)

// Error is a problem with the configuration. It says what is wrong, where
// (the file and line, or the variable or flag that set the value, and the key
// path) and what to do about it. Load and Check return it marked as an
// exit.Usage error.
type Error struct {
	File    string // "stepper.yaml", "profile ehealth", "env STEPPER_X" or "--set k=v"
	Line    int    // 1-based; 0 when the source has no lines
	Column  int    // 1-based; 0 when unknown
	Path    string // key path, e.g. environments[preprod].land.via
	Problem string // what is wrong
	Hint    string // what is allowed, or what to do
}

func (e *Error) Error() string {
	var b strings.Builder
	if loc := e.location(); loc != "" {
		b.WriteString(loc)
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Problem)
	if e.Hint != "" {
		b.WriteString("; ")
		b.WriteString(e.Hint)
	}
	return b.String()
}

func (e *Error) location() string {
	if e.File == "" || e.Line <= 0 {
		return e.File
	}
	loc := e.File + ":" + strconv.Itoa(e.Line)
	if e.Column > 0 {
		loc += ":" + strconv.Itoa(e.Column)
	}
	return loc
}

// fail returns a configuration error at o for the key path p, marked so the
// CLI exits with the usage code.
func fail(o origin, p path, problem, hint string) error {
	e := &Error{Path: p.String(), Problem: problem, Hint: hint}
	e.File, e.Line, e.Column = o.where()
	return exit.Mark(exit.Usage, e)
}
