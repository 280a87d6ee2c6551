package signing

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
)

// What a separate sign job cannot check is marked unverified in the
// provenance it signs.
func TestProvenanceMarksUnverified(t *testing.T) {
	subject, _ := name.NewDigest("registry.example.test/app@sha256:" + strings.Repeat("0", 64))
	st, err := Provenance{BuilderID: "b", Unverified: []string{"parameters", "builder"}}.Statement(subject)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(st)
	if !strings.Contains(string(b), `"unverified":"builder,parameters"`) {
		t.Errorf("statement does not mark the unverified facts: %s", b)
	}
}
