package desiredstate

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/stepper-cd/stepper/internal/suggest"
)

// change is one value to set in an app: a top-level field (version) or a
// Helm values key in set/setString.
type change struct {
	field string // when set, a top-level field of the app
	key   string // otherwise a values key
	value string
	unset bool // remove key instead of setting it
	// raw says value is YAML text to write as it is (a whole new list);
	// covers are the values keys it sets, checked one by one.
	raw    bool
	covers []change
}

// imageChanges are the values changes that set img: the repository when
// given, and tag and digest together, blanking one the app has (present)
// when img has none, so a stale digest never outlives its tag.
func imageChanges(k Keys, img Image, present func(key string) bool) []change {
	var changes []change
	if img.Repository != "" {
		changes = append(changes, change{key: k.ImageRepository, value: img.Repository})
	}
	// Repository, tag, digest: the order they read best in when inserted.
	for _, c := range []change{{key: k.ImageTag, value: img.Tag}, {key: k.ImageDigest, value: img.Digest}} {
		if c.value != "" || present(c.key) {
			changes = append(changes, c)
		}
	}
	return changes
}

// valueChanges are the changes that set values keys, in key order.
func valueChanges(app string, values map[string]string) ([]change, error) {
	changes := make([]change, 0, len(values))
	for _, k := range sortedKeys(values) {
		if k == "" {
			return nil, fmt.Errorf("set values of %s: empty key", app)
		}
		changes = append(changes, change{key: k, value: values[k]})
	}
	return changes, nil
}

func unsetChanges(keys []string) []change {
	changes := make([]change, 0, len(keys))
	for _, k := range keys {
		changes = append(changes, change{key: k, unset: true})
	}
	return changes
}

// edit applies changes in one batch when all are in-place splices, else
// one at a time, re-parsing after each splice because spans move. The result is kept only if it parses, every change reads
// back, and every other app reads exactly as before.
func (d *helmsmanDoc) edit(app string, changes []change) (bool, error) {
	if _, err := d.raw(app); err != nil {
		return false, err
	}
	src, t := d.src, d.t
	changed := false
	if next, ok := d.batch(t, app, changes); ok {
		// Every change is an in-place splice: one parse for all of them.
		if next == nil {
			return false, nil
		}
		nt, err := d.reparse(app, next, true)
		if err != nil {
			return false, err
		}
		src, t, changed = next, nt, true
	}
	for _, c := range changes {
		// A key present in both set and setString needs two splices.
		for range 3 {
			next, did, err := d.step(t, t.apps[app], c)
			if err != nil {
				return false, fmt.Errorf("edit %s: %w", app, err)
			}
			if !did {
				break
			}
			nt, err := d.reparse(app, next, false)
			if err != nil {
				return false, err
			}
			src, t, changed = next, nt, true
		}
	}
	if !changed {
		return false, nil
	}
	if err := d.verify(t, app, changes); err != nil {
		return false, fmt.Errorf("edit %s: refusing the edit: %w", app, err)
	}
	d.src, d.t = src, t
	return true, nil
}

// reparse parses an edited file. valuesOnly is true when the edit only
// replaced value tokens, which cannot break key or table structure.
func (d *helmsmanDoc) reparse(app string, next []byte, valuesOnly bool) (*tree, error) {
	if len(next) > d.opt.limits.maxBytes {
		return nil, tooLarge(d.file, len(next), d.opt.limits.maxBytes)
	}
	lim := d.opt.limits
	lim.valuesOnly = valuesOnly
	nt, err := d.syn.parse(d.file, next, lim)
	if err != nil {
		return nil, fmt.Errorf("edit %s: refusing an edit that breaks the file: %w", app, err)
	}
	if nt.apps[app] == nil {
		return nil, fmt.Errorf("edit %s: refusing an edit after which the app is gone", app)
	}
	return nt, nil
}

type replacement struct {
	start, end int
	text       string
}

// batch returns the file with every change spliced in place, or ok=false
// when some change needs an insertion (or cannot be made in place), in
// which case edit goes change by change. A nil result means no change.
func (d *helmsmanDoc) batch(t *tree, app string, changes []change) ([]byte, bool) {
	a := t.apps[app]
	var reps []replacement
	for _, c := range changes {
		if c.unset {
			return nil, false
		}
		var targets []*scalar
		if c.field != "" {
			targets = append(targets, a.fields[c.field])
		} else {
			for _, name := range []string{"set", "setString"} {
				if m := a.maps[name]; m != nil && m.entries[c.key] != nil {
					targets = append(targets, m.entries[c.key])
				}
			}
			if len(targets) == 0 {
				return nil, false
			}
		}
		for _, s := range targets {
			if s == nil || s.shared || s.start < 0 {
				return nil, false
			}
			if s.value != c.value {
				reps = append(reps, replacement{s.start, s.end, d.syn.render(s, t.src, c.value)})
			}
		}
	}
	if len(reps) == 0 {
		return nil, true
	}
	sort.Slice(reps, func(i, j int) bool { return reps[i].start > reps[j].start })
	out := t.src
	for i, r := range reps {
		if i > 0 && r.end > reps[i-1].start {
			return nil, false // overlapping spans: let the slow path sort it out
		}
		out = splice(out, r.start, r.end, r.text)
	}
	return out, true
}

