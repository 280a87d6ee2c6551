package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stepper-cd/stepper/internal/secret"
)

const canary = "canary-log-token-7c1e" // test secret, made for the tests

func TestJSONFieldsAndMasking(t *testing.T) {
	set := secret.NewSet()
	set.Add(canary)
	var buf bytes.Buffer
	log, err := New(&buf, Options{Format: FormatAuto, Level: "info", Secrets: set})
	if err != nil {
		t.Fatal(err)
	}
	log.Info().Str(Step, "deploy").Str(Env, "exttest").Str(App, "api").
		Str("url", "https://oauth2:"+canary+"@gitlab.example/dsf.git").
		Err(errors.New("push refused for token " + canary)).Msg("pushed")
	out := buf.String()
	if strings.Contains(out, canary) {
		t.Fatalf("secret leaked into log: %s", out)
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(out), &rec); err != nil {
		t.Fatalf("auto format on a non-terminal must be JSON: %v: %s", err, out)
	}
	for _, k := range []string{Step, Env, App, "time", "level", "message"} {
		if _, ok := rec[k]; !ok {
			t.Errorf("field %q missing in %s", k, out)
		}
	}
}

func TestConsoleMasks(t *testing.T) {
	set := secret.NewSet()
	set.Add(canary)
	var buf bytes.Buffer
	log, _ := New(&buf, Options{Format: FormatConsole, Level: "debug", Secrets: set})
	log.Debug().Str("token", canary).Msg("using " + canary)
	if strings.Contains(buf.String(), canary) || !strings.Contains(buf.String(), secret.Masked) {
		t.Fatalf("console output not masked: %s", buf.String())
	}
}

func TestBadOptions(t *testing.T) {
	for _, o := range []Options{{Format: "xml", Level: "info"}, {Format: "json", Level: "loud"}} {
		if _, err := New(&bytes.Buffer{}, o); err == nil {
			t.Errorf("New(%+v) accepted bad options", o)
		}
	}
}

func TestFromContext(t *testing.T) {
	if From(context.Background()) == nil {
		t.Fatal("From must never return nil")
	}
	var buf bytes.Buffer
	l, _ := New(&buf, Options{Format: FormatJSON, Level: "info"})
	From(WithContext(context.Background(), l)).Info().Msg("hello")
	if !strings.Contains(buf.String(), "hello") {
		t.Fatal("logger from context did not write")
	}
}

// Secrets that zerolog and the console writer escape, and one shorter than
// the substring-masking minimum, are masked in both formats at trace level.
func TestEscapedAndShortSecretsMasked(t *testing.T) {
	secrets := map[string]string{
		"quote-amp-angle": `pa"ss&w0rd<x`,
		"backslash":       `back\slash\pa>ss`,
		"short":           "q7z",
	}
	for _, format := range []string{FormatJSON, FormatConsole} {
		for name, sec := range secrets {
			t.Run(format+"/"+name, func(t *testing.T) {
				set := secret.NewSet()
				set.Add(sec)
				var buf bytes.Buffer
				log, err := New(&buf, Options{Format: format, Level: "trace", Secrets: set})
				if err != nil {
					t.Fatal(err)
				}
				log.Trace().Str("password", sec).Strs("args", []string{"--password", sec}).
					Interface("cfg", map[string]string{"token": sec}).
					Err(errors.New("login with " + sec + " refused")).Msg("using " + sec)
				out := buf.String()
				for _, leak := range leakedForms(sec) {
					if strings.Contains(out, leak) {
						t.Fatalf("secret %q leaked as %q in %s", sec, leak, out)
					}
				}
				if !strings.Contains(out, secret.Masked) {
					t.Fatalf("nothing masked in %s", out)
				}
			})
		}
	}
}

// leakedForms are the renderings of sec a log line must not hold.
func leakedForms(sec string) []string {
	js, _ := json.Marshal(sec)
	forms := []string{sec, string(js[1 : len(js)-1]), strings.Trim(fmt.Sprintf("%q", sec), `"`)}
	if len(sec) < 4 { // short secrets are masked as whole tokens only
		return []string{"=" + sec, `"` + sec + `"`, " " + sec + " "}
	}
	return forms
}
