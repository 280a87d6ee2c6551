package policy

// RuntimeResult is one check of a started container (internal/runtimecheck):
// the caller runs the image and hands the outcome over as facts.
type RuntimeResult struct {
	Check   string // health, non-root-uid or sigterm
	Passed  bool
	Message string
}

// runtimeRules maps a runtime check to the rule it proves.
var runtimeRules = map[string]string{
	"health":       ruleRuntimeHealth,
	"non-root-uid": ruleRuntimeNonRoot,
	"sigterm":      ruleRuntimeSIGTERM,
}

func checkRuntime(_ Config, in Input) []Finding {
	var out []Finding
	for _, r := range in.Runtime {
		id, ok := runtimeRules[r.Check]
		if !ok || r.Passed {
			continue
		}
		obj := ""
		if in.Image != nil {
			obj = in.Image.Ref
		}
		out = append(out, Finding{Rule: id, Object: obj, Message: r.Message})
	}
	return out
}
