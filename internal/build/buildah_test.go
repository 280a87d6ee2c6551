package build

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/logging"
	"github.com/stepper-cd/stepper/internal/testenv"
)

// buildah builds a multi-stage Dockerfile whose base comes through a
// global ARG, on the approved base in the local registry.
func TestBuildahBuildsOnApprovedBase(t *testing.T) {
	testenv.RequireTool(t, "buildah")
	f := newFixture(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "hello.txt"), "hello\n", 0o644)
	writeFile(t, filepath.Join(dir, "build", "Dockerfile"), `# syntax=docker/dockerfile:1
ARG BASE=harbor.example/base/unapproved:1
# the stage the app runs in
from ${BASE} as runtime
COPY hello.txt \
     /app/hello.txt
FROM runtime
USER 65532
ENTRYPOINT ["/app/hello"]
`, 0o644)
	req := Request{
		Builder:    Buildah,
		Context:    dir,
		Dockerfile: "build/Dockerfile",
		BuildArgs:  []string{"BASE=" + f.base.String()},
		Metadata:   meta,
		Approved:   []string{f.baseRepo},
		Insecure:   true,
		Created:    created,
	}
	// --timestamp makes buildah's output reproducible.
	res := buildTwice(t, f.builders(t), req)
	checkResult(t, f, res)
	if !res.NonRoot {
		t.Error("NonRoot = false after USER 65532")
	}
	if res.BaseName != f.base.String() {
		t.Errorf("BaseName = %s, want %s", res.BaseName, f.base)
	}
	if res.Parameters["build-arg.BASE"] != f.base.String() || res.Parameters["dockerfile"] != "build/Dockerfile" {
		t.Errorf("Parameters = %v", res.Parameters)
	}
	cfg, err := res.Image.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Created.Time.Equal(created) {
		t.Errorf("created = %v, want %v (buildah --timestamp)", cfg.Created, created)
	}
	// buildah 1.28 commits the second stage with an empty layer after the
	// COPY; the base's two come first either way.
	if len(cfg.RootFS.DiffIDs) < 3 {
		t.Errorf("%d layers, want the base's 2 and the COPY", len(cfg.RootFS.DiffIDs))
	}
	pushAndPull(t, f, res.Image, "team/hello")
}

// fakeTool writes an executable that records that it ran: the refusals
// below must come before any build tool runs.
func fakeTool(t *testing.T, name string) (lookPath func(string) (string, error), ran func() bool) {
	t.Helper()
	dir := t.TempDir()
	marker := filepath.Join(dir, "ran")
	writeFile(t, filepath.Join(dir, name), fmt.Sprintf("#!/bin/sh\ntouch %s\nexit 1\n", marker), 0o755)
	lookPath = func(file string) (string, error) {
		if file == name {
			return filepath.Join(dir, name), nil
		}
		return "", errNotFound
	}
	return lookPath, func() bool { _, err := os.Stat(marker); return err == nil }
}

func TestDockerfileBuildsRefusedBeforeBuilding(t *testing.T) {
	f := newFixture(t)
	for _, tt := range []struct {
		name, dockerfile string
		args             []string
		class            exit.Class
		saying           []string
	}{
		{"unapproved FROM", "FROM harbor.example/other/image:1\nUSER 65532\n", nil,
			exit.Failed, []string{"Dockerfile:1", "harbor.example/other/image:1", "is not approved", f.baseRepo}},
		{"unapproved through ARG override", "ARG BASE=" + f.base.String() + "\nFROM $BASE\n", []string{"BASE=docker.io/library/alpine:3"},
			exit.Failed, []string{"Dockerfile:2", "docker.io/library/alpine:3"}},
		{"scratch", "FROM " + f.base.String() + " AS build\nFROM scratch\nCOPY --from=build /etc/passwd /etc/passwd\n", nil,
			exit.Failed, []string{"Dockerfile:2", "scratch", "is not approved"}},
		{"stage alias to scratch", "FROM scratch AS empty\nFROM empty\n", nil,
			exit.Failed, []string{"Dockerfile:1", "scratch"}},
		{"empty FROM", "ARG BASE\nFROM ${BASE}\n", nil,
			exit.Usage, []string{"Dockerfile:2", "--build-arg"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "Dockerfile"), tt.dockerfile, 0o644)
			b := f.builders(t)
			var ran func() bool
			b.LookPath, ran = fakeTool(t, "buildah")
			_, err := b.Build(t.Context(), Request{Builder: Buildah, Context: dir, BuildArgs: tt.args, Approved: []string{f.baseRepo}})
			wantClass(t, err, tt.class, tt.saying...)
			if ran() {
				t.Error("buildah ran before the base was checked")
			}
		})
	}
}

func TestDockerfileNotFound(t *testing.T) {
	dir := t.TempDir()
	b := &Builders{LookPath: func(string) (string, error) { return "/bin/false", nil }}
	_, err := b.Build(t.Context(), Request{Builder: Buildah, Context: dir, Dockerfile: "docker/Dockerfile.prod"})
	wantClass(t, err, exit.Usage, "Dockerfile not found: "+filepath.Join(dir, "docker/Dockerfile.prod"), "--file is relative to --context "+dir)
}

func TestBuilderToolMissing(t *testing.T) {
	b := &Builders{LookPath: func(string) (string, error) { return "", errNotFound }, KanikoExecutor: "/nonexistent/executor"}
	for _, tt := range []struct{ builder, tool string }{
		{Buildah, "buildah"}, {Docker, "docker"}, {Kaniko, "/nonexistent/executor"},
	} {
		_, err := b.Build(t.Context(), Request{Builder: tt.builder, Context: t.TempDir()})
		wantClass(t, err, exit.Usage, "builder "+tt.builder+" needs "+tt.tool)
	}
}

// A Dockerfile that does not build fails with buildah's last words.
func TestBuildahFailureCarriesOutput(t *testing.T) {
	testenv.RequireTool(t, "buildah")
	f := newFixture(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "Dockerfile"), "FROM "+f.base.String()+"\nCOPY missing.txt /missing.txt\n", 0o644)
	var logs bytes.Buffer
	ctx := logging.WithContext(t.Context(), zerolog.New(&logs).Level(zerolog.DebugLevel))
	_, err := f.builders(t).Build(ctx, Request{Builder: Buildah, Context: dir, Approved: []string{f.baseRepo}, Insecure: true})
	wantClass(t, err, exit.Failed, "buildah bud", "missing.txt")
	// The whole output went to the log as it came, at debug level.
	if !strings.Contains(logs.String(), `"level":"debug","tool":"`) || !strings.Contains(logs.String(), "STEP 1/2: FROM") {
		t.Errorf("buildah's output is not in the log:\n%s", logs.String())
	}
}
