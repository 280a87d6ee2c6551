package policy

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/stepper-cd/stepper/internal/yamlerr"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/suggest"
	"go.yaml.in/yaml/v3"
)

// A policy file changes the built-in policy for one repository or
// platform:
//
//	rules:                       # severities: error, warning, info or off
//	  image-base-annotation: {severity: error}
//	thresholds:
//	  minReplicas: 3
//	  maxTerminationGracePeriodSeconds: 10
//	  healthPath: /actuator/health
//	custom:                      # CEL rules; false is a finding
//	  - id: no-debug-port
//	    severity: warning        # default error
//	    message: the JVM debug port is open
//	    fix: remove -agentlib:jdwp from JAVA_TOOL_OPTIONS
//	    match: {kinds: [Deployment]}
//	    expr: "!object.spec.template.spec.containers.exists(c, has(c.ports) && c.ports.exists(p, p.containerPort == 5005))"
//	waivers:
//	  - {app: legacy-cache, rule: manifest-no-statefulset, reason: "INC-1234, moving to Redis", expires: 2027-01-31}
//
// A custom rule's expression sees object, the rendered object as a map,
// and image: ref, registry, tag, digest, user, entrypoint, cmd, env (a map),
// labels, annotations, signed and keyID. An expression that reads object
// runs once per rendered object of match.kinds; one that does not runs once
// per image. It must give true when the rule holds; false, an evaluation
// error or the cost limit is a finding, and so is a key the expression
// reads that an object of match.kinds lacks. Without match.kinds it runs on
// every object that has the keys it reads (a ConfigMap has no
// spec.template), and gives an info "not checked" finding when no object
// has them. A message about the expression itself names its file:line.
//
// A waiver needs all four keys. It holds until 00:00 UTC on its expiry
// date; after that the finding fails again and says the waiver expired.
// rules: and waivers: may name custom rules as well as built-in ones.
//
// Every key is checked: an unknown key, a key written twice, a value of the
// wrong type, an unknown rule id or an expression that does not compile is
// a *FileError at its file:line:col.

// Policy is the built-in rules with a policy file's changes. It is
// immutable once loaded; a nil *Policy is the built-in policy.
type Policy struct {
	File       string // the policy file; "" for the built-in policy
	rules      []Rule // built-in, then custom; with the file's severities
	index      map[string]int
	thresholds thresholds
	custom     []*customRule
	customByID map[string]*customRule
	waivers    []Waiver
}

type thresholds struct {
	minReplicas    *int
	maxGracePeriod *int
	healthPath     string
}

// maxFileSize bounds a policy file; real ones are a few kilobytes.
const maxFileSize = 1 << 20

// FileError is a problem in a policy file: where it is, the key path, what
// is wrong and what to do. Load returns it marked as an exit.Usage error.
type FileError struct {
	File    string
	Line    int // 1-based; 0 when the problem has no line
	Column  int // 1-based; 0 when unknown
	Path    string
	Problem string
	Hint    string
}

func (e *FileError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
		if e.Column > 0 {
			b.WriteString(":" + strconv.Itoa(e.Column))
		}
	}
	b.WriteString(": ")
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	b.WriteString(e.Problem)
	if e.Hint != "" {
		b.WriteString("; " + e.Hint)
	}
	return b.String()
}

var builtinPolicy = sync.OnceValue(func() *Policy { return newPolicy("") })

func (p *Policy) orDefault() *Policy {
	if p == nil {
		return builtinPolicy()
	}
	return p
}

func newPolicy(file string) *Policy {
	p := &Policy{File: file, rules: Rules(), index: map[string]int{}, customByID: map[string]*customRule{}}
	for i, r := range p.rules {
		p.index[r.ID] = i
	}
	return p
}

// Load reads a policy file; "" is the built-in policy.
func Load(path string) (*Policy, error) {
	if path == "" {
		return builtinPolicy(), nil
	}
	data, err := readLimited(path)
	if err != nil {
		return nil, exit.Mark(exit.Usage, &FileError{File: path, Problem: "cannot read the policy file: " + err.Error(),
			Hint: "name an existing YAML file, or leave the policy out to use the built-in rules"})
	}
	return parse(path, data)
}

