package status

import (
	"strings"
	"testing"
	"time"

	"github.com/stepper-cd/stepper/internal/gate"
)

// Everything the page shows comes from files and registries others write:
// a hostile reason, app name or evidence reference is text, never markup
// or a script link.
func TestWriteHTMLEscapes(t *testing.T) {
	hostile := `<script>alert(1)</script>`
	b := &Board{At: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC), Apps: []string{hostile},
		Environments: []Environment{{Name: "dev", Route: "commit", Head: "abc", HeadURL: "javascript:alert(1)", Apps: []Cell{{
			App: hostile, Env: "dev", Release: Release{Repository: "registry.example/x", Tag: `1.0"><img src=x onerror=alert(1)>`},
			Evidence: []gate.Result{{Gate: "signed", Passed: true, Found: hostile, Evidence: `registry.example/x:sha256-a.sig"><script>`}},
			Hold:     &Rollback{Commit: "abc", Reason: hostile, CommitURL: "javascript:alert(1)"},
		}}}}}
	var out strings.Builder
	if err := WriteHTML(&out, b); err != nil {
		t.Fatal(err)
	}
	page := out.String()
	for _, bad := range []string{"<script", "<img", "javascript:", "onerror=alert(1)>"} {
		if strings.Contains(page, bad) {
			t.Errorf("the page carries %q unescaped", bad)
		}
	}
	if !strings.Contains(page, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Error("the hostile app name is not shown as text")
	}
}
