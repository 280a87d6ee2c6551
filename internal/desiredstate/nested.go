package desiredstate

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// nestedDoc is a document whose values are nested YAML mappings spread over
// one or more files: Flux HelmReleases and helmfile layouts. A layout says
// where each app's chart version and values live; nestedDoc edits them
// there, re-reads every file after each splice, and keeps an edit only if
// the app reads back as intended and every other app reads as before.
type nestedDoc struct {
	format Format
	lay    layout
	files  map[string][]byte
	v      *view
	opt    options
}

// layout reads a format's files into a view.
type layout interface {
	read(files map[string][]byte, o options) (*view, error)
	// none says which file to blame, and why, when no app was read.
	none(files map[string][]byte) (file, why string)
}

type view struct {
	files map[string]*yamlFile // every file read, by name
	apps  map[string]*appView
	order []string
}

func newView() *view {
	return &view{files: map[string]*yamlFile{}, apps: map[string]*appView{}}
}

// appView is one app as read, with where each of its values lives.
type appView struct {
	app App
	err error // why the app is not valid; the model is still filled in
	// version is where the chart version lives or would be inserted; nil
	// with versionWhy when it cannot be set.
	version    *loc
	versionWhy string
	versionErr error           // why setting the version is refused, at its line
	values     map[string]*loc // the location that wins for each values key
	// newValues is where a values key the app does not have yet goes: a
	// mapping and the path under it.
	newValues *loc
}

// loc is a place in a file: the path of mapping keys under root, and the
// value there as written (nil when absent).
type loc struct {
	file string
	root *yaml.Node // nil for an empty file
	path []string   // nil for a list item, which can only be edited in place
	s    *scalar
}

func openNested(format Format, lay layout, files map[string][]byte, o options) (*nestedDoc, error) {
	own := make(map[string][]byte, len(files)) // the caller's map may change later
	for name, src := range files {
		if len(src) > o.limits.maxBytes {
			return nil, tooLarge(name, len(src), o.limits.maxBytes)
		}
		own[name] = src
	}
	files = own
	v, err := lay.read(files, o)
	if err != nil {
		return nil, err
	}
	return &nestedDoc{format: format, lay: lay, files: files, v: v, opt: o}, nil
}

func (d *nestedDoc) Format() Format { return d.format }

func (d *nestedDoc) Files() map[string][]byte {
	out := make(map[string][]byte, len(d.files))
	for k, v := range d.files {
		out[k] = v
	}
	return out
}

func (d *nestedDoc) Apps() ([]App, error) {
	apps := make([]App, 0, len(d.v.order))
	var errs []error
	for _, name := range d.v.order {
		a := d.v.apps[name]
		if a.err != nil {
			errs = append(errs, a.err)
			continue
		}
		apps = append(apps, a.app)
	}
	return apps, joinErrors(errs)
}

func (d *nestedDoc) App(name string) (App, error) {
	a, err := d.appView(name)
	if err != nil {
		return App{}, err
	}
	return a.app, a.err
}

func (d *nestedDoc) appView(name string) (*appView, error) {
	if a := d.v.apps[name]; a != nil {
		return a, nil
	}
	e := &Error{File: strings.Join(sortedFiles(d.files), ", "), Msg: fmt.Sprintf("app %q is not in the desired state", name), Err: ErrAppNotFound}
	if near := nearest(name, d.v.order); near != "" {
		e.Hint = fmt.Sprintf("did you mean %q?", near)
	}
	return nil, e
}

func (d *nestedDoc) SetChartVersion(app, version string) (bool, error) {
	if !validChartVersion(version) {
		return false, fmt.Errorf("set chart version of %s: %q is not semver (e.g. 1.4.2)", app, version)
	}
	return d.edit(app, []change{{field: "version", value: version}})
}

func (d *nestedDoc) SetImage(app string, img Image) (bool, error) {
	if err := img.Validate(); err != nil {
		return false, fmt.Errorf("set image of %s: %w", app, err)
	}
	a, err := d.appView(app)
	if err != nil {
		return false, err
	}
	changes := imageChanges(d.opt.keys, img, func(key string) bool { return a.values[key] != nil })
	if d.automatedTag(a) {
		// See imagePolicyMarker: no digest under an automated tag.
		kept := changes[:0]
		for _, c := range changes {
			if c.key == d.opt.keys.ImageDigest {
				if a.values[c.key] == nil {
					continue
				}
				c.value = ""
			}
			kept = append(kept, c)
		}
		changes = kept
	}
	return d.edit(app, changes)
}