// readLimited reads a regular file of at most maxFileSize bytes. It looks
// before it opens: opening a FIFO would block until a writer came.
func readLimited(name string) ([]byte, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return nil, unwrapPath(err)
	}
	if !fi.Mode().IsRegular() {
		return nil, errors.New("it is not a regular file")
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, unwrapPath(err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileSize {
		return nil, errors.New("the file is larger than 1 MiB")
	}
	return data, nil
}

// unwrapPath drops the "open name:" part of a path error: the message
// names the file already.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// parse reads the policy file text; file names it in errors.
func parse(file string, data []byte) (p *Policy, err error) {
	d := &fileDecoder{file: file, data: data, severityOf: map[string]Severity{}}
	defer func() {
		// yaml.v3 has panicked on inputs fuzzing found; a bad file must not
		// crash the CLI.
		if r := recover(); r != nil {
			p, err = nil, d.fail(nil, "", "the YAML parser gave up on this file", "check that it is valid YAML")
		}
	}()
	root, err := d.document()
	if err != nil {
		return nil, err
	}
	p = newPolicy(file)
	d.p = p
	d.known = slices.Concat(p.RuleIDs(), customIDs(root))
	pairs, err := d.fields(root, "", []string{"rules", "thresholds", "custom", "waivers"})
	if err != nil {
		return nil, err
	}
	for _, kv := range pairs {
		var err error
		switch kv.key.Value {
		case "custom":
			err = d.customRules(kv.value)
		case "rules":
			err = d.severities(kv.value)
		case "thresholds":
			err = d.thresholds(kv.value)
		case "waivers":
			err = d.waivers(kv.value)
		}
		if err != nil {
			return nil, err
		}
	}
	// Severities apply last: rules: may come before the custom rules it
	// changes.
	for id, sev := range d.severityOf {
		p.rules[p.index[id]].Severity = sev
	}
	return p, nil
}

type fileDecoder struct {
	file  string
	data  []byte
	p     *Policy
	known []string // every rule id, for references and did-you-mean
	// severityOf holds the severities rules: sets, applied once every
	// custom rule is known.
	severityOf map[string]Severity
}

type pair struct{ key, value *yaml.Node }

func (d *fileDecoder) fail(n *yaml.Node, path, problem, hint string) error {
	e := &FileError{File: d.file, Path: path, Problem: problem, Hint: hint}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	return exit.Mark(exit.Usage, e)
}

func (d *fileDecoder) failAt(line, col int, path, problem, hint string) error {
	return exit.Mark(exit.Usage, &FileError{File: d.file, Line: line, Column: col, Path: path, Problem: problem, Hint: hint})
}

// document parses the text into the root mapping.
func (d *fileDecoder) document() (*yaml.Node, error) {
	empty := d.fail(nil, "", "the file is empty",
		"write at least one of rules:, thresholds:, custom: or waivers:, or leave the policy out to use the built-in rules")
	if len(bytes.TrimSpace(d.data)) == 0 {
		return nil, empty
	}
	if i := bytes.IndexByte(d.data, 0); i >= 0 {
		line, col := d.position(i)
		return nil, d.failAt(line, col, "", "the file is binary, not YAML", "name a YAML text file")
	}
	if !utf8.Valid(d.data) {
		i := 0
		for r, size := utf8.DecodeRune(d.data); r != utf8.RuneError || size > 1; r, size = utf8.DecodeRune(d.data[i:]) {
			i += size
		}
		line, col := d.position(i)
		return nil, d.failAt(line, col, "", "the file is not UTF-8 text", "save it as UTF-8")
	}
	dec := yaml.NewDecoder(bytes.NewReader(d.data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, empty
		}
		return nil, d.syntaxError(err)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		return nil, d.fail(&extra, "", "the file holds more than one YAML document", "keep one document; remove the --- line")
	case !errors.Is(err, io.EOF):
		return nil, d.syntaxError(err)
	}
	if len(doc.Content) == 0 || isNull(doc.Content[0]) {
		return nil, empty
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, d.fail(root, "", "want a mapping of keys at the top level, got "+describe(root),
			"start with rules:, thresholds:, custom: or waivers:")
	}
	if err := d.checkTree(root, 0); err != nil {
		return nil, err
	}
	return root, nil
}

// maxDepth is far deeper than any policy file nests.
const maxDepth = 64

// checkTree refuses aliases and absurd nesting. Without aliases a policy
// file cannot hold an alias bomb or a cycle, and nothing needs counting.
func (d *fileDecoder) checkTree(n *yaml.Node, depth int) error {
	switch {
	case n.Kind == yaml.AliasNode:
		return d.fail(n, "", "aliases (*"+n.Value+") are not supported in a policy file", "write the values out; a policy file is short")
	case depth > maxDepth:
		return d.fail(n, "", "the document nests deeper than "+strconv.Itoa(maxDepth)+" levels", "check the indentation and brackets")
	}
	for _, c := range n.Content {
		if err := d.checkTree(c, depth+1); err != nil {
			return err
		}
	}
	return nil
}

func (d *fileDecoder) position(offset int) (line, col int) {
	before := d.data[:offset]
	return bytes.Count(before, []byte("\n")) + 1, utf8.RuneCount(before[bytes.LastIndexByte(before, '\n')+1:]) + 1
}

func (d *fileDecoder) syntaxError(err error) error {
	line, msg := yamlerr.Syntax(err)
	return d.failAt(line, 0, "", "not valid YAML: "+msg, "check the indentation and quoting on this line and the one before")
}

// fields returns the key/value pairs of mapping n, refusing keys that are
// not known, written twice or not plain words.
func (d *fileDecoder) fields(n *yaml.Node, path string, known []string) ([]pair, error) {
	if n.Kind != yaml.MappingNode {
		return nil, d.wrongKind(n, path, "a mapping of keys", "it takes "+strings.Join(known, ", "))
	}
	var out []pair
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, d.fail(k, path, "a key must be a plain word", "write `name: value`")
		}
		if k.ShortTag() == "!!merge" {
			return nil, d.fail(k, path, "merge keys (<<) are not supported in a policy file", "write the keys out")
		}
		kp := join(path, k.Value)
		if first, dup := seen[k.Value]; dup {
			return nil, d.fail(k, kp, "the key is written twice", "the first is at line "+strconv.Itoa(first.Line)+"; remove one of them")
		}
		seen[k.Value] = k
		if known != nil && !slices.Contains(known, k.Value) {
			return nil, d.fail(k, kp, "unknown key "+q(k.Value), joinHints(didYouMean(k.Value, known), "known keys: "+strings.Join(known, ", ")))
		}
		out = append(out, pair{k, v})
	}
	return out, nil
}

