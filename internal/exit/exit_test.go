package exit

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestCode(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, 0},
		{"failed", Failedf("policy: image runs as root"), 1},
		{"usage", Usagef("unknown environment %q", "qa"), 2},
		{"infra", Infraf("registry: 503"), 3},
		{"unmarked is infra", errors.New("dial tcp: refused"), 3},
		{"wrapped keeps class", fmt.Errorf("deploy: %w", Usagef("bad")), 2},
		{"outer mark wins", Mark(Failed, Infraf("x")), 1},
		{"cancelled", fmt.Errorf("push: %w", context.Canceled), 130},
		{"terminated", Mark(Terminated, context.Canceled), 143},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Code(tt.err); got != tt.want {
				t.Errorf("Code(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}
