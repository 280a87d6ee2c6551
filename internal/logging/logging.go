// Package logging builds the zerolog logger every step writes to: a human
// console on a terminal, JSON lines everywhere else, with the project's fixed
// field names and every registered secret masked before a byte leaves.
package logging

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"

	"github.com/stepper-cd/stepper/internal/secret"
)

// Field names shared by every step, so log searches work across verbs.
const (
	Step     = "step"
	Env      = "env"
	App      = "app"
	Image    = "image"
	Digest   = "digest"
	Release  = "release"
	Duration = "duration" // milliseconds
)

// Formats accepted by New.
const (
	FormatAuto    = "auto"
	FormatConsole = "console"
	FormatJSON    = "json"
)

// Options say how to log.
type Options struct {
	Format  string // auto, console or json
	Level   string // trace, debug, info, warn, error
	Secrets *secret.Set
}

// New returns a logger writing to w. With format auto, w gets the console
// format when it is a terminal and JSON otherwise.
func New(w io.Writer, o Options) (zerolog.Logger, error) {
	level, err := zerolog.ParseLevel(o.Level)
	if err != nil || o.Level == "" {
		return zerolog.Nop(), fmt.Errorf("log level %q: use one of trace, debug, info, warn, error", o.Level)
	}
	// The mask sees every record twice on the console: as the JSON zerolog
	// wrote, before the console writer decodes and re-quotes it, and as the
	// text the console writer prints. Set.Add registers the escaped forms
	// each of those encodings gives a secret.
	mask := func(w io.Writer) io.Writer { return w }
	if o.Secrets != nil {
		mask = o.Secrets.Writer
	}
	masked := mask(w)
	var out io.Writer
	switch o.Format {
	case FormatJSON:
		out = masked
	case FormatConsole:
		out = mask(console(masked, false))
	case FormatAuto, "":
		if isTerminal(w) {
			out = mask(console(masked, false))
		} else {
			out = masked
		}
	default:
		return zerolog.Nop(), fmt.Errorf("log format %q: use one of auto, console, json", o.Format)
	}
	return zerolog.New(out).Level(level).With().Timestamp().Logger(), nil
}

func console(w io.Writer, color bool) io.Writer {
	return zerolog.ConsoleWriter{
		Out:        w,
		NoColor:    !color,
		TimeFormat: time.TimeOnly,
	}
}

// IsTerminal reports whether w is a terminal.
func IsTerminal(w io.Writer) bool { return isTerminal(w) }

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

// WithContext stores l in ctx; adapters take their logger from there.
func WithContext(ctx context.Context, l zerolog.Logger) context.Context { return l.WithContext(ctx) }

// From returns the logger in ctx, or one that discards everything: libraries
// stay silent unless the CLI gave them somewhere to talk.
func From(ctx context.Context) *zerolog.Logger { return zerolog.Ctx(ctx) }