func (d *fileDecoder) list(n *yaml.Node, path, want, hint string, each func(item *yaml.Node, path string) error) error {
	if n.Kind != yaml.SequenceNode {
		return d.wrongKind(n, path, want, hint)
	}
	for i, item := range n.Content {
		ip := path + "[" + strconv.Itoa(i) + "]"
		if isNull(item) {
			return d.fail(item, ip, "the list entry is empty", "remove the empty `-` line")
		}
		if err := each(item, ip); err != nil {
			return err
		}
	}
	return nil
}

// text returns the text of a scalar value; a number or date is taken as
// written.
func (d *fileDecoder) text(n *yaml.Node, path, want string) (string, error) {
	if n.Kind != yaml.ScalarNode {
		return "", d.wrongKind(n, path, want, "")
	}
	switch n.ShortTag() {
	case "!!str", "!!int", "!!float", "!!bool", "!!timestamp":
		return n.Value, nil
	case "!!null":
		return "", d.fail(n, path, "the value is empty", "write "+want+" or remove the key")
	}
	return "", d.fail(n, path, "the tag "+q(n.Tag)+" is not supported", "write the value without a tag")
}

// required returns the non-blank text of a scalar value.
func (d *fileDecoder) required(n *yaml.Node, path, want string) (string, error) {
	s, err := d.text(n, path, want)
	if err == nil && strings.TrimSpace(s) == "" {
		err = d.fail(n, path, "the value is empty", "write "+want)
	}
	return s, err
}

