package desiredstate

// Holding an app's image against Flux image automation. A rollback writes
// an older tag; image-automation-controller would write the newest one
// back on its next run (the failure of argoproj-labs/argocd-image-updater
// #1249). While an app is held, the setter comments on its image lines are
// renamed so that automation no longer sees them, and the policy they name
// stays on the line for when the hold is released.
//
// How automation finds a setter, as of fluxcd/image-automation-controller
// 4e3c0e09d4408309a9ad2414dba80893c4ad45c3 (internal/update/filereader.go,
// setters.go and filter.go's getSchema, through kyaml v0.21.1
// fieldmeta.FieldMeta.Read with the shorthand set to "$imagepolicy"):
//
//   - Only .yaml and .yml files whose bytes contain the token
//     `"$imagepolicy"`, quotes included, are read at all.
//   - Only scalar values are visited, and of each only its line comment
//     (its head comment when the line has none; a comment above `key:`
//     belongs to the key, which is never visited).
//   - The comment with its leading '#'s cut must decode with
//     encoding/json into a map[string]string whose "$imagepolicy" entry is
//     not empty. Anything else (trailing text, a value that is no string)
//     is no shorthand setter. Map keys decode case-sensitively.
//   - Failing that, the comment decoded as an OpenAPI schema applies when
//     it carries a "$ref" to #/definitions/io.k8s.cli.setters.<name> or an
//     inline "x-k8s-cli" setter.
//
// The held form renames the key and nothing else:
//
//	tag: master-7c6b5a4-1763400000 # {"$imagepolicy-held-by-stepper": "flux-system:blog-service-master:tag"}
//
// It is inert under every rule above: the object has no "$imagepolicy"
// entry, no "$ref" and no "x-k8s-cli", and its text does not even contain
// the screening token, so a file whose setters are all held is not read.
// A reader sees which policy the line follows and who stopped it. Spacing,
// other keys and the policy are kept byte for byte, so releasing renames
// the key back and gives the original line.
//
// Setters in forms stepper cannot rename surely (the long "$ref" form, a
// key written with JSON escapes, a comment that is not right after the
// value, or above a value on a line of its own) fail the hold with the
// line to fix and leave the files as they were.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
)

const (
	// liveSetterKey is the key of a setter comment automation applies.
	liveSetterKey = "$imagepolicy"
	// heldSetterKey is the same key while stepper holds the line.
	heldSetterKey = "$imagepolicy-held-by-stepper"
)

// HoldImage makes image automation leave app's image lines alone while a
// rollback holds it: every image-policy setter comment on the app's image
// lines (Keys' repository, tag and digest) is turned into its held form.
// It reports false when there was nothing live to hold: formats without
// automation setters (Helmsman TOML, and Helmsman YAML and helmfile values
// that carry none) report false, nil. Idempotent. Only the comments change,
// so SetImage on a held line writes the value and keeps the held form: a
// rollback writes the older tag and holds it in one change.
func HoldImage(doc Document, app string) (bool, error) {
	return setHeld(doc, app, heldSetter)
}

// ReleaseImage turns held setter comments on app's image lines back into
// live ones, so automation moves the app again. Idempotent.
func ReleaseImage(doc Document, app string) (bool, error) {
	return setHeld(doc, app, liveSetter)
}

// ImageHeld reports whether app's image lines carry held setters (any of
// them: a line whose held comment was made live again by hand does not
// undo the others).
func ImageHeld(doc Document, app string) (bool, error) {
	h, err := holderOf(doc)
	if err != nil {
		return false, fmt.Errorf("image setters of %s: %w", app, err)
	}
	spots, err := appSetters(h, app)
	if err != nil {
		return false, fmt.Errorf("image setters of %s: %w", app, err)
	}
	for _, s := range spots {
		if s.state == heldSetter {
			return true, nil
		}
	}
	return false, nil
}

// setterHolder is a document whose apps' image values can carry setter
// comments.
type setterHolder interface {
	appNames() []string
	// imageLines are the values of app's image keys as written.
	imageLines(app string) ([]imageLine, error)
	// replaceFiles takes edited files (only comments changed), re-reads
	// them and refuses them unless every app reads exactly as before and
	// check, run on the edited document, passes.
	replaceFiles(app string, changed map[string][]byte, check func() error) error
}

// imageLine is the value of one of an app's image keys.
type imageLine struct {
	file string
	src  []byte // the whole file
	s    *scalar
}

type setterState int

const (
	noSetter setterState = iota
	liveSetter
	heldSetter
)

