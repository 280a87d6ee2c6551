package registry_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stepper-cd/stepper/internal/logging"
	"github.com/stepper-cd/stepper/internal/registry"
)

func TestLogProgress(t *testing.T) {
	reg := platform.Get(t).Registry
	var out bytes.Buffer
	log, err := logging.New(&out, logging.Options{Format: logging.FormatJSON, Level: "info"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := logging.WithContext(t.Context(), log)
	c := registry.New(registry.Options{Progress: registry.NewLogProgress(ctx)})
	img := randomImage(t, 4<<10, 3)
	pushed, err := c.Push(ctx, reg.Host+"/progress/log", img)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{} // digest -> outcome
	for _, l := range append(pushed.Layers, pushed.Config) {
		want[l.Digest.String()] = l.Outcome.String()
	}
	lines := 0
	for sc := bufio.NewScanner(&out); sc.Scan(); lines++ {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		digest, _ := rec[logging.Digest].(string)
		if want[digest] == "" || rec["outcome"] != want[digest] || rec["size"] == nil || rec[logging.Duration] == nil {
			t.Errorf("log line %s does not match the push's %v", sc.Text(), want)
		}
		delete(want, digest)
	}
	if lines != 4 || len(want) != 0 {
		t.Errorf("%d log lines, want one per blob (4); missing %v:\n%s", lines, want, out.String())
	}
}

func TestTerminalProgress(t *testing.T) {
	reg := platform.Get(t).Registry
	var out bytes.Buffer
	c := registry.New(registry.Options{Progress: registry.NewTerminalProgress(&out)})
	img := randomImage(t, 512<<10, 3)
	if _, err := c.Push(t.Context(), reg.Host+"/progress/term", img); err != nil {
		t.Fatal(err)
	}
	screen := out.String()
	if strings.Count(screen, "uploaded") < 4 || !strings.Contains(screen, "\x1b[") || !strings.Contains(screen, " / ") {
		t.Errorf("display lacks redrawn progress lines:\n%q", screen)
	}
	out.Reset()
	if _, err := c.Push(t.Context(), reg.Host+"/progress/term", img); err != nil {
		t.Fatal(err)
	}
	if strings.Count(out.String(), "existed") < 4 {
		t.Errorf("second push display: %q", out.String())
	}
}
