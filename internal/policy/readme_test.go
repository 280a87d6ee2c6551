package policy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every rule's Link points at the README; the README must have the anchor
// and say the rule's severity and fix.
func TestREADMEDocumentsEveryRule(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for _, r := range Rules() {
		anchor := `<a id="rule-` + r.ID + `"></a>`
		i := strings.Index(readme, anchor)
		if i < 0 {
			t.Errorf("README.md has no %s", anchor)
			continue
		}
		line, _, _ := strings.Cut(readme[i:], "\n")
		if !strings.Contains(line, "| "+string(r.Severity)+" |") || !strings.Contains(line, r.Fix) {
			t.Errorf("README.md's row for %s does not match the rule (severity %s, fix %q)", r.ID, r.Severity, r.Fix)
		}
	}
}
