package status

import (
	"context"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/stepper-cd/stepper/internal/gate"
	"github.com/stepper-cd/stepper/internal/signing"
)

// shared is c with every registry and chart-repository lookup made once
// per run: a release promoted through the chain has the same digest in
// every environment, and the board asks the same gates about it for its
// evidence there and for the promotion into the next one. Lookups of one
// key asked at once wait for the first.
func shared(c *gate.Checker) *gate.Checker {
	out := *c
	out.Signatures = &sharedSignatures{inner: c.Signatures}
	out.Attestations = &sharedAttestations{inner: c.Attestations}
	out.Registry = &sharedRegistry{inner: c.Registry}
	if c.Charts != nil {
		out.Charts = &sharedCharts{inner: c.Charts}
	}
	return &out
}

type sharedSignatures struct {
	inner gate.Signatures
	calls onceMap[*signing.Verified]
}

func (s *sharedSignatures) Verify(ctx context.Context, img name.Digest) (*signing.Verified, error) {
	return s.calls.do(ctx, img.String(), func() (*signing.Verified, error) { return s.inner.Verify(ctx, img) })
}

type sharedAttestations struct {
	inner gate.Attestations
	calls onceMap[[]signing.VerifiedStatement]
}

func (s *sharedAttestations) Attestations(ctx context.Context, img name.Digest, predicateType string) ([]signing.VerifiedStatement, error) {
	return s.calls.do(ctx, img.String()+" "+predicateType, func() ([]signing.VerifiedStatement, error) {
		return s.inner.Attestations(ctx, img, predicateType)
	})
}

type sharedRegistry struct {
	inner gate.Registry
	calls onceMap[struct{}]
}

func (s *sharedRegistry) Exists(ctx context.Context, img name.Digest) error {
	_, err := s.calls.do(ctx, img.String(), func() (struct{}, error) { return struct{}{}, s.inner.Exists(ctx, img) })
	return err
}

type sharedCharts struct {
	inner gate.Charts
	calls onceMap[struct{}]
}

func (s *sharedCharts) Available(ctx context.Context, repo, chart, version string) error {
	_, err := s.calls.do(ctx, repo+" "+chart+" "+version, func() (struct{}, error) {
		return struct{}{}, s.inner.Available(ctx, repo, chart, version)
	})
	return err
}

// onceMap runs a lookup once per key and hands every caller its result.
type onceMap[V any] struct {
	mu    sync.Mutex
	calls map[string]*call[V]
}

type call[V any] struct {
	done chan struct{}
	val  V
	err  error
}

func (m *onceMap[V]) do(ctx context.Context, key string, f func() (V, error)) (V, error) {
	m.mu.Lock()
	if m.calls == nil {
		m.calls = map[string]*call[V]{}
	}
	c, ok := m.calls[key]
	if !ok {
		c = &call[V]{done: make(chan struct{})}
		m.calls[key] = c
	}
	m.mu.Unlock()
	if !ok {
		c.val, c.err = f()
		close(c.done)
		return c.val, c.err
	}
	select {
	case <-c.done:
		return c.val, c.err
	case <-ctx.Done():
		var zero V
		return zero, ctx.Err()
	}
}
