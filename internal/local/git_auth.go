package local

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"
)

// AuthGitServer is a GitServer behind HTTP basic authentication, as a
// forge serves private repositories: a request without the user and
// password gets 401 with a Basic challenge, so git must fetch credentials
// the way a real job does.
type AuthGitServer struct {
	*GitServer
	// Authenticated counts the requests that carried the right credentials.
	Authenticated atomic.Int64
}

// StartAuthGitServer serves the bare repositories under dir, like
// StartGitServer, to clients that authenticate as user with password.
func StartAuthGitServer(ctx context.Context, dir, user, password string) (*AuthGitServer, error) {
	gitBin, err := Tool("git")
	if err != nil {
		return nil, fmt.Errorf("start git server with auth: %w", err)
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, fmt.Errorf("start git server with auth: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("start git server with auth: %w", err)
	}
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("start git server with auth: listen: %w", err)
	}
	a := &AuthGitServer{GitServer: &GitServer{Dir: dir, URL: "http://" + l.Addr().String(), git: gitBin}}
	backend := a.handler()
	a.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(user)) != 1 ||
			subtle.ConstantTimeCompare([]byte(p), []byte(password)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "HTTP Basic: Access denied", http.StatusUnauthorized)
			return
		}
		a.Authenticated.Add(1)
		backend.ServeHTTP(w, r)
	})}
	go func() { _ = a.srv.Serve(l) }()
	return a, nil
}
