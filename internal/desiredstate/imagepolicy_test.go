package desiredstate

import (
	"strings"
	"testing"
)

// Under a tag Flux image automation owns, a digest goes stale the next
// time automation moves the tag: it is written only when it has its own
// :digest setter, and a stale one is blanked.
func TestNoDigestUnderAutomatedTag(t *testing.T) {
	const head = hrHead + "      version: 1.0.0\n  values:\n    image: # automation owns the tag\n"
	const tagLine = "      tag: master-1 # {\"$imagepolicy\": \"shop:api:tag\"}\n"
	for _, tc := range []struct {
		name, image string // the image mapping's other lines
		want        string // the image mapping after the edit
		digest      string // as read back
	}{
		{"stale digest is blanked", tagLine + "      digest: " + digestB + " # pinned at the last deploy\n",
			"      tag: master-2 # {\"$imagepolicy\": \"shop:api:tag\"}\n      digest: \"\" # pinned at the last deploy\n", ""},
		{"no digest is added", tagLine,
			"      tag: master-2 # {\"$imagepolicy\": \"shop:api:tag\"}\n", ""},
		{"digest with its own setter is written", tagLine + "      digest: " + digestB + " # {\"$imagepolicy\": \"shop:api:digest\"}\n",
			"      tag: master-2 # {\"$imagepolicy\": \"shop:api:tag\"}\n      digest: " + digestA + " # {\"$imagepolicy\": \"shop:api:digest\"}\n", digestA},
		{"no automation, the digest is added", "      tag: master-1 # set by stepper\n",
			"      tag: master-2 # set by stepper\n      digest: " + digestA + "\n", digestA},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := mustOpenFiles(t, Flux, map[string][]byte{"hr.yaml": []byte(head + tc.image)})
			if changed, err := doc.SetImage("api", Image{Tag: "master-2", Digest: digestA}); err != nil || !changed {
				t.Fatalf("set image: %v %v", changed, err)
			}
			got := string(doc.Files()["hr.yaml"])
			if !strings.HasSuffix(got, head+tc.want) {
				t.Errorf("got:\n%s\nwant the image as:\n%s", got, tc.want)
			}
			if a, _ := doc.App("api"); a.Image.Tag != "master-2" || a.Image.Digest != tc.digest {
				t.Errorf("reads back as %+v", a.Image)
			}
		})
	}
}