// setter is an image-automation setter comment on a value's line.
type setter struct {
	state  setterState
	policy string   // "namespace:policy" with an optional ":tag", ":name" or ":digest"
	file   string   // where the comment is
	keys   [][2]int // byte spans of the JSON key naming it, quotes included
	pos    Pos      // the value the comment is on
}

func holderOf(doc Document) (setterHolder, error) {
	switch d := doc.(type) {
	case *nestedDoc:
		return d, nil
	case *helmsmanDoc:
		return d, nil
	}
	return nil, fmt.Errorf("image automation setters: a %T is not a document read by this package", doc)
}

func setHeld(doc Document, app string, want setterState) (bool, error) {
	verb := "hold"
	if want == liveSetter {
		verb = "release"
	}
	h, err := holderOf(doc)
	if err != nil {
		return false, fmt.Errorf("%s image of %s: %w", verb, app, err)
	}
	spots, err := appSetters(h, app)
	if err != nil {
		return false, fmt.Errorf("%s image of %s: %w", verb, app, err)
	}
	from, key := liveSetter, heldSetterKey
	if want == liveSetter {
		from, key = heldSetter, liveSetterKey
	}
	edits := map[string][]replacement{}
	for _, s := range spots {
		if s.state != from {
			continue
		}
		for _, k := range s.keys {
			edits[s.file] = append(edits[s.file], replacement{k[0], k[1], `"` + key + `"`})
		}
	}
	if len(edits) == 0 {
		return false, nil
	}
	if err := sharedWith(h, app, edits); err != nil {
		return false, fmt.Errorf("%s image of %s: %w", verb, app, err)
	}
	files := doc.Files()
	changed := map[string][]byte{}
	for file, reps := range edits {
		sort.Slice(reps, func(i, j int) bool { return reps[i].start > reps[j].start })
		src := files[file]
		for i, r := range reps {
			if i > 0 && r.start == reps[i-1].start {
				continue // two keys read one value through an alias
			}
			src = splice(src, r.start, r.end, r.text)
		}
		changed[file] = src
	}
	// Read back before keeping the edit: the same setters, every one now in
	// the wanted state.
	check := func() error {
		after, err := appSetters(h, app)
		if err != nil {
			return err
		}
		if got, expect := policiesOf(after, want), policiesOf(spots, from, want); got != expect {
			return fmt.Errorf("refusing the edit: the image lines read back with setters %s, want %s", got, expect)
		}
		return nil
	}
	if err := h.replaceFiles(app, changed, check); err != nil {
		return false, fmt.Errorf("%s image of %s: %w", verb, app, err)
	}
	return true, nil
}

// policiesOf lists the policies of the setters in one of states, in order.
func policiesOf(spots []setter, states ...setterState) string {
	var out []string
	for _, s := range spots {
		if slices.Contains(states, s.state) {
			out = append(out, s.policy)
		}
	}
	return fmt.Sprint(out)
}

// sharedWith refuses to rename a comment another app's image reads too
// (one value reached through a YAML alias, or one values file shared by
// two helmfile releases): holding one app must not hold the other.
func sharedWith(h setterHolder, app string, edits map[string][]replacement) error {
	type spot struct {
		file  string
		start int
	}
	mine := map[spot]bool{}
	for file, reps := range edits {
		for _, r := range reps {
			mine[spot{file, r.start}] = true
		}
	}
	for _, other := range h.appNames() {
		if other == app {
			continue
		}
		spots, err := appSetters(h, other)
		if err != nil {
			continue // an app whose setters cannot be read shares none we rename
		}
		for _, s := range spots {
			for _, k := range s.keys {
				if mine[spot{s.file, k[0]}] {
					return errorAt(s.pos, "give each app its own image lines", "the setter comment for %s is on an image line app %q reads too", s.policy, other)
				}
			}
		}
	}
	return nil
}

// appSetters lists the setter comments on app's image lines.
func appSetters(h setterHolder, app string) ([]setter, error) {
	lines, err := h.imageLines(app)
	if err != nil {
		return nil, err
	}
	var out []setter
	for _, l := range lines {
		s, err := setterOn(l)
		if err != nil {
			return nil, err
		}
		if s.state != noSetter {
			out = append(out, s)
		}
	}
	return out, nil
}

