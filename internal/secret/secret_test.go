package secret

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
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

func TestShortValuesRefused(t *testing.T) {
	s := NewSet()
	if s.Add("ab") {
		t.Error("Add accepted a 2-character secret")
	}
	if got := s.Mask("ab cd"); got != "ab cd" {
		t.Errorf("got %q", got)
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