// imagePolicyMarker is the policy named by the setter comment on the line
// of l's value ("ns:policy:tag"), live or held (hold.go), or "".
func (d *nestedDoc) imagePolicyMarker(l *loc) string {
	if l == nil || l.s == nil {
		return ""
	}
	s, err := setterOn(imageLine{file: l.file, src: d.files[l.file], s: l.s})
	if err != nil {
		return ""
	}
	return s.policy
}

// automatedTag reports whether Flux image automation owns the app's tag
// while nothing keeps a digest in step with it. Automation rewrites a
// tag marked with an $imagepolicy setter whenever the policy moves; a
// digest written next to it would then pin the old image under the new
// tag. So under such a tag no digest is written and a digest already there
// is blanked, unless the digest carries its own "...:digest" setter, which
// Flux's digest reflection keeps in step.
func (d *nestedDoc) automatedTag(a *appView) bool {
	k := d.opt.keys
	tag := d.imagePolicyMarker(a.values[k.ImageTag])
	if tag == "" || strings.HasSuffix(tag, ":digest") {
		return false
	}
	return !strings.HasSuffix(d.imagePolicyMarker(a.values[k.ImageDigest]), ":digest")
}

func (d *nestedDoc) SetValues(app string, values map[string]string) (bool, error) {
	changes, err := valueChanges(app, values)
	if err != nil {
		return false, err
	}
	a, err := d.appView(app)
	if err != nil {
		return false, err
	}
	if changes, err = d.listChanges(a, changes); err != nil {
		return false, fmt.Errorf("set values of %s: %w", app, err)
	}
	return d.edit(app, changes)
}

func (d *nestedDoc) UnsetValues(app string, keys ...string) (bool, error) {
	return d.edit(app, unsetChanges(keys))
}

// edit makes the changes one splice at a time, re-reading the files after
// each because spans move, then verifies the whole result.
func (d *nestedDoc) edit(app string, changes []change) (bool, error) {
	if _, err := d.appView(app); err != nil {
		return false, err
	}
	files, v, changed := d.files, d.v, false
	if next, ok := d.batch(v.apps[app], changes); ok {
		// Every change is an in-place splice: one re-read for all.
		if next == nil {
			return false, nil
		}
		nv, err := d.reread(app, next)
		if err != nil {
			return false, err
		}
		files, v, changed = next, nv, true
	}
	for _, c := range changes {
		for range 2 {
			file, out, did, err := d.step(v, v.apps[app], c)
			if err != nil {
				return false, fmt.Errorf("edit %s: %w", app, err)
			}
			if !did {
				break
			}
			if len(out) > d.opt.limits.maxBytes {
				return false, tooLarge(file, len(out), d.opt.limits.maxBytes)
			}
			next := withFile(files, file, out)
			nv, err := d.reread(app, next)
			if err != nil {
				return false, err
			}
			files, v, changed = next, nv, true
		}
	}
	if !changed {
		return false, nil
	}
	if err := d.verify(v, app, changes); err != nil {
		return false, fmt.Errorf("edit %s: refusing the edit: %w", app, err)
	}
	d.files, d.v = files, v
	return true, nil
}

func withFile(files map[string][]byte, name string, src []byte) map[string][]byte {
	next := make(map[string][]byte, len(files))
	for k, b := range files {
		next[k] = b
	}
	next[name] = src
	return next
}

func (d *nestedDoc) reread(app string, files map[string][]byte) (*view, error) {
	nv, err := d.lay.read(files, d.opt)
	if err != nil {
		return nil, fmt.Errorf("edit %s: refusing an edit that breaks the desired state: %w", app, err)
	}
	if nv.apps[app] == nil {
		return nil, fmt.Errorf("edit %s: refusing an edit after which the app is gone", app)
	}
	return nv, nil
}

// batch returns the files with every change spliced in place, or ok=false
// when some change needs an insertion, a removal or more care (a shared or
// templated value), in which case edit goes change by change. A nil result
// means nothing to change.
func (d *nestedDoc) batch(a *appView, changes []change) (map[string][]byte, bool) {
	reps := map[string][]replacement{}
	for _, c := range changes {
		l := a.values[c.key]
		if c.field == "version" {
			l = a.version
		}
		if c.unset || l == nil || l.s == nil || l.s.start < 0 || l.s.shared || l.s.templated {
			return nil, false
		}
		if l.s.value != c.value {
			f := d.v.files[l.file]
			if f == nil {
				return nil, false
			}
			reps[l.file] = append(reps[l.file], replacement{l.s.start, l.s.end, renderTyped(l.s, f.p.src, c.value, d.tagFor(c))})
		}
	}
	if len(reps) == 0 {
		return nil, true
	}
	out := d.files
	for file, rs := range reps {
		sort.Slice(rs, func(i, j int) bool { return rs[i].start > rs[j].start })
		src := d.files[file]
		for i, r := range rs {
			if i > 0 && r.end > rs[i-1].start {
				return nil, false
			}
			src = splice(src, r.start, r.end, r.text)
		}
		out = withFile(out, file, src)
	}
	return out, true
}

