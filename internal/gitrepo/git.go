package gitrepo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/stepper-cd/stepper/internal/ci"
	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/logging"
)

// inheritedEnv are the only variables git gets from the job's environment:
// where programs, home and temporary files are, proxies and trust stores,
// the SSH agent, and the GIT_ variables that only choose a transport, a
// trust store or a way to ask for credentials. Everything else is left out:
// GIT_DIR, GIT_WORK_TREE, GIT_INDEX_FILE, GIT_CONFIG_PARAMETERS,
// GIT_CONFIG_COUNT, GIT_EXEC_PATH and the locale cannot steer our commands
// or change the messages errors are classified by.
var inheritedEnv = map[string]bool{
	"PATH": true, "HOME": true, "USER": true, "LOGNAME": true, "TMPDIR": true, "SSH_AUTH_SOCK": true,
	"http_proxy": true, "https_proxy": true, "HTTPS_PROXY": true, "all_proxy": true, "ALL_PROXY": true,
	"no_proxy": true, "NO_PROXY": true, "SSL_CERT_FILE": true, "SSL_CERT_DIR": true, "CURL_CA_BUNDLE": true,
	"GIT_SSH": true, "GIT_SSH_COMMAND": true, "GIT_SSH_VARIANT": true, "GIT_ASKPASS": true, "SSH_ASKPASS": true,
	"GIT_SSL_CAINFO": true, "GIT_SSL_CAPATH": true, "GIT_PROXY_COMMAND": true,
	// Windows needs these to start any program.
	"Path": true, "SystemRoot": true, "SYSTEMROOT": true, "ComSpec": true, "COMSPEC": true, "PATHEXT": true,
	"TEMP": true, "TMP": true, "USERPROFILE": true,
}

// safeConfig is configuration every git command gets from its environment,
// which outranks the checkout's own .git/config: no hooks and no
// filesystem monitor run, whatever a previous job or a hostile repository
// left in a cached checkout.
var safeConfig = [][2]string{{"core.hooksPath", os.DevNull}, {"core.fsmonitor", "false"},
	// A remote that stops sending is given up on instead of waited for:
	// HTTP transfers slower than 1 KiB/s for a minute fail, and ssh gives
	// up connecting after 30 s (GIT_SSH_COMMAND, where the job sets it,
	// outranks this).
	{"http.lowSpeedLimit", "1024"}, {"http.lowSpeedTime", "60"},
	{"core.sshCommand", "ssh -o ConnectTimeout=30 -o ServerAliveInterval=15 -o ServerAliveCountMax=4 -o BatchMode=yes"}}

// environ is the hermetic environment of every git command run for dir: the
// allow-listed variables of the job (os.Environ overlaid with o.Environ),
// no system or user configuration, hooks and fsmonitor off, no prompts, a
// fixed identity, no discovery of a repository above dir, the credential
// helper when the URL carried credentials, and LC_ALL=C last, so messages
// are the English ones errors are classified by.
func environ(o Options, dir string, creds *credentials) []string {
	job := map[string]string{}
	var names []string
	for _, kv := range append(os.Environ(), o.Environ...) {
		name, value, _ := strings.Cut(kv, "=")
		if !inheritedEnv[name] {
			continue
		}
		if _, seen := job[name]; !seen {
			names = append(names, name)
		}
		job[name] = value
	}
	env := make([]string, 0, len(names)+24)
	for _, name := range names {
		env = append(env, name+"="+job[name])
	}
	env = append(env,
		"GIT_TERMINAL_PROMPT=0",
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL="+os.DevNull,
		"GIT_AUTHOR_NAME="+o.Author,
		"GIT_AUTHOR_EMAIL="+o.Email,
		"GIT_COMMITTER_NAME="+o.Author,
		"GIT_COMMITTER_EMAIL="+o.Email,
		"GIT_CEILING_DIRECTORIES="+filepath.Dir(dir),
	)
	credEnv, credConfig := creds.environ()
	env = append(env, credEnv...)
	config := append(append([][2]string{}, safeConfig...), credConfig...)
	env = append(env, "GIT_CONFIG_COUNT="+strconv.Itoa(len(config)))
	for i, kv := range config {
		env = append(env, fmt.Sprintf("GIT_CONFIG_KEY_%d=%s", i, kv[0]), fmt.Sprintf("GIT_CONFIG_VALUE_%d=%s", i, kv[1]))
	}
	return append(env, "LANGUAGE=", "LC_ALL=C")
}