func (d *fileDecoder) integer(n *yaml.Node, path string, lo, hi int) (int, error) {
	s, err := d.text(n, path, "a whole number")
	if err != nil {
		return 0, err
	}
	v, err := strconv.Atoi(s)
	if err != nil || n.ShortTag() == "!!str" {
		return 0, d.fail(n, path, q(s)+" is not a whole number", fmt.Sprintf("write a number from %d to %d", lo, hi))
	}
	if v < lo || v > hi {
		return 0, d.fail(n, path, strconv.Itoa(v)+" is out of range", fmt.Sprintf("write a number from %d to %d", lo, hi))
	}
	return v, nil
}

func (d *fileDecoder) severity(n *yaml.Node, path string) (Severity, error) {
	allowed := []string{string(Error), string(Warning), string(Info), string(Off)}
	s, err := d.text(n, path, "a severity")
	if err != nil {
		return "", err
	}
	if !slices.Contains(allowed, s) {
		return "", d.fail(n, path, q(s)+" is not a severity", joinHints("use one of "+strings.Join(allowed, ", "), didYouMean(s, allowed)))
	}
	return Severity(s), nil
}

// ruleRef checks that a value names a rule the policy knows.
func (d *fileDecoder) ruleRef(n *yaml.Node, path, id string) error {
	if slices.Contains(d.known, id) {
		return nil
	}
	return d.fail(n, path, "unknown rule "+q(id), joinHints(didYouMean(id, d.known), "the rules are listed at "+rulesLink))
}

// severities reads rules: {<id>: {severity: ...}}.
func (d *fileDecoder) severities(n *yaml.Node) error {
	pairs, err := d.fields(n, "rules", nil)
	if err != nil {
		return err
	}
	for _, kv := range pairs {
		id, path := kv.key.Value, join("rules", kv.key.Value)
		if err := d.ruleRef(kv.key, path, id); err != nil {
			return err
		}
		settings, err := d.fields(kv.value, path, []string{"severity"})
		if err != nil {
			return err
		}
		for _, s := range settings {
			sev, err := d.severity(s.value, join(path, "severity"))
			if err != nil {
				return err
			}
			d.severityOf[id] = sev
		}
	}
	return nil
}

func (d *fileDecoder) thresholds(n *yaml.Node) error {
	pairs, err := d.fields(n, "thresholds", []string{"minReplicas", "maxTerminationGracePeriodSeconds", "healthPath"})
	if err != nil {
		return err
	}
	t := &d.p.thresholds
	for _, kv := range pairs {
		path := join("thresholds", kv.key.Value)
		switch kv.key.Value {
		case "minReplicas":
			v, err := d.integer(kv.value, path, 1, 100)
			if err != nil {
				return err
			}
			t.minReplicas = &v
		case "maxTerminationGracePeriodSeconds":
			v, err := d.integer(kv.value, path, 0, 3600)
			if err != nil {
				return err
			}
			t.maxGracePeriod = &v
		case "healthPath":
			v, err := d.required(kv.value, path, "a URL path")
			if err != nil {
				return err
			}
			if !strings.HasPrefix(v, "/") || strings.ContainsAny(v, " \t?#") {
				return d.fail(kv.value, path, q(v)+" is not a URL path", "write a path like /healthz")
			}
			t.healthPath = v
		}
	}
	return nil
}

var customIDRE = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)