// step makes the splice change c still needs, if any.
func (d *nestedDoc) step(v *view, a *appView, c change) (string, []byte, bool, error) {
	var l *loc
	tag := ""
	switch {
	case c.field == "version":
		if a.versionErr != nil {
			return "", nil, false, a.versionErr
		}
		if a.version == nil {
			return "", nil, false, errorAt(a.app.Pos, "", "app %q: the chart version cannot be set: %s", a.app.Name, a.versionWhy)
		}
		l, tag = a.version, "!!str"
	case c.unset:
		l = a.values[c.key]
		if l == nil {
			return "", nil, false, nil
		}
		if l.path == nil {
			return "", nil, false, errorAt(l.s.pos, "remove it by hand", "cannot remove %s of app %q: it is a list item", c.key, a.app.Name)
		}
		f := v.files[l.file]
		out, did, err := f.removePath(l.root, l.path)
		return l.file, out, did, err
	case c.raw:
		// A whole new list: written once, then its keys read back.
		done := true
		for _, cc := range c.covers {
			if l := a.values[cc.key]; l == nil || l.s == nil || l.s.value != cc.value {
				done = false
			}
		}
		if done {
			return "", nil, false, nil
		}
		fallthrough
	default:
		l = a.values[c.key]
		tag = d.tagFor(c)
		if l == nil {
			if a.newValues == nil {
				return "", nil, false, errorAt(a.app.Pos, "add it by hand", "app %q has no values to add %s to", a.app.Name, c.key)
			}
			segs, ok := splitKey(c.key)
			if !ok {
				return "", nil, false, fmt.Errorf("cannot add %s: new keys cannot index lists", c.key)
			}
			l = &loc{file: a.newValues.file, root: a.newValues.root, path: append(append([]string(nil), a.newValues.path...), segs...)}
		}
	}
	if l.s != nil && l.s.templated {
		return "", nil, false, errorAt(l.s.pos, "edit the template by hand, or move the value into the environment's values", "%s of app %q is templated: %s", changeName(c), a.app.Name, l.s.value)
	}
	f := v.files[l.file]
	if l.path == nil {
		if l.s.value == c.value {
			return "", nil, false, nil
		}
		if l.s.start < 0 || l.s.shared {
			return "", nil, false, errorAt(l.s.pos, "edit it by hand", "%s of app %q cannot be edited in place", changeName(c), a.app.Name)
		}
		return l.file, splice(f.src, l.s.start, l.s.end, renderTyped(l.s, f.p.src, c.value, tag)), true, nil
	}
	out, did, err := f.setPath(l.root, l.path, c.value, tag)
	return l.file, out, did, err
}

// tagFor is the YAML type a value is written with. Kubernetes and Helm read
// these files as YAML, so a value is typed by how it is written, not the
// way helm --set types it: "1.10" written plain is stored as 1.1, "010" as
// 8, and .inf is refused on apply. So what the user gave is written as a
// string unless it is a plain integer (no leading zeros, optional minus)
// or true/false; image keys, environment variables and the chart version
// are always strings.
func (d *nestedDoc) tagFor(c change) string {
	k := d.opt.keys
	if c.raw {
		return rawTag
	}
	if c.field != "" || k.IsImage(c.key) || (k.EnvPrefix != "" && strings.HasPrefix(c.key, k.EnvPrefix)) {
		return "!!str"
	}
	return valueTag(c.value)
}

var plainIntRE = regexp.MustCompile(`^-?(0|[1-9][0-9]*)$`)

// valueTag types a values-file value by the rule in tagFor.
func valueTag(v string) string {
	switch {
	case v == "true" || v == "false":
		return "!!bool"
	case plainIntRE.MatchString(v):
		return "!!int"
	}
	return "!!str"
}

// renderTyped writes value in place of like: a quoted value stays a quoted
// string (the file's author chose a string); a plain one takes tag's type,
// quoted when plain would read as another type.
func renderTyped(like *scalar, src []byte, value, tag string) string {
	if tag == rawTag {
		return value
	}
	if like == nil || like.start < 0 {
		return renderNew(value, tag, 0)
	}
	if q := src[like.start]; q == '"' || q == '\'' {
		return yamlRender(q, "!!str", like.flow, value)
	}
	return yamlRender(0, tag, like.flow, value)
}

func changeName(c change) string {
	if c.field != "" {
		return "chart " + c.field
	}
	return c.key
}

