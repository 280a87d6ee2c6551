package desiredstate

// tree is what a syntax (YAML, TOML) hands the Helmsman document: the apps
// with every value's text and byte span, so edits can splice the original
// bytes instead of re-serialising the file.
type tree struct {
	file  string
	src   []byte
	apps  map[string]*rawApp
	order []string // app names in file order

	// Helmsman's top-level sections that apps refer to. They are read,
	// never edited: surgical edits leave them byte for byte as they are.
	namespaces map[string]Pos    // declared namespaces; nil when the file has no namespaces section
	helmRepos  map[string]string // repo name -> URL
}

// declareNamespace records a namespace the file declares.
func (t *tree) declareNamespace(name string, pos Pos) {
	if t.namespaces == nil {
		t.namespaces = map[string]Pos{}
	}
	if _, ok := t.namespaces[name]; !ok {
		t.namespaces[name] = pos
	}
}

// addHelmRepo records a chart repository the file declares.
func (t *tree) addHelmRepo(name, url string) {
	if t.helmRepos == nil {
		t.helmRepos = map[string]string{}
	}
	t.helmRepos[name] = url
}

type rawApp struct {
	name   string
	pos    Pos
	fields map[string]*scalar   // namespace, enabled, chart, version, ...
	lists  map[string][]*scalar // valuesFiles, secretsFiles, helmFlags
	maps   map[string]*rawMap   // set, setString
	native any                  // the syntax's handle for inserting fields

	fingerprint string // cache for fingerprint()
}

type rawMap struct {
	name    string
	pos     Pos
	entries map[string]*scalar
	keys    []string // file order
	native  any
}

// scalar is one value as written in the file.
type scalar struct {
	value string
	pos   Pos
	// start and end are the byte span of the value's text, quotes included.
	// start < 0 means the value cannot be edited in place (a block scalar,
	// a multi-line plain scalar); why says so.
	start, end int
	why        string
	// shared means the value reaches this app through a YAML alias or merge
	// key: editing it in place would also change every other app using it.
	shared bool
	flow   bool // inside a YAML flow collection, where ",]}" end a plain value
	// templated means the value is (or holds) a Go template action; value
	// is then the template text and start < 0.
	templated bool
	native    any
}

// syntax is one file format's reader and splicer for Helmsman. Flux and
// helmfile reuse the YAML pieces under it through nestedDoc (nested.go).
type syntax interface {
	parse(file string, src []byte, lim limits) (*tree, error)
	// render returns the text for value, in the quoting style of like.
	render(like *scalar, src []byte, value string) string
	// insertEntry adds key=value to map mapName of app (creating the map
	// when missing), next to its siblings, and returns the new file.
	insertEntry(t *tree, app *rawApp, mapName, key, value string) ([]byte, error)
	// insertField adds a top-level field to app's own mapping; YAML uses it
	// to override a value that came in through a merge key.
	insertField(t *tree, app *rawApp, field, value string) ([]byte, error)
	// removeEntry deletes key from map mapName of app.
	removeEntry(t *tree, app *rawApp, mapName, key string) ([]byte, error)
}

// limits bound what a parser accepts, so that hostile or accidental input
// fails cleanly instead of exhausting memory.
type limits struct {
	maxBytes   int
	maxAliases int
	// valuesOnly says the text differs from an already validated one only
	// inside value tokens, so checks of key and table structure (TOML's
	// "defined twice" rules) cannot fail and may be skipped. Syntax is
	// always checked.
	valuesOnly bool
}

func defaultLimits() limits { return limits{maxBytes: 4 << 20, maxAliases: 1000} }

// anchorEntry picks the sibling a new key goes after: the last key sharing
// its first dotted segment (image.tag goes next to image.repository), else
// the last key.
func anchorEntry(m *rawMap, key string) *scalar {
	if m == nil || len(m.keys) == 0 {
		return nil
	}
	first, _, _ := cutDot(key)
	for i := len(m.keys) - 1; i >= 0; i-- {
		if f, _, _ := cutDot(m.keys[i]); f == first {
			return m.entries[m.keys[i]]
		}
	}
	return m.entries[m.keys[len(m.keys)-1]]
}

func cutDot(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}
