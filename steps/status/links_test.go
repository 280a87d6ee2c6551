package status

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
)

func TestCommitURL(t *testing.T) {
	for _, tc := range []struct{ repo, want string }{
		{"https://gitlab.example/vendor-x/desired-state.git", "https://gitlab.example/vendor-x/desired-state/-/commit/abc"},
		{"https://deploy:token@gitlab.example/vendor-x/desired-state.git/", "https://gitlab.example/vendor-x/desired-state/-/commit/abc"},
		{"http://127.0.0.1:8080/platform/envs", "http://127.0.0.1:8080/platform/envs/-/commit/abc"},
		{"git@gitlab.example:vendor-x/desired-state.git", ""},
		{"/srv/git/desired-state", ""},
	} {
		if got := commitURL(tc.repo, "abc"); got != tc.want {
			t.Errorf("commitURL(%q) = %q, want %q", tc.repo, got, tc.want)
		}
	}
}

func TestManifestURL(t *testing.T) {
	b := &Board{plainHTTP: []string{"127.0.0.1:5000"}}
	for _, tc := range []struct{ ref, want string }{
		{"harbor.example/vendor-x/api:sha256-abc.sig", "https://harbor.example/v2/vendor-x/api/manifests/sha256-abc.sig"},
		{"127.0.0.1:5000/vendor-x/api:sha256-abc.att", "http://127.0.0.1:5000/v2/vendor-x/api/manifests/sha256-abc.att"},
		{"harbor.example/vendor-x/api@sha256:abc", "https://harbor.example/v2/vendor-x/api/manifests/sha256:abc"},
		{"vendor-x/api:1.0", ""}, // no registry host
		{"harbor.example/vendor-x/api", ""},
	} {
		if got := b.manifestURL(tc.ref); got != tc.want {
			t.Errorf("manifestURL(%q) = %q, want %q", tc.ref, got, tc.want)
		}
	}
}

// A lookup asked for by many at once runs once; every caller gets its
// result.
func TestOnceMap(t *testing.T) {
	var m onceMap[int]
	var runs atomic.Int32
	release := make(chan struct{})
	var wg sync.WaitGroup
	results := make([]int, 16)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], _ = m.do(context.Background(), "key", func() (int, error) {
				runs.Add(1)
				<-release
				return 42, nil
			})
		}()
	}
	close(release)
	wg.Wait()
	if runs.Load() != 1 {
		t.Errorf("the lookup ran %d times, want once", runs.Load())
	}
	for i, r := range results {
		if r != 42 {
			t.Errorf("caller %d got %d", i, r)
		}
	}
}
