package config

import (
	"slices"
	"strings"

	"github.com/stepper-cd/stepper/internal/exit"
)

// Chain returns the environments of the selected chain, in the order a
// release visits them.
func (c *Config) Chain() []*Environment { return slices.Clone(c.chain) }

// Environment returns the environment called name in the selected chain.
// Case is ignored, so EXTTEST finds exttest. An unknown name, or one that
// is defined but not in this chain, is a usage error that lists the chain
// and the closest name.
func (c *Config) Environment(name string) (*Environment, error) {
	if i := c.indexOf(name); i >= 0 {
		return c.chain[i], nil
	}
	chain := c.chainText()
	if e := c.defined(strings.ToLower(name)); e != nil {
		return nil, exit.Mark(exit.Usage, &Error{
			Problem: "environment " + q(e.Name) + " is not in the selected chain; the " + chain,
			Hint:    "choose another chain with chain: in stepper.yaml, STEPPER_CHAIN or " + c.flagName() + " chain=NAME",
		})
	}
	names := make([]string, len(c.chain))
	for i, e := range c.chain {
		names[i] = e.Name
	}
	hint := didYouMean(name, names)
	if len(names) == 0 {
		hint = "no environments are defined; set profile: ehealth or list environments in stepper.yaml"
	}
	return nil, exit.Mark(exit.Usage, &Error{
		Problem: "unknown environment " + q(name) + "; the " + chain,
		Hint:    hint,
	})
}

// Next returns the environment after name in the chain: where a release
// that passed name is promoted to. It reports false for the last
// environment and for a name not in the chain.
func (c *Config) Next(name string) (*Environment, bool) {
	if i := c.indexOf(name); i >= 0 && i+1 < len(c.chain) {
		return c.chain[i+1], true
	}
	return nil, false
}

// Previous returns the environment before name in the chain: where a
// release must have passed before it may enter name.
func (c *Config) Previous(name string) (*Environment, bool) {
	if i := c.indexOf(name); i > 0 {
		return c.chain[i-1], true
	}
	return nil, false
}

func (c *Config) indexOf(name string) int {
	if i := slices.IndexFunc(c.chain, func(e *Environment) bool { return e.Name == name }); i >= 0 {
		return i
	}
	return slices.IndexFunc(c.chain, func(e *Environment) bool { return strings.EqualFold(e.Name, name) })
}

// chainText describes the chain for messages: "vendor chain is devenvcgi →
// exttest → preprod → prod".
func (c *Config) chainText() string {
	names := make([]string, len(c.chain))
	for i, e := range c.chain {
		names[i] = e.Name
	}
	label := "chain"
	if c.ChainName != "" {
		label = c.ChainName + " chain"
	}
	if len(names) == 0 {
		return label + " is empty"
	}
	return label + " is " + strings.Join(names, " → ")
}

// Before returns the environments a release must have passed to enter
// name, on any defined chain: the one before name in each chain that holds
// it (exttest is entered from inttest on eHealth's internal chain and from
// devenvcgi on its vendor chain). None for a first environment.
func (c *Config) Before(name string) []string {
	var out []string
	for _, chain := range sortedKeys(c.Chains) {
		list := c.Chains[chain]
		if i := slices.Index(list, name); i > 0 && !slices.Contains(out, list[i-1]) {
			out = append(out, list[i-1])
		}
	}
	if len(c.Chains) == 0 {
		if prev, ok := c.Previous(name); ok {
			out = append(out, prev.Name)
		}
	}
	return out
}
