package report

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzReadJSON feeds the result-file decoder arbitrary bytes: it returns a
// result or an error, never panics, and what it accepts encodes again.
func FuzzReadJSON(f *testing.F) {
	good, err := json.Marshal(sample())
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		string(good),
		`{}`,
		`{"step":"deploy","status":"failed","exitCode":1,"duration":1e308}`,
		`{"duration":-1e400}`,
		`{"details":[[[[[[[[[[[[[[[[{}]]]]]]]]]]]]]]]]}`,
		`{"outputs":{"a":1}}`,
		`{"checks":[{"name":"x","duration":"2s"}]}`,
		`[`,
		"\xff\xfe",
		`null`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := parseResult(data)
		if err != nil {
			return
		}
		if _, err := json.Marshal(r); err != nil {
			t.Errorf("a decoded result does not encode again: %v", err)
		}
	})
}

func TestReadJSONRefusesHugeFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "result.json")
	body := `{"step":"deploy","error":"` + strings.Repeat("x", MaxResultSize) + `"}`
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := ReadJSON(path)
	if err == nil || !strings.Contains(err.Error(), "larger than 4 MiB") {
		t.Fatalf("ReadJSON(huge) = %v, want a size error", err)
	}
}

func TestReadJSONRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "result.json")
	if err := WriteJSON(path, sample(), secrets()); err != nil {
		t.Fatal(err)
	}
	r, err := ReadJSON(path)
	if err != nil {
		t.Fatal(err)
	}
	if r.Step != "smoke-test" || r.Status != Failed {
		t.Errorf("ReadJSON = %+v", r)
	}
}
