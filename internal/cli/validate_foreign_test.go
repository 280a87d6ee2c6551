package cli

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/stepper-cd/stepper/internal/registry"
)

// Every image a release runs is checked, not only the one that was built:
// a pod whose proxy runs an unsigned nginx:latest from another registry
// breaks each image rule about where an image comes from and who vouches
// for it. An unsigned sidecar from the approved registry is found unsigned
// by the real signature check; a signed, pinned one passes; a Helm test
// hook's image is not checked.
func TestValidateChecksEveryImageTheWorkloadRuns(t *testing.T) {
	f := newValFixture(t)
	ctx := t.Context()
	client := registry.New(registry.Options{})
	img, _ := random.Image(512, 1)
	pushed, err := client.Push(ctx, f.otherHost+"/library/nginx", img)
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Tag(ctx, pushed.Ref, []string{"latest"}, true); err != nil {
		t.Fatal(err)
	}
	own := f.host + "/vendor-x/good@" + f.digests["good"]
	signedPinned := f.host + "/vendor-x/case-image-exec-form@" + f.digests["case-image-exec-form"]
	unsignedByTag := f.host + "/vendor-x/case-image-signed:1.0.0"
	foreign := f.otherHost + "/library/nginx:latest"

	chart, _ := filepath.Abs(filepath.Join("..", "..", "testdata", "validate", "charts", "foreign-images"))
	r := runCLI(t, []string{"HOME=" + t.TempDir()}, "validate", "-c", f.config, "--app", "foreign", "--image", own,
		"--chart", chart, "--set", "image="+own, "--set", "initImage="+signedPinned,
		"--set", "sidecarImage="+unsignedByTag, "--set", "foreignImage="+foreign, "-o", "json")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1 (errors found)\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	var res struct {
		Details struct {
			Findings []struct{ Rule, Severity, Object, File, Message string } `json:"findings"`
		} `json:"details"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, r.stdout)
	}
	byImage := map[string][]string{}
	for _, fd := range res.Details.Findings {
		if fd.Severity == "error" && !slices.Contains([]string{"", "chart foreign-images"}, fd.Object) {
			byImage[fd.Object] = append(byImage[fd.Object], fd.Rule)
			t.Logf("%s %s (%s): %s", fd.Rule, fd.Object, fd.File, fd.Message)
		}
	}
	want := map[string][]string{
		foreign:       {"image-approved-registry", "image-no-latest", "image-pinned", "image-signed"},
		unsignedByTag: {"image-pinned", "image-signed"},
	}
	for ref, rules := range want {
		got := byImage[ref]
		slices.Sort(got)
		if !slices.Equal(got, rules) {
			t.Errorf("%s: findings %v, want %v", ref, got, rules)
		}
	}
	for _, ref := range []string{own, signedPinned, "unchecked.example/test:latest"} {
		if got := byImage[ref]; len(got) > 0 {
			t.Errorf("%s: findings %v, want none", ref, got)
		}
	}
}