// setterOn finds the setter comment on a value's line, the comment that
// automation reads as the value's line comment.
func setterOn(l imageLine) (setter, error) {
	s, src := l.s, l.src
	if s == nil || s.templated {
		return setter{}, nil // .gotmpl files are never read by automation
	}
	if s.start < 0 || s.end > len(src) {
		// An empty, block or multi-line value: its comments cannot be
		// placed surely.
		if setterNear(src, s.pos.Line) {
			return setter{}, errorAt(s.pos, "write the value on one line with the setter comment after it", "cannot tell which value the setter comment here belongs to")
		}
		return setter{}, nil
	}
	if setterAbove(src, s.start) {
		// A value first on its line takes the comment lines above it as its
		// head comment, which automation reads when the line has none.
		return setter{}, errorAt(s.pos, "write the value after its key with the setter comment after it", "a setter comment stands between the key and its value")
	}
	rest := src[s.end:lineEnd(src, s.end)]
	at := commentAfterValue(rest, s.flow)
	if at < 0 {
		if bytes.Contains(rest, []byte(liveSetterKey)) {
			return setter{}, errorAt(s.pos, "write the image block style, the setter comment right after the value", "the setter comment on this line is not right after the value, so automation may not read it as the value's")
		}
		return setter{}, nil
	}
	comment := string(bytes.TrimRight(rest[at:], "\r"))
	st, policy, keys, err := parseSetter(comment)
	if err != nil {
		return setter{}, errorAt(s.pos, "write it as # {\"$imagepolicy\": \"namespace:policy:tag\"}", "setter comment %s: %v", comment, err)
	}
	off := s.end + at
	for i := range keys {
		keys[i][0] += off
		keys[i][1] += off
	}
	return setter{state: st, policy: policy, file: l.file, keys: keys, pos: s.pos}, nil
}

// commentAfterValue is where the comment starts in rest, the text after a
// value up to the end of its line, or -1. Inside a flow collection one
// comma may stand between the value and its comment.
func commentAfterValue(rest []byte, flow bool) int {
	i := 0
	skip := func() {
		for i < len(rest) && (rest[i] == ' ' || rest[i] == '\t') {
			i++
		}
	}
	skip()
	if flow && i < len(rest) && rest[i] == ',' {
		i++
		skip()
	}
	if i == 0 || i >= len(rest) || rest[i] != '#' || (rest[i-1] != ' ' && rest[i-1] != '\t') {
		return -1
	}
	return i
}

// parseSetter reads a line comment the way automation does (see the top
// of this file) and returns its state, the policy it names and the spans
// within comment of the key tokens naming it.
func parseSetter(comment string) (setterState, string, [][2]int, error) {
	body := strings.TrimLeft(comment, "#")
	var obj map[string]any
	if json.Unmarshal([]byte(body), &obj) != nil {
		return noSetter, "", nil, nil // not a JSON object: no setter of any form
	}
	if _, ok := obj["x-k8s-cli"]; ok {
		return noSetter, "", nil, errors.New("an inline x-k8s-cli setter cannot be held")
	}
	if ref, ok := obj["$ref"].(string); ok && strings.HasPrefix(ref, "#/definitions/io.k8s.cli.") {
		return noSetter, "", nil, errors.New("a setter in the long $ref form cannot be held")
	}
	var m map[string]string
	if json.Unmarshal([]byte(body), &m) != nil {
		return noSetter, "", nil, nil // a value that is no string: automation applies no shorthand
	}
	live, held := m[liveSetterKey], m[heldSetterKey]
	st, key, policy := noSetter, "", ""
	switch {
	case live != "" && held != "":
		return noSetter, "", nil, errors.New("it is both live and held: keep one of the two keys")
	case live != "":
		st, key, policy = liveSetter, liveSetterKey, live
	case held != "":
		st, key, policy = heldSetter, heldSetterKey, held
	default:
		return noSetter, "", nil, nil
	}
	spans, err := keySpans(body, key)
	if err != nil {
		return noSetter, "", nil, err
	}
	base := len(comment) - len(body)
	for i := range spans {
		spans[i][0] += base
		spans[i][1] += base
	}
	return st, policy, spans, nil
}

// keySpans finds the tokens of a JSON object's key in its text: every one
// (a repeated key counts, and the last wins in encoding/json), so a
// rename leaves none behind.
func keySpans(body, key string) ([][2]int, error) {
	dec := json.NewDecoder(strings.NewReader(body))
	if _, err := dec.Token(); err != nil { // {
		return nil, err
	}
	var spans [][2]int
	for dec.More() {
		before := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		after := int(dec.InputOffset())
		if tok == key {
			raw := strings.TrimLeft(body[before:after], " \t\r\n,")
			if raw != `"`+key+`"` {
				return nil, fmt.Errorf("its key is written as %s; write it as \"%s\"", raw, key)
			}
			spans = append(spans, [2]int{after - len(raw), after})
		}
		if _, err := dec.Token(); err != nil { // the value, a string
			return nil, err
		}
	}
	return spans, nil
}

