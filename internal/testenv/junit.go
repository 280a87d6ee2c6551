package testenv

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// ValidateJUnit checks the JUnit XML file at path against the schema of the
// JUnit reports GitLab reads (testdata/junit/gitlab-junit.xsd), with
// xmllint.
func ValidateJUnit(t testing.TB, path string) {
	t.Helper()
	xmllint := RequireTool(t, "xmllint")
	_, file, _, _ := runtime.Caller(0)
	xsd := filepath.Join(filepath.Dir(file), "..", "..", "testdata", "junit", "gitlab-junit.xsd")
	if out, err := exec.Command(xmllint, "--noout", "--schema", xsd, path).CombinedOutput(); err != nil {
		t.Errorf("%s is not JUnit XML that GitLab reads: %v\n%s", path, err, out)
	}
}
