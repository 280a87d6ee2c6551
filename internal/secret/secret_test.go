package secret

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"strings"
	"testing"
)

const canary = "canary-s3cr3t-9f1c" // test secret, made for the tests

func TestMaskEveryForm(t *testing.T) {
	s := NewSet()
	if !s.Add(canary) {
		t.Fatal("Add refused a long secret")
	}
	for _, form := range []string{
		canary,
		base64.StdEncoding.EncodeToString([]byte(canary)),
		"https://user:" + canary + "@git.example/x.git",
	} {
		got := s.Mask("before " + form + " after")
		if strings.Contains(got, canary) || strings.Contains(got, base64.StdEncoding.EncodeToString([]byte(canary))) {
			t.Errorf("Mask left the secret in %q", got)
		}
		if !strings.Contains(got, Masked) {
			t.Errorf("Mask(%q) = %q, want %s in it", form, got, Masked)
		}
	}
}

func TestLongestSecretMaskedWhole(t *testing.T) {
	s := NewSet()
	s.Add("abcd")
	s.Add("abcdefgh-long")
	if got := s.Mask("x abcdefgh-long y"); got != "x "+Masked+" y" {
		t.Errorf("got %q", got)
	}
}

func TestShortSecretsMaskedAsWholeTokens(t *testing.T) {
	s := NewSet()
	if !s.Add("x9z") {
		t.Fatal("Add refused a 3-character secret")
	}
	for in, want := range map[string]string{
		"password=x9z":            "password=" + Masked,
		`{"token":"x9z"}`:         `{"token":"` + Masked + `"}`,
		"user:x9z@host":           "user:" + Masked + "@host",
		"x9z":                     Masked,
		"ax9z x9za x9z_ 1x9z":     "ax9z x9za x9z_ 1x9z", // inside words: left alone
		"login x9z, then x9z.":    "login " + Masked + ", then " + Masked + ".",
		"b64 " + "eDl6" + " done": "b64 " + Masked + " done",
	} {
		if got := s.Mask(in); got != want {
			t.Errorf("Mask(%q) = %q, want %q", in, got, want)
		}
	}
	if s.Add("") {
		t.Error("Add accepted an empty secret")
	}
}

func TestEscapedFormsMasked(t *testing.T) {
	for _, sec := range []string{`pa"ss&w0rd<x`, `back\slash>`, "tab\tand\u2028line"} {
		s := NewSet()
		s.Add(sec)
		var noHTML bytes.Buffer
		enc := json.NewEncoder(&noHTML)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(sec)
		htmlJSON, _ := json.Marshal(sec)
		for _, rendered := range []string{
			string(htmlJSON),
			noHTML.String(),
			fmt.Sprintf("%q", sec),
			html.EscapeString(sec),
		} {
			if got := s.Mask("x " + rendered + " y"); strings.Contains(got, "w0rd") || strings.Contains(got, "slash") || strings.Contains(got, "and") {
				t.Errorf("secret %q leaked from rendering %q: %q", sec, rendered, got)
			}
		}
	}
}

func TestPEMLinesMaskedSeparately(t *testing.T) {
	key := "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\nTESTONLYTESTONLYTESTONLYTESTONLY\n-----END PRIVATE KEY-----"
	s := NewSet()
	s.Add(key)
	got := s.Mask("line: MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg")
	if strings.Contains(got, "MIGHAgEA") {
		t.Errorf("a line of the key leaked: %q", got)
	}
}

func TestWriter(t *testing.T) {
	s := NewSet()
	s.Add(canary)
	var buf bytes.Buffer
	fmt.Fprintf(s.Writer(&buf), `{"msg":"token %s"}`, canary)
	if strings.Contains(buf.String(), canary) {
		t.Errorf("writer leaked: %s", buf.String())
	}
}

func TestValueNeverFormats(t *testing.T) {
	v := NewValue(canary, nil)
	js, _ := json.Marshal(struct{ P Value }{v})
	for _, out := range []string{fmt.Sprint(v), fmt.Sprintf("%v %+v %#v %s", v, v, v, v), string(js)} {
		if strings.Contains(out, canary) {
			t.Errorf("Value leaked in %q", out)
		}
	}
	if v.Reveal() != canary {
		t.Error("Reveal lost the value")
	}
}

func TestJSONEscapedFormMasked(t *testing.T) {
	key := "-----BEGIN KEY-----\nTESTONLYabc\"def\n-----END KEY-----"
	s := NewSet()
	s.Add(key)
	js, _ := json.Marshal(map[string]string{"k": key})
	if got := s.Mask(string(js)); strings.Contains(got, "TESTONLYabc") {
		t.Errorf("JSON-escaped secret leaked: %s", got)
	}
}
