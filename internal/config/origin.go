package config

import (
	"strconv"

	"go.yaml.in/yaml/v3"
)

// originKind is the layer a value came from, lowest priority first.
type originKind int

const (
	fromDefault  originKind = iota // a default in code
	fromProfile                    // a built-in profile
	fromPlatform                   // the platform file the platform team pins
	fromFile                       // stepper.yaml
	fromEnv                        // a STEPPER_* variable
	fromSet                        // a --set flag
	fromOption                     // an Options field, e.g. Profile from --profile
)

// origin is where one value was written: a layer, plus line and column for
// the layers that have them.
type origin struct {
	kind      originKind
	name      string // profile name, file name, variable name, "--set k=v" text or option name
	line, col int
}

// at returns o moved to the position of n; synthetic nodes (from variables
// and flags) have no position and leave o as it is.
func (o origin) at(n *yaml.Node) origin {
	if n != nil && n.Line > 0 {
		o.line, o.col = n.Line, n.Column
	}
	return o
}

// where is the location part of an Error for a value from o.
func (o origin) where() (file string, line, col int) {
	switch o.kind {
	case fromProfile:
		return "profile " + o.name, o.line, o.col
	case fromPlatform:
		return o.name, o.line, o.col
	case fromFile:
		return o.name, o.line, o.col
	case fromEnv:
		return "env " + o.name, 0, 0
	case fromSet, fromOption:
		return o.name, 0, 0
	}
	return "", 0, 0
}

// String is the source shown next to a value in the effective configuration.
func (o origin) String() string {
	switch o.kind {
	case fromProfile:
		return "profile " + o.name
	case fromPlatform:
		if o.line > 0 {
			return "platform " + o.name + ":" + strconv.Itoa(o.line)
		}
		return "platform " + o.name
	case fromFile:
		if o.line > 0 {
			return o.name + ":" + strconv.Itoa(o.line)
		}
		return o.name
	case fromEnv:
		return "env " + o.name
	case fromSet, fromOption:
		return o.name
	}
	return "default"
}