func (d *fileDecoder) customRules(n *yaml.Node) error {
	keys := []string{"id", "severity", "message", "fix", "link", "match", "expr"}
	return d.list(n, "custom", "a list of rules", "write one `- id: ...` entry per rule", func(item *yaml.Node, path string) error {
		pairs, err := d.fields(item, path, keys)
		if err != nil {
			return err
		}
		c := &customRule{Rule: Rule{Category: CategoryCustom, Severity: defaultCustomSeverity}}
		values := map[string]*yaml.Node{}
		for _, kv := range pairs {
			values[kv.key.Value] = kv.value
		}
		for _, k := range []string{"id", "message", "expr"} {
			if values[k] == nil {
				return d.fail(item, path, "a custom rule needs "+k+":", "write id:, message: and expr:, and fix: to say what to do")
			}
		}
		for _, kv := range pairs {
			kp := join(path, kv.key.Value)
			var err error
			switch kv.key.Value {
			case "id":
				c.ID, err = d.customID(kv.value, kp)
			case "severity":
				c.Severity, err = d.severity(kv.value, kp)
			case "message":
				c.message, err = d.required(kv.value, kp, "what is wrong when the expression is false")
				c.Title = c.message
			case "fix":
				c.Fix, err = d.required(kv.value, kp, "what to do")
			case "link":
				c.Link, err = d.required(kv.value, kp, "a URL")
			case "match":
				c.kinds, err = d.match(kv.value, kp)
			}
			if err != nil {
				return err
			}
		}
		if err := d.compile(c, values["expr"], join(path, "expr")); err != nil {
			return err
		}
		c.file, c.line = d.file, values["expr"].Line
		if len(c.kinds) > 0 {
			c.perObject = true
		}
		d.p.index[c.ID] = len(d.p.rules)
		d.p.rules = append(d.p.rules, c.Rule)
		d.p.custom = append(d.p.custom, c)
		d.p.customByID[c.ID] = c
		return nil
	})
}

func (d *fileDecoder) customID(n *yaml.Node, path string) (string, error) {
	id, err := d.required(n, path, "a rule id, like no-debug-port")
	switch {
	case err != nil:
		return "", err
	case !customIDRE.MatchString(id) || len(id) > 63:
		return "", d.fail(n, path, q(id)+" is not a rule id", "use lower-case letters, digits and -, at most 63, like no-debug-port")
	case isBuiltin(id):
		return "", d.fail(n, path, "rule "+q(id)+" is built in", "choose another id; change a built-in rule's severity under rules:")
	case d.p.customByID[id] != nil:
		return "", d.fail(n, path, "rule "+q(id)+" is defined twice", "give each custom rule its own id")
	}
	return id, nil
}

func isBuiltin(id string) bool {
	return slices.ContainsFunc(builtin, func(r Rule) bool { return r.ID == id })
}

