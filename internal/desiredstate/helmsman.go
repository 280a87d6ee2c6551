package desiredstate

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// helmsmanDoc is a Helmsman desired-state file. YAML and TOML differ only
// in their syntax; the meaning of apps, set and setString is shared here.
type helmsmanDoc struct {
	format Format
	syn    syntax
	file   string
	src    []byte
	t      *tree
	opt    options
}

func openHelmsman(format Format, file string, src []byte, o options) (*helmsmanDoc, error) {
	if len(src) > o.limits.maxBytes {
		return nil, tooLarge(file, len(src), o.limits.maxBytes)
	}
	var syn syntax = yamlSyntax{}
	if format == HelmsmanTOML {
		syn = tomlSyntax{}
	}
	t, err := syn.parse(file, src, o.limits)
	if err != nil {
		return nil, err
	}
	return &helmsmanDoc{format: format, syn: syn, file: file, src: src, t: t, opt: o}, nil
}

func (d *helmsmanDoc) Format() Format { return d.format }

func (d *helmsmanDoc) Files() map[string][]byte { return map[string][]byte{d.file: d.src} }

func (d *helmsmanDoc) Apps() ([]App, error) {
	apps := make([]App, 0, len(d.t.order))
	var errs []error
	for _, name := range d.t.order {
		a, err := d.toApp(d.t.apps[name])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		apps = append(apps, a)
	}
	return apps, joinErrors(errs)
}

func (d *helmsmanDoc) App(name string) (App, error) {
	raw, err := d.raw(name)
	if err != nil {
		return App{}, err
	}
	return d.toApp(raw)
}

func (d *helmsmanDoc) raw(name string) (*rawApp, error) {
	if a := d.t.apps[name]; a != nil {
		return a, nil
	}
	e := &Error{File: d.file, Msg: fmt.Sprintf("app %q is not in the desired state", name), Err: ErrAppNotFound,
		Hint: "add it under apps"}
	if near := nearest(name, d.t.order); near != "" {
		e.Hint = fmt.Sprintf("did you mean %q?", near)
	}
	return nil, e
}

func (d *helmsmanDoc) toApp(r *rawApp) (App, error) {
	if err := checkFields(r); err != nil {
		return App{}, err
	}
	str := func(f string) string {
		if s := r.fields[f]; s != nil {
			return s.value
		}
		return ""
	}
	a := App{Name: r.name, Namespace: str("namespace"), Enabled: str("enabled") == "true",
		ChartVersion: str("version"), Protected: str("protected") == "true", Pos: r.pos,
		Set: mapValues(r.maps["set"]), SetString: mapValues(r.maps["setString"])}
	if chart := str("chart"); chart != "" {
		if i := strings.LastIndexByte(chart, '/'); i >= 0 {
			a.Chart = Chart{Repo: chart[:i], Name: chart[i+1:]}
		} else {
			a.Chart = Chart{Name: chart}
		}
	}
	if s := r.fields["valuesFile"]; s != nil && s.value != "" {
		a.ValuesFiles = append(a.ValuesFiles, s.value)
	}
	for _, s := range r.lists["valuesFiles"] {
		a.ValuesFiles = append(a.ValuesFiles, s.value)
	}
	if s := r.fields["version"]; s != nil && !isEnvRef(s.value) && !validChartVersion(s.value) {
		return App{}, errorAt(s.pos, "Helm chart versions are SemVer, e.g. 1.4.2", "app %q: chart version %q is not semver", r.name, s.value)
	}
	a.Wait = str("wait") == "true"
	if s := r.fields["timeout"]; s != nil && !isEnvRef(s.value) {
		t, err := strconv.Atoi(s.value)
		if err != nil || t < 0 {
			return App{}, errorAt(s.pos, "timeout is a whole number of seconds, e.g. 300", "app %q: timeout %q is not a number of seconds", r.name, s.value)
		}
		a.Timeout = t
	}
	if a.Chart.Repo != "" {
		a.Chart.RepoURL = d.t.helmRepos[a.Chart.Repo]
	}
	// Helmsman refuses an app whose namespace the file does not declare;
	// catching it here keeps a bad edit from reaching the apply job.
	if s := r.fields["namespace"]; s != nil && d.t.namespaces != nil && !isEnvRef(s.value) {
		if _, ok := d.t.namespaces[s.value]; !ok {
			declared := make([]string, 0, len(d.t.namespaces))
			for ns := range d.t.namespaces {
				declared = append(declared, ns)
			}
			sort.Strings(declared)
			return App{}, errorAt(s.pos, "declare it under namespaces, or use one of: "+strings.Join(declared, ", "),
				"app %q: namespace %q is not declared under namespaces", r.name, s.value)
		}
	}
	if s := r.fields["priority"]; s != nil {
		p, err := strconv.Atoi(s.value)
		if err != nil {
			return App{}, errorAt(s.pos, "priority is a whole number, 0 or below", "app %q: priority %q is not a number", r.name, s.value)
		}
		a.Priority = p
	}
	values := a.Values()
	k := d.opt.keys
	a.Image = Image{Repository: values[k.ImageRepository], Tag: values[k.ImageTag], Digest: values[k.ImageDigest]}
	if !a.Image.IsZero() {
		if err := a.Image.Validate(); err != nil {
			where := r.pos
			for _, key := range []string{k.ImageDigest, k.ImageTag, k.ImageRepository} {
				if s := valueScalar(r, key); s != nil {
					where = s.pos
					break
				}
			}
			return App{}, errorAt(where, "", "app %q: %v", r.name, err)
		}
	}
	a.Config = k.config(values)
	return a, nil
}

