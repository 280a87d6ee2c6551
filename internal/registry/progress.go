package registry

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/stepper-cd/stepper/internal/logging"
)

// Progress receives the events of a push. Layer is called from several
// goroutines at once and must not block for long.
type Progress interface {
	Layer(ev LayerEvent)
}

// LayerEvent is news about one blob of a push: bytes sent so far while it
// uploads, then one event with Done set when its outcome is known.
type LayerEvent struct {
	Digest v1.Hash
	// Size is the blob's size; Sent the bytes of it sent so far, retried
	// attempts included.
	Size, Sent int64
	// Config is set for the image's config blob.
	Config bool
	// Done is set on the last event about the blob, which carries its
	// Outcome and Duration.
	Done     bool
	Outcome  Outcome
	Duration time.Duration
}

// NewLogProgress returns a Progress that logs one line per blob when it is
// done, with the logger in ctx: digest, size, outcome and duration. It suits
// CI job logs, where a redrawn display would be noise.
func NewLogProgress(ctx context.Context) Progress { return &logProgress{ctx: ctx} }

type logProgress struct {
	ctx context.Context
	// mu keeps the lines of concurrent uploads from reaching the log's
	// writer at the same time; not every writer is safe for that.
	mu sync.Mutex
}

func (p *logProgress) Layer(ev LayerEvent) {
	if !ev.Done {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	msg := "layer " + ev.Outcome.String()
	if ev.Config {
		msg = "config " + ev.Outcome.String()
	}
	logging.From(p.ctx).Info().Str(logging.Digest, ev.Digest.String()).Int64("size", ev.Size).
		Str("outcome", ev.Outcome.String()).Int64("sent", ev.Sent).
		Int64(logging.Duration, ev.Duration.Milliseconds()).Msg(msg)
}

// NewTerminalProgress returns a Progress that keeps a live display on w, a
// terminal: one line per blob with the bytes sent of its size, redrawn in
// place at most ten times a second and whenever a blob is done.
func NewTerminalProgress(w io.Writer) Progress {
	return &terminalProgress{w: w, index: map[v1.Hash]int{}}
}

type terminalProgress struct {
	w io.Writer

	mu    sync.Mutex
	lines []LayerEvent
	index map[v1.Hash]int
	drawn int // lines on screen from the last redraw
	last  time.Time
}

const redrawEvery = 100 * time.Millisecond

func (p *terminalProgress) Layer(ev LayerEvent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	i, ok := p.index[ev.Digest]
	if !ok {
		i = len(p.lines)
		p.index[ev.Digest] = i
		p.lines = append(p.lines, ev)
	}
	p.lines[i] = ev
	if !ok || ev.Done || time.Since(p.last) >= redrawEvery {
		p.redraw()
	}
}

// redraw moves the cursor back over the lines drawn last time and writes
// every line again, clearing each first.
func (p *terminalProgress) redraw() {
	var b strings.Builder
	if p.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", p.drawn)
	}
	for _, ev := range p.lines {
		b.WriteString("\r\x1b[2K")
		b.WriteString(progressLine(ev))
		b.WriteByte('\n')
	}
	_, _ = io.WriteString(p.w, b.String())
	p.drawn = len(p.lines)
	p.last = time.Now()
}

func progressLine(ev LayerEvent) string {
	kind := "layer "
	if ev.Config {
		kind = "config"
	}
	short := ev.Digest.Hex
	if len(short) > 12 {
		short = short[:12]
	}
	state := fmt.Sprintf("%s / %s", humanBytes(ev.Sent), humanBytes(ev.Size))
	if ev.Done {
		switch ev.Outcome {
		case Uploaded:
			state = fmt.Sprintf("uploaded %s in %s", humanBytes(ev.Size), ev.Duration.Round(time.Millisecond))
		default:
			state = ev.Outcome.String()
		}
	}
	return fmt.Sprintf("%s %s  %s", kind, short, state)
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
