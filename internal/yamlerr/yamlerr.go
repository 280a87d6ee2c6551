// Package yamlerr turns what go.yaml.in/yaml/v3 reports into the parts of
// a file:line message, for every strict YAML reader stepper has
// (stepper.yaml, policy files).
package yamlerr

import (
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

var lineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parserProblems are the messages of yaml.v3's parser, as opposed to its
// scanner. The parser reports 0-based line numbers, and none at all for the
// first line; the scanner reports 1-based ones.
var parserProblems = map[string]bool{
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"did not find expected '-' indicator":    true,
	"did not find expected <document start>": true,
	"did not find expected key":              true,
	"did not find expected node content":     true,
	"found undefined tag handle":             true,
	"found incompatible YAML document":       true,
	"found duplicate %YAML directive":        true,
	"found duplicate %TAG directive":         true,
}

// Syntax reads a yaml.v3 parse error: the 1-based line it is about (0 when
// it names none) and the problem, without yaml's "yaml: " prefix.
func Syntax(err error) (line int, problem string) {
	problem = strings.TrimPrefix(err.Error(), "yaml: ")
	if m := lineRE.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		problem = m[2]
	}
	if parserProblems[problem] {
		line++
	}
	return line, problem
}

// Shape names what a node is, for "want a list, got a mapping" messages:
// "a mapping", "a list", "nothing" for null, "something else" for the
// rest. A scalar gives "", for the caller to quote its value its own way.
func Shape(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if IsNull(n) {
			return "nothing"
		}
		return ""
	}
	return "something else"
}

// IsNull reports whether n is a null scalar (null, ~ or nothing at all).
func IsNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}