// step makes the first splice still needed for c, or reports none needed.
func (d *helmsmanDoc) step(t *tree, a *rawApp, c change) ([]byte, bool, error) {
	if c.field != "" {
		s := a.fields[c.field]
		switch {
		case s != nil && s.value == c.value:
			return nil, false, nil
		case s == nil || s.shared:
			out, err := d.syn.insertField(t, a, c.field, c.value)
			return out, err == nil, err
		case s.start < 0:
			return nil, false, errorAt(s.pos, "edit it by hand", "%s of app %q cannot be edited in place: %s", c.field, a.name, s.why)
		}
		return splice(t.src, s.start, s.end, d.syn.render(s, t.src, c.value)), true, nil
	}
	if c.unset {
		for _, name := range []string{"set", "setString"} {
			if m := a.maps[name]; m != nil && m.entries[c.key] != nil {
				out, err := d.syn.removeEntry(t, a, name, c.key)
				return out, err == nil, err
			}
		}
		return nil, false, nil
	}
	found := false
	for _, name := range []string{"set", "setString"} {
		m := a.maps[name]
		if m == nil || m.entries[c.key] == nil {
			continue
		}
		found = true
		s := m.entries[c.key]
		switch {
		case s.value == c.value:
			continue
		case s.shared:
			out, err := d.syn.insertEntry(t, a, name, c.key, c.value)
			return out, err == nil, err
		case s.start < 0:
			return nil, false, errorAt(s.pos, "edit it by hand", "%s.%s of app %q cannot be edited in place: %s", name, c.key, a.name, s.why)
		}
		return splice(t.src, s.start, s.end, d.syn.render(s, t.src, c.value)), true, nil
	}
	if found {
		return nil, false, nil
	}
	out, err := d.syn.insertEntry(t, a, d.mapFor(a, c.key), c.key, c.value)
	return out, err == nil, err
}

// mapFor picks where a new values key goes: next to keys sharing its first
// segment; image tags and digests into setString, because `--set
// image.tag=1.10` would reach the chart as the number 1.1.
func (d *helmsmanDoc) mapFor(a *rawApp, key string) string {
	first, _, _ := cutDot(key)
	for _, name := range []string{"setString", "set"} {
		if m := a.maps[name]; m != nil {
			for _, k := range m.keys {
				if f, _, _ := cutDot(k); f == first {
					return name
				}
			}
		}
	}
	k := d.opt.keys
	if k.IsImage(key) {
		if a.maps["setString"] != nil || a.maps["set"] == nil {
			return "setString"
		}
		return "set"
	}
	if a.maps["set"] == nil && a.maps["setString"] != nil {
		return "setString"
	}
	return "set"
}

func (d *helmsmanDoc) verify(t *tree, app string, changes []change) error {
	a := t.apps[app]
	for _, c := range changes {
		if c.unset {
			if valueScalar(a, c.key) != nil {
				return fmt.Errorf("%s is still set", c.key)
			}
			continue
		}
		var got string
		if c.field != "" {
			if s := a.fields[c.field]; s != nil {
				got = s.value
			}
		} else if s := valueScalar(a, c.key); s != nil {
			got = s.value
		}
		if got != c.value {
			name := c.field
			if name == "" {
				name = c.key
			}
			return fmt.Errorf("%s reads back as %q, not %q", name, got, c.value)
		}
	}
	if len(t.order) != len(d.t.order) {
		return fmt.Errorf("the file now has %d apps instead of %d", len(t.order), len(d.t.order))
	}
	for _, name := range d.t.order {
		if name == app {
			continue
		}
		if t.apps[name] == nil || fingerprint(t.apps[name]) != fingerprint(d.t.apps[name]) {
			return fmt.Errorf("app %q would change too", name)
		}
	}
	return nil
}

// fingerprint is everything an app declares, to prove an edit left it
// alone. It is cached on the app: trees are never mutated.
func fingerprint(a *rawApp) string {
	if a.fingerprint != "" {
		return a.fingerprint
	}
	var b strings.Builder
	put := func(parts ...string) {
		for _, p := range parts {
			b.WriteString(strconv.Itoa(len(p)))
			b.WriteByte(':')
			b.WriteString(p)
		}
	}
	for _, f := range sortedScalarKeys(a.fields) {
		put("f", f, a.fields[f].value)
	}
	for _, l := range sortedListKeys(a.lists) {
		for _, s := range a.lists[l] {
			put("l", l, s.value)
		}
	}
	for _, m := range []string{"set", "setString"} {
		if rm := a.maps[m]; rm != nil {
			put("m", m)
			for _, k := range sortedScalarKeys(rm.entries) {
				put(k, rm.entries[k].value)
			}
		}
	}
	a.fingerprint = b.String()
	return a.fingerprint
}

func sortedScalarKeys(m map[string]*scalar) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func sortedListKeys(m map[string][]*scalar) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// nearest suggests the closest app or field name for a typo.
func nearest(name string, names []string) string { return suggest.Closest(name, names) }
