package cli

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// canarySecret is one planted secret: its name for the report and the user
// names it is paired with in basic-auth credentials (user:password), whose
// base64 is how a leaked Authorization header or docker "auth" would look.
type canarySecret struct {
	name, value string
	users       []string
}

// leakForms are the renderings a leak of c would take: plain, JSON-escaped
// with and without HTML escaping, URL-escaped, Go-quoted, HTML-escaped,
// base64 of the value and of every user:value pair, and a URL's userinfo.
func (c canarySecret) leakForms() map[string]string {
	forms := map[string]string{"plain": c.value}
	forms["json"] = jsonInner(c.value, true)
	forms["json-nohtml"] = jsonInner(c.value, false)
	forms["query-escaped"] = url.QueryEscape(c.value)
	forms["path-escaped"] = url.PathEscape(c.value)
	q := strconv.Quote(c.value)
	forms["go-quoted"] = q[1 : len(q)-1]
	forms["html"] = html.EscapeString(c.value)
	forms["base64"] = base64.StdEncoding.EncodeToString([]byte(c.value))
	forms["base64-raw"] = base64.RawStdEncoding.EncodeToString([]byte(c.value))
	for _, u := range c.users {
		forms["base64("+u+":…)"] = base64.StdEncoding.EncodeToString([]byte(u + ":" + c.value))
		forms["userinfo("+u+")"] = url.UserPassword(u, c.value).String()
	}
	return forms
}

func jsonInner(v string, escapeHTML bool) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(escapeHTML)
	_ = enc.Encode(v)
	s := strings.TrimSuffix(b.String(), "\n")
	return s[1 : len(s)-1]
}

// leak is one canary found somewhere it must not be.
type leak struct {
	where  string // "stdout of deploy (json)", a file path, ...
	line   int
	canary string
	form   string
	text   string // the line, cut short
}

func (l leak) String() string {
	return fmt.Sprintf("%s:%d: canary %s (%s form): %s", l.where, l.line, l.canary, l.form, l.text)
}

// shortSecret is the length below which stepper masks a secret only as a
// whole token (see package secret); the scan judges such a canary the same
// way, and only in text, where a 3-byte string turns up in binary data by
// chance.
const shortSecret = 4

// scanText returns every canary form in text.
func scanText(where string, text []byte, canaries []canarySecret) []leak {
	binary := bytes.IndexByte(text, 0) >= 0 || !utf8.Valid(text)
	var leaks []leak
	for _, c := range canaries {
		for form, f := range c.leakForms() {
			if f == "" || (form != "plain" && f == c.value) {
				continue
			}
			short := len(f) < shortSecret
			if short && binary {
				continue
			}
			for off := 0; ; {
				i := bytes.Index(text[off:], []byte(f))
				if i < 0 {
					break
				}
				i += off
				end := i + len(f)
				off = end
				if short && (wordBefore(text[:i]) || wordAfter(text[end:])) {
					continue
				}
				line := 1 + bytes.Count(text[:i], []byte("\n"))
				start := bytes.LastIndexByte(text[:i], '\n') + 1
				stop := bytes.IndexByte(text[i:], '\n')
				if stop < 0 {
					stop = len(text) - i
				}
				excerpt := string(text[start : i+stop])
				if len(excerpt) > 300 {
					excerpt = excerpt[:300] + "…"
				}
				leaks = append(leaks, leak{where: where, line: line, canary: c.name, form: form, text: excerpt})
			}
		}
	}
	return leaks
}

func wordBefore(b []byte) bool {
	r, _ := utf8.DecodeLastRune(b)
	return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r)
}

func wordAfter(b []byte) bool {
	r, _ := utf8.DecodeRune(b)
	return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r)
}

// scanTree scans every regular file under dir, and the objects of every git
// repository in it (compressed on disk, so dumped with git cat-file).
func scanTree(t *testing.T, dir string, canaries []canarySecret) []leak {
	t.Helper()
	var leaks []leak
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) || os.IsPermission(err) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			if isGitDir(path) {
				leaks = append(leaks, scanGitObjects(t, path, canaries)...)
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil // a file removed while walking
		}
		leaks = append(leaks, scanText(path, b, canaries)...)
		return nil
	})
	if err != nil {
		t.Fatalf("scan %s: %v", dir, err)
	}
	return leaks
}

func isGitDir(dir string) bool {
	for _, f := range []string{"HEAD", "objects", "refs"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return false
		}
	}
	return true
}

// scanGitObjects scans the contents of every object of the repository at
// gitDir: commits, trees and blobs, as git stores them compressed.
func scanGitObjects(t *testing.T, gitDir string, canaries []canarySecret) []leak {
	t.Helper()
	cmd := exec.Command("git", "--git-dir", gitDir, "cat-file", "--batch-all-objects", "--batch")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "GIT_CONFIG_NOSYSTEM=1"}
	out, err := cmd.Output()
	if err != nil {
		t.Errorf("git cat-file in %s: %v", gitDir, err)
		return nil
	}
	return scanText(gitDir+" (git objects)", out, canaries)
}

// argvRecorder puts recording wrappers for git and buildah first on a PATH,
// so the command line of every process stepper starts through them, and of
// git's HTTP transport helpers, is logged: the process list of the run, taken
// at every start instead of by polling /proc.
type argvRecorder struct {
	dir string // goes first on PATH
	log string
}

func newArgvRecorder(t *testing.T) *argvRecorder {
	t.Helper()
	root := t.TempDir()
	r := &argvRecorder{dir: filepath.Join(root, "bin"), log: filepath.Join(root, "argv.log")}
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	record := `{ printf '%s' "$0"; for a in "$@"; do printf ' %s' "$a"; done; echo; } >>'` + r.log + "'\n"
	realGit, err := exec.LookPath("git")
	if err != nil {
		t.Skip("git not installed")
	}
	out, err := exec.Command(realGit, "--exec-path").Output()
	if err != nil {
		t.Fatal(err)
	}
	realExec := strings.TrimSpace(string(out))
	execDir := filepath.Join(root, "git-exec")
	if err := os.MkdirAll(execDir, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(realExec)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		switch e.Name() {
		case "git":
		case "git-remote-http", "git-remote-https":
			script := "#!/bin/sh\n" + record + "exec '" + filepath.Join(realExec, e.Name()) + "' \"$@\"\n"
			if err := os.WriteFile(filepath.Join(execDir, e.Name()), []byte(script), 0o755); err != nil {
				t.Fatal(err)
			}
		default:
			if err := os.Symlink(filepath.Join(realExec, e.Name()), filepath.Join(execDir, e.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
	gitScript := "#!/bin/sh\n" + record + "exec '" + realGit + "' --exec-path='" + execDir + "' \"$@\"\n"
	for _, p := range []string{filepath.Join(r.dir, "git"), filepath.Join(execDir, "git")} {
		if err := os.WriteFile(p, []byte(gitScript), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if realBuildah, err := exec.LookPath("buildah"); err == nil {
		script := "#!/bin/sh\n" + record + "exec '" + realBuildah + "' \"$@\"\n"
		if err := os.WriteFile(filepath.Join(r.dir, "buildah"), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// lines is how many command lines were recorded.
func (r *argvRecorder) lines(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile(r.log)
	if err != nil {
		return 0
	}
	return bytes.Count(b, []byte("\n"))
}
