package signing_test

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/stepper-cd/stepper/internal/logging"
	"github.com/stepper-cd/stepper/internal/signing"
)

// TestConcurrentWriters reproduces the lost-entry race of the tag format on
// docker-registry 2.8 (no referrers API, no conditional writes): many
// writers add signatures and attestations to one digest at once. Every one
// must be there afterwards, and cosign must still verify.
func TestConcurrentWriters(t *testing.T) {
	p := platform.Get(t)
	keys := []testKey{newTestKey(t), newTestKey(t)}
	loaded := []*signing.Key{keys[0].load(t), keys[1].load(t)}

	for _, writers := range []int{8, 32} {
		t.Run(fmt.Sprintf("%d writers", writers), func(t *testing.T) {
			img := pushImage(t, p.Registry.Host, fmt.Sprintf("signing/race%d", writers))
			var logs syncBuffer
			ctx := logging.WithContext(t.Context(), zerolog.New(&logs).Level(zerolog.DebugLevel))

			var wg sync.WaitGroup
			errs := make([]error, writers)
			for i := range writers {
				wg.Go(func() {
					key := loaded[i%2]
					o := signing.Options{Annotations: map[string]string{"writer": fmt.Sprint(i)}}
					if _, err := signing.Sign(ctx, key, img, o); err != nil {
						errs[i] = fmt.Errorf("sign: %w", err)
						return
					}
					prov := provenance()
					prov.InvocationID = fmt.Sprintf("run-%d", i)
					st, err := prov.Statement(img)
					if err != nil {
						errs[i] = err
						return
					}
					if _, err := signing.Attest(ctx, key, img, st, o); err != nil {
						errs[i] = fmt.Errorf("attest: %w", err)
					}
				})
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("writer %d: %v", i, err)
				}
			}

			for _, suffix := range []string{"sig", "att"} {
				present := map[string]bool{}
				layers := tagLayers(t, img, suffix)
				for _, ann := range layers {
					present[ann["writer"]] = true
				}
				for i := range writers {
					if !present[fmt.Sprint(i)] {
						t.Errorf(".%s: writer %d's entry is missing", suffix, i)
					}
				}
				if len(layers) != writers {
					t.Errorf(".%s has %d layers, want %d", suffix, len(layers), writers)
				}
			}
			lost := strings.Count(logs.String(), "a concurrent writer dropped it")
			t.Logf("%d writers: %d entries were lost to the race and written again", writers, lost)
			for _, secret := range []string{testOnlyPassword, "ENCRYPTED SIGSTORE PRIVATE KEY"} {
				if strings.Contains(logs.String(), secret) {
					t.Errorf("logs reveal %q", secret)
				}
			}

			for i, k := range keys {
				cosignVerify(t, k.pubPath(), img, "-a", fmt.Sprintf("writer=%d", i))
				cosignVerifyAttestation(t, k.pubPath(), img)
			}
		})
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
