package policy

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
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
	// file and line locate the expression, so a message about the rule
	// itself says where to fix it.
	file string
	line int
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
			switch v, msg := c.eval(map[string]any{}, image); v {
			case absent:
				out = append(out, Finding{Rule: c.ID, Object: in.Image.Ref, Message: c.cannotCheck(msg)})
			case broken:
				out = append(out, Finding{Rule: c.ID, Object: in.Image.Ref, Message: msg})
			}
			continue
		}
		out = append(out, c.checkObjects(in, image)...)
	}
	return out
}

// checkObjects runs an object rule on every rendered object of its kinds.
//
// A rule that names no kinds is written for the objects that have what it
// reads: where a key it reads is missing (a ConfigMap has no
// spec.template), it does not apply. If it applies to no object at all, an
// info finding says so, because that is as likely a mistake in the rule as
// a chart without such objects. A rule that names its kinds is meant for
// every object of them, so a missing key there is a finding: the object
// cannot show that the rule holds.
func (c *customRule) checkObjects(in Input, image map[string]any) []Finding {
	var out []Finding
	checked, missing := 0, ""
	for _, o := range in.Objects {
		kind := kindOf(o.Object)
		if isTestHook(o.Object) || len(c.kinds) > 0 && !slices.Contains(c.kinds, kind) {
			continue
		}
		v, msg := c.eval(o.Object, image)
		switch {
		case v == absent && len(c.kinds) == 0:
			missing = cmp.Or(missing, msg)
			continue
		case v == absent:
			msg = c.cannotCheck(msg)
		}
		checked++
		if v != holds {
			out = append(out, Finding{Rule: c.ID, Object: kind + "/" + str(o.Object, "metadata", "name"), File: o.Template, Message: msg})
		}
	}
	if checked == 0 && missing != "" {
		out = append(out, Finding{Rule: c.ID, Severity: Info, Object: chartName(in.Chart), File: c.file, Line: c.line,
			Message: "not checked: no rendered object has what the expression reads (" + missing +
				"); if the expression is right, name the kinds it is for under match.kinds"})
	}
	return out
}

// verdict is the outcome of evaluating a rule once.
type verdict int

const (
	holds  verdict = iota
	broken         // false, an evaluation error or the cost limit
	absent         // a key the expression reads is missing
)

// eval runs the rule and returns the finding's message when it does not
// hold; for absent, the message is CEL's, like "no such key: spec", and
// the caller decides whether that is a finding. An evaluation error is a
// finding that says where the expression is: the rule could not confirm
// what it demands.
func (c *customRule) eval(object, image map[string]any) (verdict, string) {
	val, _, err := c.program.Eval(map[string]any{"object": object, "image": image})
	switch {
	case err != nil && isMissingKey(err):
		return absent, err.Error()
	case err != nil:
		return broken, c.message + " (the expression at " + c.where() + " failed: " + err.Error() + ")"
	case val == types.True:
		return holds, ""
	case val == types.False:
		return broken, c.message
	default:
		return broken, fmt.Sprintf("%s (the expression at %s gave %v, not true or false)", c.message, c.where(), val)
	}
}

func (c *customRule) where() string { return c.file + ":" + strconv.Itoa(c.line) }

// cannotCheck is the message for an object or image that lacks a key the
// expression reads.
func (c *customRule) cannotCheck(missing string) string {
	return c.message + " (cannot be checked: " + missing + ", which the expression at " + c.where() + " reads)"
}

// isMissingKey reports whether an evaluation failed because a map has no
// such key. cel-go exports no type for it, only the message; a test pins
// the message so an upgrade that rewords it fails there.
func isMissingKey(err error) bool {
	return strings.HasPrefix(err.Error(), "no such key: ")
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