func (d *nestedDoc) verify(v *view, app string, changes []change) error {
	a := v.apps[app].app
	values := a.Values()
	var flat []change
	for _, c := range changes {
		if c.raw {
			flat = append(flat, c.covers...)
		} else {
			flat = append(flat, c)
		}
	}
	for _, c := range flat {
		got, had := values[c.key]
		switch {
		case c.field == "version":
			if a.ChartVersion != c.value {
				return fmt.Errorf("the chart version reads back as %q, not %q", a.ChartVersion, c.value)
			}
		case c.unset:
			if had {
				return fmt.Errorf("%s is still set", c.key)
			}
		case got != c.value:
			return fmt.Errorf("%s reads back as %q, not %q", c.key, got, c.value)
		}
	}
	// One place can feed two readings (a versions entry read by both the
	// chart version and the image tag): what was not asked for must stay.
	if diffs := diffApp(untouched(d.v.apps[app], changes), untouched(v.apps[app], changes)); len(diffs) > 0 {
		return fmt.Errorf("it would also change what the app reads elsewhere: %s from %q to %q", diffs[0].Field, diffs[0].From, diffs[0].To)
	}
	if len(v.order) != len(d.v.order) {
		return fmt.Errorf("the desired state now has %d apps instead of %d", len(v.order), len(d.v.order))
	}
	for _, name := range d.v.order {
		if name == app {
			continue
		}
		old, now := d.v.apps[name], v.apps[name]
		if now == nil || appFingerprint(old) != appFingerprint(now) {
			return fmt.Errorf("app %q would change too", name)
		}
	}
	return nil
}

// untouched is what an app reads as apart from what changes set.
func untouched(a *appView, changes []change) App {
	app := a.app
	app.Pos, app.Image, app.Config = Pos{}, Image{}, Config{}
	app.Set = map[string]string{}
	for k, v := range a.app.Set {
		app.Set[k] = v
	}
	for _, c := range changes {
		switch {
		case c.field == "version":
			app.ChartVersion = ""
		case c.raw:
			for _, cc := range c.covers {
				delete(app.Set, cc.key)
			}
		default:
			delete(app.Set, c.key)
		}
	}
	return app
}

// appFingerprint is everything an app reads as, except where it is written
// (an insertion above it moves it).
func appFingerprint(a *appView) string {
	app := a.app
	app.Pos = Pos{}
	return fmt.Sprintf("%+v|%v", app, a.err != nil)
}

// finish fills in what every nested format derives the same way: the
// image and config from the values, and the checks of image and chart
// version, positioned at the offending value.
func (a *appView) finish(keys Keys, versionPos Pos) {
	a.app.Set = map[string]string{}
	for k, l := range a.values {
		if l.s != nil {
			a.app.Set[k] = l.s.value
		}
	}
	values := a.app.Set
	a.app.Image = Image{Repository: values[keys.ImageRepository], Tag: values[keys.ImageTag], Digest: values[keys.ImageDigest]}
	a.app.Config = keys.config(values)
	templatedVersion := a.version != nil && a.version.s != nil && a.version.s.templated
	if v := a.app.ChartVersion; v != "" && !templatedVersion && !validChartVersion(v) && !isVersionRange(v) {
		a.err = errorAt(versionPos, "Helm chart versions are SemVer, e.g. 1.4.2", "app %q: chart version %q is not semver", a.app.Name, v)
		return
	}
	if !a.app.Image.IsZero() {
		if err := a.app.Image.Validate(); err != nil && !a.imageTemplated(keys) {
			where := a.app.Pos
			for _, key := range []string{keys.ImageDigest, keys.ImageTag, keys.ImageRepository} {
				if l := a.values[key]; l != nil && l.s != nil {
					where = l.s.pos
					break
				}
			}
			a.err = errorAt(where, "", "app %q: %v", a.app.Name, err)
		}
	}
}

func (a *appView) imageTemplated(keys Keys) bool {
	for _, key := range []string{keys.ImageDigest, keys.ImageTag, keys.ImageRepository} {
		if l := a.values[key]; l != nil && l.s != nil && l.s.templated {
			return true
		}
	}
	return false
}

// isVersionRange reports whether v is a SemVer constraint such as "1.x",
// "^1.2.0" or ">=1.0.0 <2.0.0", which Flux and helmfile accept in place of
// a version. Such a version is read, never written.
func isVersionRange(v string) bool {
	if v == "*" || strings.ContainsAny(v, "^~><=|, ") {
		return true
	}
	for _, part := range strings.Split(strings.TrimPrefix(v, "v"), ".") {
		if part == "x" || part == "X" || part == "*" {
			return true
		}
	}
	return false
}
