package config

import (
	"strconv"

	"github.com/stepper-cd/stepper/internal/secret"
	"go.yaml.in/yaml/v3"
)

// Limits on a parsed document. stepper.yaml is a small, shallow file; these
// are far above anything real and far below what hurts.
const (
	maxFileSize = 1 << 20 // bytes
	maxDepth    = 64      // nesting levels, counting through aliases
	maxExpanded = 100_000 // nodes reached through aliases (billion laughs)
)

// checkTree walks a parsed document once before decoding, following aliases
// as decoding will. It refuses alias cycles, alias bombs and absurd nesting,
// so the decoder can follow aliases without counting, and it registers every
// password written in a URL, so no later message can print one.
func checkTree(root *yaml.Node, o origin, set *secret.Set) error {
	w := treeWalk{o: o, set: set, active: map[*yaml.Node]bool{}}
	return w.visit(root, 0, false)
}

type treeWalk struct {
	o        origin
	set      *secret.Set
	expanded int
	active   map[*yaml.Node]bool // anchors being expanded right now
	outer    *yaml.Node          // the alias, written outside any anchor, being expanded
}

func (w *treeWalk) visit(n *yaml.Node, depth int, aliased bool) error {
	if depth > maxDepth {
		return fail(w.o.at(n), nil, "the document nests deeper than "+strconv.Itoa(maxDepth)+" levels",
			"stepper.yaml is shallow; check the indentation and brackets")
	}
	if aliased {
		if w.expanded++; w.expanded > maxExpanded {
			return fail(w.o.at(w.outer), nil, "aliases expand to more than "+strconv.Itoa(maxExpanded)+" values",
				"this looks like an alias bomb; write the values out or nest fewer aliases")
		}
	}
	switch n.Kind {
	case yaml.AliasNode:
		if n.Alias == nil {
			return fail(w.o.at(n), nil, "alias *"+n.Value+" has no anchor", "define &"+n.Value+" before using it")
		}
		if w.active[n.Alias] {
			return fail(w.o.at(n), nil, "alias *"+n.Value+" refers to itself", "an alias cannot point into its own anchor")
		}
		if !aliased {
			w.outer = n
		}
		w.active[n.Alias] = true
		defer delete(w.active, n.Alias)
		return w.visit(n.Alias, depth+1, true)
	case yaml.ScalarNode:
		if !aliased {
			registerURLSecret(w.set, n.Value)
		}
	}
	for _, c := range n.Content {
		if err := w.visit(c, depth+1, aliased); err != nil {
			return err
		}
	}
	return nil
}
