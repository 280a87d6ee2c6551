package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// GitServer serves the bare repositories under Dir over file:// and over
// smart HTTP (git http-backend), with pushes enabled. git's own ref locking
// arbitrates concurrent pushes: one wins and the others are rejected, as on
// a real forge.
type GitServer struct {
	// Dir holds the bare repositories, <name>.git each.
	Dir string
	// URL is the HTTP base, "http://127.0.0.1:port"; a repository is at
	// URL + "/" + name + ".git".
	URL string

	git string
	srv *http.Server
}

// Repo is one bare repository on a GitServer.
type Repo struct {
	Name string
	// Dir is the bare repository's path.
	Dir     string
	FileURL string
	HTTPURL string

	git string
}

// StartGitServer serves the bare repositories under dir (created if missing)
// on a free port of 127.0.0.1.
func StartGitServer(ctx context.Context, dir string) (*GitServer, error) {
	gitBin, err := Tool("git")
	if err != nil {
		return nil, fmt.Errorf("start git server: %w", err)
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("start git server: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("start git server: %w", err)
	}
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("start git server: listen: %w", err)
	}
	g := &GitServer{Dir: dir, URL: "http://" + l.Addr().String(), git: gitBin}
	g.srv = &http.Server{Handler: g.handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = g.srv.Serve(l) }()
	return g, nil
}

// Stop closes the HTTP server; the repositories stay on disk.
func (g *GitServer) Stop() {
	if g != nil {
		_ = g.srv.Close()
	}
}

// handler runs git http-backend as CGI for each request.
func (g *GitServer) handler() http.Handler {
	env := append(hermeticGitEnv(),
		"GIT_PROJECT_ROOT="+g.Dir,
		"GIT_HTTP_EXPORT_ALL=1",
		// Anonymous pushes are refused unless http.receivepack is set; set it
		// for every repository, including ones created beside NewRepo.
		"GIT_CONFIG_COUNT=1",
		"GIT_CONFIG_KEY_0=http.receivepack",
		"GIT_CONFIG_VALUE_0=true",
	)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := &cgi.Handler{Path: g.git, Args: []string{"http-backend"}, Root: "/", Env: env}
		// Web servers must hand the Git-Protocol header to git themselves;
		// without it clients fall back to protocol v0.
		if proto := r.Header.Get("Git-Protocol"); proto != "" {
			h.Env = append(append([]string(nil), env...), "GIT_PROTOCOL="+proto)
		}
		h.ServeHTTP(w, r)
	})
}

// NewRepo creates the bare repository <name>.git with master as its default
// branch. A non-empty seed (path → content) becomes its first commit.
func (g *GitServer) NewRepo(name string, seed map[string]string) (*Repo, error) {
	clean := filepath.ToSlash(filepath.Clean(name))
	if name == "" || clean != name || strings.HasPrefix(clean, "../") || clean == ".." || filepath.IsAbs(name) {
		return nil, fmt.Errorf("new repo %q: want a relative name such as team/app-config", name)
	}
	r := &Repo{
		Name:    name,
		Dir:     filepath.Join(g.Dir, filepath.FromSlash(name)+".git"),
		HTTPURL: g.URL + "/" + name + ".git",
		git:     g.git,
	}
	r.FileURL = "file://" + filepath.ToSlash(r.Dir)
	if _, err := os.Stat(r.Dir); err == nil {
		return nil, fmt.Errorf("new repo %s: %s already exists", name, r.Dir)
	}
	if _, err := runGit(g.git, "", "init", "--quiet", "--bare", "--initial-branch=master", r.Dir); err != nil {
		return nil, fmt.Errorf("new repo %s: %w", name, err)
	}
	if len(seed) > 0 {
		if err := r.seed(seed); err != nil {
			return nil, fmt.Errorf("new repo %s: %w", name, err)
		}
	}
	return r, nil
}

// seed commits files to master through a scratch clone.
func (r *Repo) seed(files map[string]string) error {
	work, err := os.MkdirTemp("", "stepper-seed-")
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	defer os.RemoveAll(work)
	if _, err := runGit(r.git, "", "init", "--quiet", "--initial-branch=master", work); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	paths := make([]string, 0, len(files))
	for path := range files {
		paths = append(paths, path)
	}
	sort.Strings(paths)
	for _, path := range paths {
		full := filepath.Join(work, filepath.FromSlash(path))
		if !strings.HasPrefix(full, work+string(filepath.Separator)) {
			return fmt.Errorf("seed: path %q leaves the repository", path)
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return fmt.Errorf("seed %s: %w", path, err)
		}
		if err := os.WriteFile(full, []byte(files[path]), 0o644); err != nil {
			return fmt.Errorf("seed %s: %w", path, err)
		}
	}
	for _, args := range [][]string{
		{"add", "--all"},
		{"commit", "--quiet", "--message", "Seed " + r.Name},
		{"push", "--quiet", r.Dir, "master"},
	} {
		if _, err := runGit(r.git, work, args...); err != nil {
			return fmt.Errorf("seed: %w", err)
		}
	}
	return nil
}

// Rev resolves a revision, such as "master", to a commit id.
func (r *Repo) Rev(rev string) (string, error) {
	out, err := runGit(r.git, r.Dir, "rev-parse", "--verify", "--quiet", rev+"^{commit}")
	if err != nil {
		return "", fmt.Errorf("repo %s: resolve %s: %w", r.Name, rev, err)
	}
	return out, nil
}

// ReadFile returns a file's content at a revision.
func (r *Repo) ReadFile(rev, path string) (string, error) {
	out, err := runGitRaw(r.git, r.Dir, "show", rev+":"+path)
	if err != nil {
		return "", fmt.Errorf("repo %s: read %s at %s: %w", r.Name, path, rev, err)
	}
	return out, nil
}

// hermeticGitEnv keeps the caller's git configuration (signing, hooks,
// templates) out of the platform and gives commits a fixed identity.
func hermeticGitEnv() []string {
	return append(childEnv("GIT_"),
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL="+os.DevNull,
		"GIT_AUTHOR_NAME=stepper testenv",
		"GIT_AUTHOR_EMAIL=testenv@stepper.invalid",
		"GIT_COMMITTER_NAME=stepper testenv",
		"GIT_COMMITTER_EMAIL=testenv@stepper.invalid",
	)
}

// runGit runs git in dir and returns its trimmed standard output.
func runGit(gitBin, dir string, args ...string) (string, error) {
	out, err := runGitRaw(gitBin, dir, args...)
	return strings.TrimSpace(out), err
}

func runGitRaw(gitBin, dir string, args ...string) (string, error) {
	cmd := exec.Command(gitBin, args...)
	cmd.Dir = dir
	cmd.Env = hermeticGitEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
		}
		return "", fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
	}
	return stdout.String(), nil
}
