package local

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// StartRegistryAuth starts docker-registry 2.8, as StartRegistry does without
// referrers, behind HTTP basic authentication: only user with password may
// pull or push. The htpasswd file (bcrypt, the only hash distribution
// accepts) lives in dir. It returns once /v2/ answers 401 to an anonymous
// client and 200 to the user.
func StartRegistryAuth(ctx context.Context, dir, user, password string) (*Registry, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("start registry with auth: %w", err)
	}
	// The lowest cost keeps tests fast; the hash guards nothing real.
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		return nil, fmt.Errorf("start registry with auth: hash password: %w", err)
	}
	htpasswd := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(htpasswd, []byte(user+":"+string(hash)+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("start registry with auth: %w", err)
	}
	auth := fmt.Sprintf("auth:\n  htpasswd:\n    realm: stepper-test\n    path: %s\n", htpasswd)
	r, err := startDistributionOnFreePort(ctx, dir, auth, func(addr string) func(context.Context) error {
		return authReady("http://"+addr+"/v2/", user, password)
	})
	if err != nil {
		return nil, fmt.Errorf("start registry with auth: %w", err)
	}
	return r, nil
}

// authReady is a readiness check for a registry behind basic auth: url
// refuses an anonymous GET with 401 and answers the user with 200.
func authReady(url, user, password string) func(context.Context) error {
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		for _, withAuth := range []bool{false, true} {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return err
			}
			want := http.StatusUnauthorized
			if withAuth {
				req.SetBasicAuth(user, password)
				want = http.StatusOK
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != want {
				return fmt.Errorf("GET %s (auth %v): %s, want %d", url, withAuth, resp.Status, want)
			}
		}
		return nil
	}
}