// git runs one git command in the repository's directory and returns its
// standard output. A failure is a *cmdError, whose text never holds
// credentials.
func (r *Repo) git(ctx context.Context, stdin string, args ...string) (string, error) {
	start := time.Now()
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, r.opts.CommandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = r.dir
	if args[0] == "clone" {
		cmd.Dir = filepath.Dir(r.dir)
	}
	cmd.Env = r.env
	cmd.WaitDelay = 5 * time.Second
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	logging.From(ctx).Trace().Str("git", args[0]).Int64(logging.Duration, time.Since(start).Milliseconds()).
		Bool("ok", err == nil).Msg("git")
	if err != nil {
		if parent.Err() != nil {
			return "", fmt.Errorf("git %s: %w", args[0], parent.Err())
		}
		if ctx.Err() != nil {
			return "", exit.Infraf("git %s %s: did not finish within %s; the remote may be unreachable or stalled, retry the job later",
				args[0], r.safeURL, r.opts.CommandTimeout)
		}
		return stdout.String(), &cmdError{args: args, out: stdout.String(), stderr: stderr.String(), err: err}
	}
	return stdout.String(), nil
}

// gitLine is git with its output trimmed.
func (r *Repo) gitLine(ctx context.Context, args ...string) (string, error) {
	out, err := r.git(ctx, "", args...)
	return strings.TrimSpace(out), err
}

// cmdError is a git command that failed.
type cmdError struct {
	args   []string
	out    string
	stderr string
	err    error
}

func (e *cmdError) Error() string {
	return redact(fmt.Sprintf("git %s: %v: %s", strings.Join(e.args, " "), e.err, strings.TrimSpace(e.stderr)))
}

func (e *cmdError) Unwrap() error { return e.err }

// userinfo matches the user:password@ part of any URL in a message.
var userinfo = regexp.MustCompile(`(?i)\b([a-z][a-z0-9+.\-]*://)[^/\s@]+@`)

// redact removes credentials from every URL in s.
func redact(s string) string { return userinfo.ReplaceAllString(s, "$1") }

// kind is what a failed remote operation says about the remote.
type kind int

const (
	kindOther kind = iota
	kindAuth
	kindNotFound
	kindUnreachable
	kindRejected // a push lost a race; fetch and try again
)

// classify reads git's messages (LC_ALL=C) to tell why a remote operation failed.
func classify(err error) kind {
	var ce *cmdError
	if !errors.As(err, &ce) {
		return kindOther
	}
	text := strings.ToLower(ce.out + "\n" + ce.stderr)
	has := func(subs ...string) bool {
		for _, s := range subs {
			if strings.Contains(text, s) {
				return true
			}
		}
		return false
	}
	switch {
	case has("[rejected]"),
		has("[remote rejected]") && has("lock", "failed to update ref", "incorrect old value", "stale info"):
		return kindRejected
	case has("authentication failed", "could not read username", "could not read password",
		"terminal prompts disabled", "access denied", "permission denied", "not allowed to push",
		"returned error: 401", "returned error: 403", "http basic", "you are not allowed", "protected branch"):
		return kindAuth
	case has("repository not found", "' not found", "returned error: 404", "does not appear to be a git repository",
		"not found in upstream", "couldn't find remote ref", "does not exist"):
		return kindNotFound
	case has("could not resolve host", "connection refused", "failed to connect", "timed out",
		"connection reset", "unable to access", "remote end hung up", "rpc failed",
		"returned error: 5", "could not read from remote", "network is unreachable", "early eof"):
		return kindUnreachable
	}
	return kindOther
}

// remoteError marks a failed clone, fetch or push with its exit class and
// tells the user what to do.
func (r *Repo) remoteError(op string, err error) error {
	if err == nil {
		return nil
	}
	where := fmt.Sprintf("git %s %s (branch %s)", op, r.safeURL, r.branch)
	if r.branch == "" {
		where = fmt.Sprintf("git %s %s", op, r.safeURL)
	}
	var ce *cmdError
	if !errors.As(err, &ce) {
		return fmt.Errorf("%s: %w", where, err) // cancelled: keep the context's class
	}
	switch classify(err) {
	case kindAuth:
		return exit.Usagef("%s: access denied: %w; give the job credentials with write access to the repository "+
			"(a token in the URL, or GIT_ASKPASS or GIT_SSH_COMMAND in the environment) and check branch protection", where, err)
	case kindNotFound:
		return exit.Usagef("%s: repository or branch not found: %w; check desiredState.repo and desiredState.branch", where, err)
	case kindUnreachable:
		return exit.Infraf("%s: remote unreachable: %w; check the network, proxy and that the git server is up, then retry", where, err)
	}
	return exit.Infraf("%s: %w", where, err)
}

// safe returns url without credentials, for messages.
func safe(url string) string { return redact(ci.StripCredentials(url)) }

// isUnreachable reports whether err, classified or not, says the remote
// could not be reached.
func isUnreachable(err error) bool { return classify(err) == kindUnreachable }