// setterAbove reports whether the value at off is first on its line with
// comment lines right above it, one naming a setter.
func setterAbove(src []byte, off int) bool {
	i := lineStart(src, off)
	if len(bytes.TrimSpace(src[i:off])) > 0 {
		return false // a comment above `key: value` is the key's
	}
	for i > 0 {
		start := lineStart(src, i-1)
		line := bytes.TrimSpace(src[start : i-1])
		switch {
		case len(line) == 0:
		case line[0] != '#':
			return false
		case bytes.Contains(line, []byte(liveSetterKey)):
			return true
		}
		i = start
	}
	return false
}

// setterNear reports whether line n (1-based) of src, or the comment and
// blank lines right after it and the line after those, name a setter.
func setterNear(src []byte, n int) bool {
	start := 0
	for ; n > 1; n-- {
		i := bytes.IndexByte(src[start:], '\n')
		if i < 0 {
			return false
		}
		start += i + 1
	}
	for first := true; start < len(src); first = false {
		end := lineEnd(src, start)
		line := bytes.TrimSpace(src[start:end])
		if bytes.Contains(line, []byte(liveSetterKey)) {
			return true
		}
		if !first && len(line) > 0 && line[0] != '#' {
			return false
		}
		start = end + 1
	}
	return false
}

func imageKeys(k Keys) []string {
	var keys []string
	for _, key := range []string{k.ImageRepository, k.ImageTag, k.ImageDigest} {
		if key != "" && !slices.Contains(keys, key) {
			keys = append(keys, key)
		}
	}
	return keys
}

func (d *nestedDoc) appNames() []string { return d.v.order }

func (d *nestedDoc) imageLines(app string) ([]imageLine, error) {
	a, err := d.appView(app)
	if err != nil {
		return nil, err
	}
	var out []imageLine
	for _, key := range imageKeys(d.opt.keys) {
		if l := a.values[key]; l != nil && l.s != nil {
			out = append(out, imageLine{file: l.file, src: d.files[l.file], s: l.s})
		}
	}
	return out, nil
}

func (d *nestedDoc) replaceFiles(app string, changed map[string][]byte, check func() error) error {
	files := d.files
	for name, src := range changed {
		if len(src) > d.opt.limits.maxBytes {
			return tooLarge(name, len(src), d.opt.limits.maxBytes)
		}
		files = withFile(files, name, src)
	}
	v, err := d.reread(app, files)
	if err != nil {
		return err
	}
	if len(v.order) != len(d.v.order) {
		return fmt.Errorf("refusing the edit: the desired state now has %d apps instead of %d", len(v.order), len(d.v.order))
	}
	for _, name := range d.v.order {
		if now := v.apps[name]; now == nil || appFingerprint(now) != appFingerprint(d.v.apps[name]) {
			return fmt.Errorf("refusing the edit: app %q would read differently", name)
		}
	}
	oldFiles, oldView := d.files, d.v
	d.files, d.v = files, v
	if err := check(); err != nil {
		d.files, d.v = oldFiles, oldView
		return err
	}
	return nil
}

func (d *helmsmanDoc) appNames() []string { return d.t.order }

// imageLines of a Helmsman file: automation reads YAML files only, so a
// TOML file has none that matter.
func (d *helmsmanDoc) imageLines(app string) ([]imageLine, error) {
	r, err := d.raw(app)
	if err != nil {
		return nil, err
	}
	if d.format != HelmsmanYAML {
		return nil, nil
	}
	var out []imageLine
	for _, key := range imageKeys(d.opt.keys) {
		for _, m := range []string{"setString", "set"} {
			if rm := r.maps[m]; rm != nil && rm.entries[key] != nil {
				out = append(out, imageLine{file: d.file, src: d.src, s: rm.entries[key]})
			}
		}
	}
	return out, nil
}

func (d *helmsmanDoc) replaceFiles(app string, changed map[string][]byte, check func() error) error {
	src, ok := changed[d.file]
	if !ok || len(changed) != 1 {
		return fmt.Errorf("refusing the edit: it is not of %s", d.file)
	}
	t, err := d.reparse(app, src, false)
	if err != nil {
		return err
	}
	if len(t.order) != len(d.t.order) {
		return fmt.Errorf("refusing the edit: the file now has %d apps instead of %d", len(t.order), len(d.t.order))
	}
	for _, name := range d.t.order {
		if t.apps[name] == nil || fingerprint(t.apps[name]) != fingerprint(d.t.apps[name]) {
			return fmt.Errorf("refusing the edit: app %q would read differently", name)
		}
	}
	oldSrc, oldTree := d.src, d.t
	d.src, d.t = src, t
	if err := check(); err != nil {
		d.src, d.t = oldSrc, oldTree
		return err
	}
	return nil
}