func (d *fileDecoder) match(n *yaml.Node, path string) ([]string, error) {
	pairs, err := d.fields(n, path, []string{"kinds"})
	if err != nil {
		return nil, err
	}
	var kinds []string
	for _, kv := range pairs {
		kp := join(path, "kinds")
		err := d.list(kv.value, kp, "a list of kinds", "write [Deployment, StatefulSet]", func(item *yaml.Node, ip string) error {
			k, err := d.required(item, ip, "a kind, like Deployment")
			kinds = append(kinds, k)
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	return kinds, nil
}

// compile compiles the expression and reports a CEL error at the line and
// column it points at inside the file.
func (d *fileDecoder) compile(c *customRule, n *yaml.Node, path string) error {
	expr, err := d.required(n, path, "a CEL expression that is true when the rule holds")
	if err != nil {
		return err
	}
	issue := compileRule(c, expr)
	if issue == nil {
		return nil
	}
	line, col := d.exprPosition(n, issue.line, issue.column)
	return d.failAt(line, col, path, "the expression does not compile: "+issue.message,
		"the expression sees object (the rendered object) and image (user, entrypoint, cmd, env, labels, annotations) and must give true or false")
}

// exprPosition maps a position inside an expression to the file. On the
// expression's first line of a plain or quoted scalar the column is exact;
// in a block scalar (expr: |) the lines start on the next line, at the
// block's indentation.
func (d *fileDecoder) exprPosition(n *yaml.Node, line, col int) (int, int) {
	switch n.Style {
	case yaml.LiteralStyle, yaml.FoldedStyle:
		// The block's indentation is that of its first line; deeper
		// indentation on later lines is part of the expression.
		lines := strings.Split(string(d.data), "\n")
		if n.Line < len(lines) {
			first := lines[n.Line]
			indent := len(first) - len(strings.TrimLeft(first, " "))
			return n.Line + line, indent + col + 1
		}
		return n.Line + line, 0
	case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		if line == 1 {
			return n.Line, n.Column + col + 1
		}
	default:
		if line == 1 {
			return n.Line, n.Column + col
		}
	}
	return n.Line + line - 1, 0
}

func (d *fileDecoder) waivers(n *yaml.Node) error {
	keys := []string{"app", "rule", "reason", "expires"}
	first := map[[2]string]int{}
	return d.list(n, "waivers", "a list of waivers", "write one `- {app: ..., rule: ..., reason: ..., expires: YYYY-MM-DD}` entry per waiver", func(item *yaml.Node, path string) error {
		pairs, err := d.fields(item, path, keys)
		if err != nil {
			return err
		}
		var w Waiver
		have := map[string]bool{}
		for _, kv := range pairs {
			kp := join(path, kv.key.Value)
			have[kv.key.Value] = true
			var err error
			switch kv.key.Value {
			case "app":
				w.App, err = d.required(kv.value, kp, "the app's name")
			case "rule":
				if w.Rule, err = d.required(kv.value, kp, "a rule id"); err == nil {
					err = d.ruleRef(kv.value, kp, w.Rule)
				}
			case "reason":
				w.Reason, err = d.required(kv.value, kp, "why the app may break the rule, e.g. a ticket")
			case "expires":
				var s string
				if s, err = d.required(kv.value, kp, "a date, like 2027-01-31"); err == nil {
					var ok bool
					if w.Expires, ok = parseExpiry(s); !ok {
						err = d.fail(kv.value, kp, q(s)+" is not a date", "write YYYY-MM-DD, like 2027-01-31")
					}
				}
			}
			if err != nil {
				return err
			}
		}
		for _, k := range keys {
			if !have[k] {
				return d.fail(item, path, "a waiver needs "+k+":", "every waiver names the app and the rule, says why, and ends on a date")
			}
		}
		key := [2]string{w.App, w.Rule}
		if line, dup := first[key]; dup {
			return d.fail(item, path, "app "+q(w.App)+" has a second waiver for rule "+q(w.Rule),
				"the first is at line "+strconv.Itoa(line)+"; keep one")
		}
		first[key] = item.Line
		w.Expires = w.Expires.UTC()
		d.p.waivers = append(d.p.waivers, w)
		return nil
	})
}

// customIDs finds the ids of the custom rules before anything is decoded,
// so rules: and waivers: may name them wherever they are written.
func customIDs(root *yaml.Node) []string {
	var ids []string
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value != "custom" || root.Content[i+1].Kind != yaml.SequenceNode {
			continue
		}
		for _, item := range root.Content[i+1].Content {
			for j := 0; item.Kind == yaml.MappingNode && j+1 < len(item.Content); j += 2 {
				if item.Content[j].Value == "id" && item.Content[j+1].Kind == yaml.ScalarNode {
					ids = append(ids, item.Content[j+1].Value)
				}
			}
		}
	}
	return ids
}

func (d *fileDecoder) wrongKind(n *yaml.Node, path, want, hint string) error {
	return d.fail(n, path, "want "+want+", got "+describe(n), hint)
}

func describe(n *yaml.Node) string {
	if shape := yamlerr.Shape(n); shape != "" {
		return shape
	}
	return q(n.Value)
}

func isNull(n *yaml.Node) bool { return yamlerr.IsNull(n) }

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// q quotes a value for a message, cut short: a message must stay readable
// whatever the file holds.
func q(s string) string {
	const limit = 60
	if utf8.RuneCountInString(s) > limit {
		s = string([]rune(s)[:limit]) + "..."
	}
	return strconv.Quote(s)
}

func didYouMean(word string, candidates []string) string {
	if c := suggest.Closest(word, candidates); c != "" {
		return "did you mean " + q(c) + "?"
	}
	return ""
}

func joinHints(hints ...string) string {
	var out []string
	for _, h := range hints {
		if h != "" {
			out = append(out, h)
		}
	}
	return strings.Join(out, "; ")
}
