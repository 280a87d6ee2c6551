package signing

import (
	"context"
	"errors"
	"fmt"
	"github.com/stepper-cd/stepper/internal/retry"
	"math/rand/v2"
	"time"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/logging"
)

// A registry without conditional writes gives a read-modify-write no way to
// notice that another writer changed the manifest in between: the later PUT
// silently drops the earlier writer's entry (google/go-containerregistry#2209).
// So every write is confirmed: after a settle delay longer than a
// read-modify-write takes, read again and look for the entry. Any writer
// that read before our write has by then written, so an entry still present
// stays present; a missing one is written again on the current state.
var (
	// minSettle is the shortest settle delay. The delay grows with the
	// exposed window measured on the attempt (see confirmedWrite.window),
	// which grows with load and with the registry's latency.
	minSettle = 100 * time.Millisecond
	// settleFactor times the measured window is the settle delay when that
	// is longer than minSettle.
	settleFactor = 3
	// maxAttempts bounds the writes of one entry that were lost afterwards.
	maxAttempts = 12
	// maxConflicts bounds the writes abandoned because the manifest changed
	// between reading it and writing it.
	maxConflicts = 200
	// backoffBase and backoffCap shape the jittered exponential backoff
	// between attempts.
	backoffBase = 50 * time.Millisecond
	backoffCap  = 2 * time.Second
)

// confirmedWrite is one entry to add to a shared manifest.
type confirmedWrite struct {
	// what names the entry in logs and errors.
	what string
	// present reports whether the entry is in the registry now.
	present func() (bool, error)
	// write adds the entry to the current state.
	write func() error
	// window, when write sets it, is how long its last write was exposed:
	// from its final check that the state was unchanged to the end of its
	// PUT. Another writer can only lose our entry by a PUT based on a check
	// made before ours landed, so the settle delay must outlast windows like
	// this one, not the whole read-modify-write with its blob uploads.
	// Zero means the whole read-modify-write is the window.
	window *time.Duration
}

// errConflict is what write returns when the state it read changed before
// it could write; run reads again and retries at once.
var errConflict = errors.New("changed by a concurrent writer")

// run writes the entry until a read after the settle delay finds it. An
// entry present before anything was written is left alone, which makes
// signing twice a no-op.
func (c confirmedWrite) run(ctx context.Context) error {
	log := logging.From(ctx)
	wrote := false
	attempt, conflicts := 1, 0
	for {
		start := time.Now()
		found, err := c.present()
		if err != nil {
			return err
		}
		if found && !wrote {
			log.Debug().Msgf("%s: already present", c.what)
			return nil
		}
		if !found {
			err := c.write()
			if errors.Is(err, errConflict) {
				if conflicts++; conflicts > maxConflicts {
					return exit.Infraf("%s: %d concurrent writers kept changing it; retry the job", c.what, conflicts)
				}
				log.Debug().Int("conflicts", conflicts).Msgf("%s: changed while writing; reading it again", c.what)
				if err := retry.Sleep(ctx, backoff(min(conflicts, 4))); err != nil {
					return fmt.Errorf("%s: %w", c.what, err)
				}
				continue
			}
			if err != nil {
				return err
			}
			wrote = true
		}
		exposed := time.Since(start)
		if c.window != nil && *c.window > 0 {
			exposed = *c.window
		}
		if err := retry.Sleep(ctx, settleDelay(exposed)); err != nil {
			return fmt.Errorf("%s: %w", c.what, err)
		}
		if found, err = c.present(); err != nil {
			return err
		}
		if found {
			log.Debug().Int("attempt", attempt).Int("conflicts", conflicts).Msgf("%s: written and confirmed", c.what)
			return nil
		}
		if attempt >= maxAttempts {
			return exit.Infraf("%s: a concurrent writer removed it again after %d writes; the registry has no conditional writes and too many writers race on it (retry the job, or use the bundle format on a registry with the referrers API)", c.what, attempt)
		}
		log.Warn().Int("attempt", attempt).Msgf("%s: a concurrent writer dropped it; writing it again", c.what)
		attempt++
		if err := retry.Sleep(ctx, backoff(attempt)); err != nil {
			return fmt.Errorf("%s: %w", c.what, err)
		}
	}
}

func settleDelay(readModifyWrite time.Duration) time.Duration {
	d := max(minSettle, time.Duration(settleFactor)*readModifyWrite)
	return d + rand.N(d/2+1)
}

// backoff is full-jitter exponential backoff: a random delay in [d/2, d),
// d doubling per attempt up to backoffCap.
func backoff(attempt int) time.Duration {
	d := backoffBase << min(attempt, 16)
	d = min(d, backoffCap)
	return d/2 + rand.N(d/2+1)
}
