package depcheck

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/stepper-cd/stepper/"

// imports maps each package directory (relative to the module root) to the
// module packages its non-test files import.
func imports(t *testing.T) map[string]map[string]bool {
	t.Helper()
	root := filepath.Join("..", "..")
	out := map[string]map[string]bool{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") && p != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), p, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(p))
		rel = filepath.ToSlash(rel)
		if out[rel] == nil {
			out[rel] = map[string]bool{}
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			out[rel][path] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// The walls of STYLE.md: internal/* never imports steps/* or internal/cli;
// a step never imports internal/cli or another step; the CLI binds flags
// and clients and leaves desired state, git and YAML to the steps.
func TestWalls(t *testing.T) {
	pkgs := imports(t)
	if len(pkgs) < 10 {
		t.Fatalf("found only %d packages; is the walk rooted at the module?", len(pkgs))
	}
	for pkg, imps := range pkgs {
		for imp := range imps {
			inMod := strings.TrimPrefix(imp, module)
			switch {
			case strings.HasPrefix(pkg, "internal/") && pkg != "internal/cli" && (strings.HasPrefix(inMod, "steps/") || inMod == "internal/cli"):
				t.Errorf("%s imports %s: internal packages never import steps or the CLI", pkg, imp)
			case strings.HasPrefix(pkg, "steps/") && inMod == "internal/cli":
				t.Errorf("%s imports %s: a step never imports the CLI", pkg, imp)
			case strings.HasPrefix(pkg, "steps/") && strings.HasPrefix(inMod, "steps/") && inMod != pkg:
				t.Errorf("%s imports %s: steps hand results through internal/release, never import each other", pkg, imp)
			case !testTree(pkg) && (testTree(inMod) || imp == "testing"):
				t.Errorf("%s imports %s: the fakes and test helpers never ship in the binary", pkg, imp)
			case pkg == "internal/cli" && (inMod == "internal/desiredstate" || inMod == "internal/gitrepo" || imp == "go.yaml.in/yaml/v3"):
				t.Errorf("internal/cli imports %s: reading and editing desired state is a step's decision, not the CLI's", imp)
			}
		}
	}
}

// testTree tells the packages that exist for the tests and the demo:
// internal/testenv (the fakes among them) and internal/demo.
func testTree(pkg string) bool {
	for _, p := range []string{"internal/testenv", "internal/demo"} {
		if pkg == p || strings.HasPrefix(pkg, p+"/") {
			return true
		}
	}
	return false
}
