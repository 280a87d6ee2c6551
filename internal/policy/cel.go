package policy

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/ext"
)

// Limits on custom rules. An expression is a line or two; the cost limit
// (CEL's abstract cost, about one unit per value visited) stops a
// comprehension over a huge manifest long before it hurts.
const (
	maxExprSize  = 10_000
	celCostLimit = 1_000_000
)

// customRule is a rule written in the policy file as a CEL expression over
// the rendered object (object) and the image (image). The expression says
// what must hold: false is a finding.
type customRule struct {
	Rule
	message string
	kinds   []string // object kinds the rule looks at; empty = all
	// perObject is true when the expression reads object: it runs once per
	// rendered object of the kinds; otherwise once per image.
	perObject bool
	program   cel.Program
}

var celEnv = sync.OnceValues(func() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable("object", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("image", cel.MapType(cel.StringType, cel.DynType)),
		ext.Strings(),
		cel.ParserExpressionSizeLimit(maxExprSize),
	)
})

// celIssue is a compile error, at a 1-based line and 0-based column inside
// the expression.
type celIssue struct {
	line, column int
	message      string
}

// compileRule compiles expr into c; a problem comes back as a celIssue.
func compileRule(c *customRule, expr string) *celIssue {
	env, err := celEnv()
	if err != nil { // the environment is fixed; only a bug gets here
		return &celIssue{line: 1, message: "cannot set up CEL: " + err.Error()}
	}
	ast, iss := env.Compile(expr)
	if iss != nil && iss.Err() != nil {
		e := iss.Errors()[0]
		return &celIssue{line: e.Location.Line(), column: e.Location.Column(), message: e.Message}
	}
	if t := ast.OutputType(); !t.IsExactType(cel.BoolType) && !t.IsExactType(cel.DynType) {
		return &celIssue{line: 1, message: "the expression gives a value of type " + t.String() + ", not true or false"}
	}
	for _, r := range ast.NativeRep().ReferenceMap() {
		if r.Name == "object" {
			c.perObject = true
		}
	}
	prg, err := env.Program(ast, cel.CostLimit(celCostLimit))
	if err != nil {
		return &celIssue{line: 1, message: err.Error()}
	}
	c.program = prg
	return nil
}

func (c *customRule) applies(in Input) bool {
	if c == nil {
		return false
	}
	if c.perObject {
		return in.Objects != nil
	}
	return in.Image != nil
}

func (p *Policy) checkCustom(in Input) []Finding {
	var out []Finding
	for _, c := range p.custom {
		if p.rules[p.index[c.ID]].Severity == Off || !c.applies(in) {
			continue
		}
		image := imageFacts(in.Image)
		if !c.perObject {
			if f, broken := c.eval(map[string]any{}, image); broken {
				f.Object = in.Image.Ref
				out = append(out, f)
			}
			continue
		}
		for _, o := range in.Objects {
			kind := kindOf(o.Object)
			if isTestHook(o.Object) || len(c.kinds) > 0 && !slices.Contains(c.kinds, kind) {
				continue
			}
			if f, broken := c.eval(o.Object, image); broken {
				f.Object, f.File = kind+"/"+str(o.Object, "metadata", "name"), o.Template
				out = append(out, f)
			}
		}
	}
	return out
}

// eval runs the rule. An evaluation error (a missing key, the cost limit)
// is a finding that says so: the rule could not confirm what it demands.
func (c *customRule) eval(object, image map[string]any) (Finding, bool) {
	f := Finding{Rule: c.ID}
	val, _, err := c.program.Eval(map[string]any{"object": object, "image": image})
	switch {
	case err != nil:
		f.Message = c.message + " (the expression failed: " + err.Error() + ")"
	case val == types.True:
		return f, false
	case val == types.False:
		f.Message = c.message
	default:
		f.Message = fmt.Sprintf("%s (the expression gave %v, not true or false)", c.message, val)
	}
	return f, true
}

// imageFacts is what a custom rule sees as image; empty when there is none.
func imageFacts(img *Image) map[string]any {
	if img == nil {
		return map[string]any{}
	}
	env := map[string]any{}
	for _, kv := range img.Env {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	return map[string]any{
		"ref":         img.Ref,
		"registry":    img.Registry,
		"tag":         img.Tag,
		"digest":      orElse(img.Digest, img.ResolvedDigest),
		"user":        img.User,
		"entrypoint":  stringList(img.Entrypoint),
		"cmd":         stringList(img.Cmd),
		"env":         env,
		"labels":      stringMap(img.Labels),
		"annotations": stringMap(img.Annotations),
		"signed":      img.Signature.Verified,
		"keyID":       img.Signature.KeyID,
	}
}

func stringList(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

func stringMap(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
