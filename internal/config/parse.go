package config

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/stepper-cd/stepper/internal/yamlerr"
	"io"
	"regexp"
	"unicode/utf8"

	"github.com/stepper-cd/stepper/internal/secret"
	"go.yaml.in/yaml/v3"
)

// parseDocument turns the bytes of a config file into the root mapping of a
// node tree that decoding can follow without further checks. Every failure
// is an *Error pointing at a line.
func parseDocument(data []byte, o origin, set *secret.Set) (root *yaml.Node, err error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errEmpty(o)
	}
	if err := checkText(data, o); err != nil {
		return nil, err
	}
	defer func() {
		// The parser panics on a few inputs fuzzing has found in the past;
		// whatever it does, a bad file must not crash the CLI.
		if r := recover(); r != nil {
			root, err = nil, fail(o, nil, "the YAML parser gave up on this file", "check that it is valid YAML")
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errEmpty(o)
		}
		return nil, syntaxError(err, data, o)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		return nil, fail(o.at(&extra), nil, "the file holds more than one YAML document", "keep one document; remove the --- line")
	case !errors.Is(err, io.EOF):
		return nil, syntaxError(err, data, o)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 || isNull(doc.Content[0]) {
		return nil, errEmpty(o)
	}
	root = doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fail(o.at(root), nil, "want a mapping of keys at the top level, got "+describe(root),
			"start with keys such as profile:, chain: and environments:")
	}
	if err := checkTree(root, o, set); err != nil {
		return nil, err
	}
	return root, nil
}

func errEmpty(o origin) error {
	return fail(o, nil, "the file is empty",
		"write at least one key, like `profile: ehealth`, or remove the file to use the built-in defaults")
}

// checkText refuses binary content with a message that says so, instead of
// whatever the YAML scanner makes of a NUL byte.
func checkText(data []byte, o origin) error {
	if i := bytes.IndexByte(data, 0); i >= 0 {
		return fail(positionOf(data, i, o), nil, "the file is binary, not YAML", "name a YAML text file")
	}
	if !utf8.Valid(data) {
		i := 0
		for i < len(data) {
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size <= 1 {
				break
			}
			i += size
		}
		return fail(positionOf(data, i, o), nil, "the file is not UTF-8 text", "save it as UTF-8")
	}
	return nil
}

func positionOf(data []byte, offset int, o origin) origin {
	before := data[:offset]
	o.line = bytes.Count(before, []byte("\n")) + 1
	o.col = utf8.RuneCount(before[bytes.LastIndexByte(before, '\n')+1:]) + 1
	return o
}

var (
	yamlAnchorRE = regexp.MustCompile(`^yaml: unknown anchor '(.*)' referenced$`)
)

// syntaxError turns a yaml.v3 parse error ("yaml: line 3: did not find
// expected key") into an *Error at that line.
func syntaxError(err error, data []byte, o origin) error {
	line, msg := yamlerr.Syntax(err)
	o.line, o.col = line, 0
	if m := yamlAnchorRE.FindStringSubmatch(err.Error()); m != nil {
		if i := bytes.Index(data, []byte("*"+m[1])); i >= 0 {
			o = positionOf(data, i, o)
		}
	}
	hint := "check the indentation and quoting on this line and the one before"
	if yamlAnchorRE.MatchString(err.Error()) {
		hint = "define the anchor (&name) before the alias (*name) that uses it"
	}
	return fail(o, nil, fmt.Sprintf("not valid YAML: %s", msg), hint)
}
