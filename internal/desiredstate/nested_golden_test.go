package desiredstate

import (
	"bytes"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

const (
	fluxData     = "../../testdata/desiredstate/flux"
	helmfileData = "../../testdata/desiredstate/helmfile"
)

type nestedCase struct {
	name string // golden file stem
	dir  string // loaded with Load
	opts []Option
	app  string
	edit func(Document) (bool, error)
}

var prodEnv = []Option{WithEnvironment("prod")}

var nestedCases = []nestedCase{
	// Flux: the setter comments stay on the line of the value they mark.
	{"flux-tag-keeps-setter", fluxData + "/prod", nil, "blog-service",
		setImage("blog-service", Image{Repository: "docker.io/hostedshop/blog-service", Tag: "master-8c3d2e1"})},
	// Automation owns the tag, so no digest goes under it (automatedTag).
	{"flux-automated-tag-no-digest", fluxData + "/prod", nil, "blog-service",
		setImage("blog-service", Image{Repository: "docker.io/hostedshop/blog-service", Tag: "master-8c3d2e1", Digest: digestA})},
	{"flux-chart-version-keeps-comment", fluxData + "/prod", nil, "blog-service", setVersion("blog-service", "1.5.0")},
	{"flux-flow-image", fluxData + "/prod", nil, "news-service",
		setImage("news-service", Image{Repository: "docker.io/hostedshop/news-service", Tag: "master-5e6f7a8", Digest: digestB})},
	{"flux-values-next-to-anchor", fluxData + "/prod", nil, "news-service",
		setValues("news-service", map[string]string{"replicaCount": "4", "worker.replicas": "2"})},
	{"flux-unset-drops-empty-map", fluxData + "/prod", nil, "blog-service", unset("blog-service", "env.LOG_LEVEL")},
	{"flux-new-values-and-version", fluxData + "/prod", nil, "design-store", func(d Document) (bool, error) {
		if _, err := d.SetChartVersion("design-store", "2.1.0"); err != nil {
			return false, err
		}
		return d.SetImage("design-store", Image{Repository: "docker.io/hostedshop/design-store", Tag: "master-1b2c3d4"})
	}},
	{"flux-chartref-image", fluxData + "/prod", nil, "apps",
		setImage("apps", Image{Repository: "docker.io/hostedshop/apps", Tag: "master-beefcafe"})},
	// helmfile: the versions file when the release reads it, else the
	// release's own values file.
	{"helmfile-versions-file", helmfileData, prodEnv, "casework-api",
		setImage("casework-api", Image{Repository: "quay.io/ukhomeofficedigital/hocs-casework", Tag: "3.2.0"})},
	{"helmfile-versions-index", helmfileData, prodEnv, "audit",
		setImage("audit", Image{Repository: "quay.io/ukhomeofficedigital/hocs-audit", Tag: "1.9.0"})},
	{"helmfile-values-file-image", helmfileData, prodEnv, "frontend",
		setImage("frontend", Image{Repository: "quay.io/ukhomeofficedigital/hocs-frontend", Tag: "5.1.0", Digest: digestA})},
	{"helmfile-values", helmfileData, prodEnv, "casework-api",
		setValues("casework-api", map[string]string{"replicaCount": "4", "env.FEATURE_SEARCH": "true"})},
	{"helmfile-values-into-empty-file", helmfileData, prodEnv, "audit",
		setValues("audit", map[string]string{"env.LOG_LEVEL": "warn"})},
}

func TestNestedGoldenEdits(t *testing.T) {
	for _, tc := range nestedCases {
		t.Run(tc.name, func(t *testing.T) {
			doc, err := Load(tc.dir, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			before := doc.Files()
			orig := doc.(*nestedDoc).v
			changed, err := tc.edit(doc)
			if err != nil || !changed {
				t.Fatalf("edit: changed=%v err=%v", changed, err)
			}
			after := doc.Files()
			var diffs, afters strings.Builder
			for _, name := range sortedFiles(after) {
				if bytes.Equal(before[name], after[name]) {
					continue
				}
				diff, touched := unifiedDiff("a/"+name, "b/"+name, before[name], after[name])
				diffs.WriteString(diff)
				afters.WriteString("==> " + name + " <==\n")
				afters.Write(after[name])
				for _, line := range touched {
					if !ownLine(orig, tc.app, name, line) {
						t.Errorf("diff touches %s:%d, which is not %s's:\n%s", name, line, tc.app, diff)
					}
				}
			}
			checkGolden(t, filepath.Join(tc.dir, goldenDir(tc.dir), tc.name+".after"), []byte(afters.String()))
			checkGolden(t, filepath.Join(tc.dir, goldenDir(tc.dir), tc.name+".diff"), []byte(diffs.String()))

			// Re-applying is a no-op, in memory and on the reopened files.
			if again, err := tc.edit(doc); err != nil || again {
				t.Fatalf("re-apply: changed=%v err=%v", again, err)
			}
			reopened, err := Open(doc.Format(), after, tc.opts...)
			if err != nil {
				t.Fatalf("edited files do not parse: %v", err)
			}
			if again, err := tc.edit(reopened); err != nil || again {
				t.Fatalf("edit on the reopened files: changed=%v err=%v", again, err)
			}
			prior, err := Open(doc.Format(), before, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			others(t, prior, reopened, tc.app)
		})
	}
}

// goldenDir keeps Flux goldens next to the environments, not inside one.
func goldenDir(dir string) string {
	if strings.HasPrefix(dir, fluxData) {
		return "../golden"
	}
	return "golden"
}

// ownLine reports whether a line of a file belongs to app alone: inside
// the app's own document or release (up to the next app declared in the
// file), in a values file no other app reads, or holding one of the app's
// values (its entry in the versions file).
func ownLine(v *view, app, file string, line int) bool {
	a := v.apps[app]
	if a.app.Pos.File == file {
		var starts []int
		for _, o := range v.apps {
			if o.app.Pos.File == file {
				starts = append(starts, o.app.Pos.Line)
			}
		}
		sort.Ints(starts)
		hi := 1 << 30
		for _, s := range starts {
			if s > a.app.Pos.Line {
				hi = s - 1
				break
			}
		}
		// An insertion reports the line it follows, which may be the
		// last line of the document before.
		return line >= a.app.Pos.Line-1 && line <= hi
	}
	shared := false
	for name, o := range v.apps {
		for _, f := range o.app.ValuesFiles {
			if f == file && name != app {
				shared = true
			}
		}
	}
	for _, f := range a.app.ValuesFiles {
		if f == file && !shared {
			return true
		}
	}
	for _, l := range a.values {
		if l.file == file && l.s != nil && l.s.pos.Line == line {
			return true
		}
	}
	return a.version != nil && a.version.file == file && a.version.s != nil && a.version.s.pos.Line == line
}