func mapValues(m *rawMap) map[string]string {
	out := map[string]string{}
	if m == nil {
		return out
	}
	for k, s := range m.entries {
		out[k] = unescapeDollars(s.value)
	}
	return out
}

// Helmsman expands $NAME and ${NAME} in a desired-state file as
// environment variables, and refuses the whole file when one is not set.
// Its documentation (docs/how_to/apps/environment_vars.md, "Escaping the $
// sign") says to write $$ to pass a $ as is; Helmsman replaces $$ before
// expanding. So values keys are escaped that way when written and read
// back unescaped, and App values are what the chart receives. A reference
// stays a reference: a value that is exactly $NAME, and ${NAME} anywhere in
// a value, are written as they are (the way Helmsman files pass secrets);
// every other $ is doubled.
func escapeDollars(v string) string {
	if !strings.Contains(v, "$") || envRefRE.MatchString(v) {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '$' {
			if m := bracedRefRE.FindString(v[i:]); m != "" {
				b.WriteString(m)
				i += len(m) - 1
				continue
			}
			b.WriteByte('$')
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

// unescapeDollars reads a values key as the chart receives it: $$ is a
// literal $, and a reference stays a reference, braced when it sits inside
// other text ($MAX_HEAP in -Xmx$MAX_HEAP reads as ${MAX_HEAP}), so that
// escapeDollars writes it back as a reference and never as a literal. A
// value that is exactly $NAME reads as it is.
func unescapeDollars(v string) string {
	if !strings.Contains(v, "$") || envRefRE.MatchString(v) {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] != '$' {
			b.WriteByte(v[i])
			continue
		}
		switch rest := v[i:]; {
		case strings.HasPrefix(rest, "$$"):
			b.WriteByte('$')
			i++
		case bracedRefRE.MatchString(rest):
			m := bracedRefRE.FindString(rest)
			b.WriteString(m)
			i += len(m) - 1
		default:
			if m := bareRefRE.FindString(rest); m != "" {
				b.WriteString("${" + m[1:] + "}")
				i += len(m) - 1
				continue
			}
			b.WriteByte('$')
		}
	}
	return b.String()
}

var (
	envRefRE    = regexp.MustCompile(`^(\$[A-Za-z_][A-Za-z0-9_]*|\$\{[A-Za-z_][A-Za-z0-9_-]*\})$`)
	bracedRefRE = regexp.MustCompile(`^\$\{[A-Za-z_][A-Za-z0-9_-]*\}`)
	bareRefRE   = regexp.MustCompile(`^\$[A-Za-z_][A-Za-z0-9_]*`)
)

// escapedChanges escapes the values of values-key changes (see
// escapeDollars); edits and their checks then work on the file's text.
func escapedChanges(changes []change) []change {
	for i, c := range changes {
		if c.key != "" && !c.unset {
			changes[i].value = escapeDollars(c.value)
		}
	}
	return changes
}

// valueScalar finds a values key the way Helm resolves it: setString wins.
func valueScalar(r *rawApp, key string) *scalar {
	for _, name := range []string{"setString", "set"} {
		if m := r.maps[name]; m != nil && m.entries[key] != nil {
			return m.entries[key]
		}
	}
	return nil
}

func (d *helmsmanDoc) SetChartVersion(app, version string) (bool, error) {
	if !validChartVersion(version) && !isEnvRef(version) {
		return false, fmt.Errorf("set chart version of %s: %q is not semver (e.g. 1.4.2)", app, version)
	}
	return d.edit(app, []change{{field: "version", value: version}})
}

func (d *helmsmanDoc) SetImage(app string, img Image) (bool, error) {
	if err := img.Validate(); err != nil {
		return false, fmt.Errorf("set image of %s: %w", app, err)
	}
	raw, err := d.raw(app)
	if err != nil {
		return false, err
	}
	return d.edit(app, escapedChanges(imageChanges(d.opt.keys, img, func(key string) bool { return valueScalar(raw, key) != nil })))
}

func (d *helmsmanDoc) SetValues(app string, values map[string]string) (bool, error) {
	changes, err := valueChanges(app, values)
	if err != nil {
		return false, err
	}
	if raw, err := d.raw(app); err == nil {
		// A value that already reads as the one asked for is left as it
		// is written ($NAME stays $NAME, not ${NAME}).
		changes = slices.DeleteFunc(changes, func(c change) bool {
			s := valueScalar(raw, c.key)
			return c.key != "" && !c.unset && s != nil && unescapeDollars(s.value) == c.value
		})
	}
	return d.edit(app, escapedChanges(changes))
}

func (d *helmsmanDoc) UnsetValues(app string, keys ...string) (bool, error) {
	return d.edit(app, unsetChanges(keys))
}

func joinErrors(errs []error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return &multiError{errs: errs, msg: strings.Join(msgs, "\n")}
}

type multiError struct {
	errs []error
	msg  string
}

func (m *multiError) Error() string   { return m.msg }
func (m *multiError) Unwrap() []error { return m.errs }
