package desiredstate

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Format names a kind of desired state.
type Format string

const (
	HelmsmanYAML Format = "helmsman-yaml"
	HelmsmanTOML Format = "helmsman-toml"
	// Flux is Flux HelmRelease manifests: any number of files, each of
	// any number of YAML documents.
	Flux Format = "flux"
	// Helmfile is one environment of a helmfile layout: the helmfile plus
	// that environment's values and versions files.
	Helmfile Format = "helmfile"
)

// Document is one environment's desired state, possibly spread over several
// files (helmfile keeps versions apart; Flux keeps one HelmRelease per
// file). Set* methods edit in memory and report whether anything changed;
// calling them again with the same arguments changes nothing and leaves
// Files byte for byte the same.
type Document interface {
	Format() Format
	Apps() ([]App, error)
	App(name string) (App, error)
	// SetImage sets repository (when not empty), tag and digest together.
	// An empty tag or digest blanks a tag or digest the file already has,
	// so a stale digest never outlives the tag it belonged to. Where Flux
	// image automation owns the tag (an $imagepolicy setter comment on its
	// line, live or held: see HoldImage), a digest is written only when the
	// digest has its own "...:digest" setter; otherwise it is left out and
	// a digest already there is blanked, since automation would move the
	// tag past it.
	SetImage(app string, img Image) (bool, error)
	SetChartVersion(app, version string) (bool, error)
	// SetValues sets Helm values keys (helm --set paths) of an app.
	SetValues(app string, values map[string]string) (bool, error)
	// UnsetValues removes Helm values keys of an app; absent keys are fine.
	UnsetValues(app string, keys ...string) (bool, error)
	// Files returns every file of the document by the name it was opened
	// with, edited contents included.
	Files() map[string][]byte
}

// Option tunes Open and Load.
type Option func(*options)

type options struct {
	keys   Keys
	limits limits
	env    string
	format Format
	root   string
	tie    string // a file the helmfile environment must read (Load's path)
}

// WithKeys sets the values keys that carry image and configuration.
func WithKeys(k Keys) Option { return func(o *options) { o.keys = k } }

// WithMaxBytes caps the size of one file; the default is 4 MiB.
func WithMaxBytes(n int) Option { return func(o *options) { o.limits.maxBytes = n } }

// WithEnvironment names the helmfile environment a Helmfile document is
// of; without it, the environment is the only one whose values files were
// all opened.
func WithEnvironment(name string) Option { return func(o *options) { o.env = name } }

// WithFormat makes Open and Load read the desired state as f instead of
// guessing from names and contents. ParseFormat turns a configuration's
// word (helmsman, helmfile, flux) into a Format.
func WithFormat(f Format) Option { return func(o *options) { o.format = f } }

// WithRoot bounds how far Load walks up from a helmfile environment's
// values or versions file to find the helmfile: never above dir, the
// checkout's root. Without it, the bound is the nearest folder above the
// file holding .git.
func WithRoot(dir string) Option { return func(o *options) { o.root = dir } }

// ParseFormat maps the word a configuration names a format with onto a
// Format: "helmsman" is Helmsman YAML or TOML by path's extension,
// "helmfile" and "flux" are themselves, and the Format names are accepted
// as they are. An empty word is an empty Format: detect it.
func ParseFormat(word, path string) (Format, error) {
	switch w := Format(strings.ToLower(strings.TrimSpace(word))); w {
	case "":
		return "", nil
	case HelmsmanYAML, HelmsmanTOML, Flux, Helmfile:
		return w, nil
	case "helmsman":
		switch strings.ToLower(filepath.Ext(path)) {
		case ".yaml", ".yml":
			return HelmsmanYAML, nil
		case ".toml":
			return HelmsmanTOML, nil
		}
		return "", fmt.Errorf("%s: a Helmsman desired state is a .yaml, .yml or .toml file; name the file so, or set the format that matches it", path)
	}
	return "", fmt.Errorf("desired-state format %q is not known: use helmsman, helmfile or flux", word)
}

func newOptions(opts []Option) options {
	o := options{keys: DefaultKeys(), limits: defaultLimits()}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// Open reads a document of the given format from its files' contents,
// keyed by name (helmfile resolves its values paths against these names,
// relative to the helmfile's). An empty format is detected: one .toml file
// is Helmsman TOML; a set holding a helmfile is Helmfile; YAML holding a
// HelmRelease is Flux; one other YAML file is Helmsman YAML.
func Open(format Format, files map[string][]byte, opts ...Option) (Document, error) {
	o := newOptions(opts)
	if format == "" {
		format = o.format
	}
	doc, err := open(format, files, o)
	if err != nil {
		return nil, err
	}
	if err := hasApps(doc, files); err != nil {
		return nil, err
	}
	return doc, nil
}

func open(format Format, files map[string][]byte, o options) (Document, error) {
	if format == "" {
		f, err := detect(files)
		if err != nil {
			return nil, err
		}
		format = f
	}
	switch format {
	case HelmsmanYAML, HelmsmanTOML:
		if len(files) != 1 {
			return nil, fmt.Errorf("a Helmsman desired state is one file, got %d", len(files))
		}
		for name, src := range files {
			return asDocument(openHelmsman(format, name, src, o))
		}
	case Flux:
		return asNested(openNested(Flux, fluxLayout{}, files, o))
	case Helmfile:
		return asNested(openNested(Helmfile, helmfileLayout{env: o.env, tie: o.tie}, files, o))
	}
	return nil, fmt.Errorf("unknown desired-state format %q (known: %s, %s, %s, %s)", format, HelmsmanYAML, HelmsmanTOML, Flux, Helmfile)
}

func detect(files map[string][]byte) (Format, error) {
	names := sortedFiles(files)
	for _, n := range names {
		if isHelmfileName(n) {
			return Helmfile, nil
		}
	}
	for _, n := range names {
		if bytes.Contains(files[n], []byte(fluxAPIGroup)) && bytes.Contains(files[n], []byte("HelmRelease")) {
			return Flux, nil
		}
	}
	if len(names) != 1 {
		return "", fmt.Errorf("cannot tell the desired-state format of %d files; name it", len(names))
	}
	return DetectFormat(names[0])
}

// Load reads a desired state from disk. Without WithFormat, a file is a
// Helmsman DSF (YAML or TOML by its extension) or Flux manifests (YAML
// holding a HelmRelease), and a directory is read whole (every .yaml, .yml
// and .gotmpl file under it, hidden folders skipped): a helmfile layout
// when a helmfile is at its top (name the environment with
// WithEnvironment), else Flux manifests.
//
// WithFormat(Helmfile) also takes a values or versions file of one
// environment, or a folder inside the layout: Load walks up from it to the
// folder holding the helmfile (never above WithRoot), reads that folder
// whole, and opens the environment that reads the file. The document's
// file names are then absolute.
//
// A desired state with no apps is an error, in every format.
func Load(path string, opts ...Option) (Document, error) {
	o := newOptions(opts)
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("load desired state: %w", err)
	}
	switch o.format {
	case Helmfile:
		if fi.IsDir() && hasHelmfile(path) {
			return loadDir(path, Helmfile, o, opts)
		}
		if !fi.IsDir() && isHelmfileName(path) {
			return loadDir(filepath.Dir(path), Helmfile, o, opts)
		}
		return loadHelmfileFrom(path, fi.IsDir(), o, opts)
	case Flux:
		if fi.IsDir() {
			return loadDir(path, Flux, o, opts)
		}
	case HelmsmanYAML, HelmsmanTOML:
		if fi.IsDir() {
			return nil, fmt.Errorf("load desired state: %s is a folder; a Helmsman desired state is one file: name it in the path", path)
		}
	case "":
		if fi.IsDir() {
			return loadDir(path, "", o, opts)
		}
	default:
		return nil, fmt.Errorf("load desired state: unknown format %q (known: %s, %s, %s, %s)", o.format, HelmsmanYAML, HelmsmanTOML, Flux, Helmfile)
	}
	if fi.Size() > int64(o.limits.maxBytes) {
		return nil, tooLarge(path, int(fi.Size()), o.limits.maxBytes)
	}
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load desired state: %w", err)
	}
	format := o.format
	if format == "" {
		if format, err = detect(map[string][]byte{path: src}); err != nil {
			return nil, err
		}
	}
	return Open(format, map[string][]byte{path: src}, opts...)
}

// LayoutDir is the folder of the helmfile a helmfile layout's file or
// folder belongs to: path's own folder or the nearest above it, not above
// root; "" when there is none. Relative paths a helmfile names (values
// files, local charts) are relative to it.
func LayoutDir(path, root string) string {
	dir := path
	if fi, err := os.Stat(path); err == nil && !fi.IsDir() {
		dir = filepath.Dir(path)
	}
	root = filepath.Clean(root)
	for {
		if hasHelmfile(dir) {
			return dir
		}
		if filepath.Clean(dir) == root || filepath.Dir(dir) == dir {
			return ""
		}
		dir = filepath.Dir(dir)
	}
}

func hasHelmfile(dir string) bool {
	for _, n := range helmfileNames {
		if fi, err := os.Stat(filepath.Join(dir, n)); err == nil && !fi.IsDir() {
			return true
		}
	}
	return false
}

// loadHelmfileFrom finds the helmfile above path, a file or folder inside a
// helmfile layout, and opens the environment that reads path.
func loadHelmfileFrom(path string, isDir bool, o options, opts []Option) (Document, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("load desired state: %w", err)
	}
	start := abs
	if !isDir {
		start = filepath.Dir(abs)
	}
	root, err := checkoutRoot(start, o.root)
	if err != nil {
		return nil, err
	}
	dir := start
	for !hasHelmfile(dir) {
		if dir == root {
			return nil, &Error{File: path, Msg: fmt.Sprintf("no helmfile (%s) in %s or any folder above it up to %s",
				strings.Join(helmfileNames, ", "), start, root),
				Hint: "point the desired state's path at a file of a helmfile layout, or set its format to the one the file is written in"}
		}
		dir = filepath.Dir(dir)
	}
	if !isDir {
		o.tie = filepath.ToSlash(abs)
	}
	files, err := readTree(dir, o)
	if err != nil {
		return nil, err
	}
	named := make(map[string][]byte, len(files))
	for rel, src := range files {
		named[filepath.ToSlash(filepath.Join(dir, rel))] = src
	}
	if !isDir && named[o.tie] == nil {
		return nil, &Error{File: path, Msg: "the file is not YAML (.yaml, .yml or .gotmpl)", Hint: "name the environment's versions or values file"}
	}
	doc, err := asNested(openNested(Helmfile, helmfileLayout{env: o.env, tie: o.tie}, named, o))
	if err != nil {
		return nil, err
	}
	if err := hasApps(doc, named); err != nil {
		return nil, err
	}
	return doc, nil
}

// checkoutRoot is the folder Load may not walk above: want when given
// (start must be inside it), else the nearest folder holding .git.
func checkoutRoot(start, want string) (string, error) {
	if want != "" {
		root, err := filepath.Abs(want)
		if err != nil {
			return "", fmt.Errorf("load desired state: %w", err)
		}
		if rel, err := filepath.Rel(root, start); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return "", fmt.Errorf("load desired state: %s is not inside the checkout root %s", start, root)
		}
		return root, nil
	}
	for dir := start; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, ".git")); err == nil {
			return dir, nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("load desired state: %s is in no git checkout, so how far up to look for the helmfile is unknown: give the checkout root (WithRoot)", start)
		}
	}
}

// loadDir reads a helmfile layout or a folder of Flux manifests. Names are
// relative to dir, so Files and WriteFiles(dir, ...) round-trip. An empty
// format is a helmfile layout when a helmfile is at the top, else Flux.
func loadDir(dir string, format Format, o options, opts []Option) (Document, error) {
	files, err := readTree(dir, o)
	if err != nil {
		return nil, err
	}
	if format == "" {
		format = Flux
		for name := range files {
			if isHelmfileName(name) && !strings.Contains(name, "/") {
				// Only the files the helmfile refers to are parsed; a chart's
				// templates lying next to it are carried, never read.
				format = Helmfile
			}
		}
	}
	return Open(format, files, opts...)
}

// readTree reads every .yaml, .yml and .gotmpl file under dir, hidden
// folders skipped, by slash path relative to dir.
func readTree(dir string, o options) (map[string][]byte, error) {
	files := map[string][]byte{}
	read := func(rel string) error {
		full := filepath.Join(dir, rel)
		if fi, err := os.Stat(full); err == nil && fi.Size() > int64(o.limits.maxBytes) {
			return tooLarge(full, int(fi.Size()), o.limits.maxBytes)
		}
		src, err := os.ReadFile(full)
		if err != nil {
			return fmt.Errorf("load desired state: %w", err)
		}
		files[filepath.ToSlash(rel)] = src
		return nil
	}
	root := filepath.Clean(dir)
	err := filepath.WalkDir(root, func(p string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() && strings.HasPrefix(e.Name(), ".") && p != root {
			return filepath.SkipDir
		}
		ext := strings.ToLower(filepath.Ext(p))
		if e.IsDir() || (ext != ".yaml" && ext != ".yml" && ext != ".gotmpl") {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		return read(rel)
	})
	if err != nil {
		return nil, fmt.Errorf("load desired state: %w", err)
	}
	return files, nil
}

// DetectFormat picks the format of one file from its name alone: a
// helmfile, or a Helmsman DSF by extension. Flux manifests are .yaml too;
// Open and Load tell them apart by content.
func DetectFormat(path string) (Format, error) {
	if isHelmfileName(path) {
		return Helmfile, nil
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml":
		return HelmsmanYAML, nil
	case ".toml":
		return HelmsmanTOML, nil
	}
	return "", fmt.Errorf("%s: cannot tell the desired-state format; name the file .yaml, .yml or .toml", path)
}

// hasApps refuses a desired state with no apps: an empty environment is
// far more often a wrong path or format than an intent, and deploying it
// would remove everything.
func hasApps(doc Document, files map[string][]byte) error {
	var n int
	var file, why string
	switch d := doc.(type) {
	case *helmsmanDoc:
		n, file, why = len(d.t.order), d.file, "the file declares nothing under apps"
	case *nestedDoc:
		n = len(d.v.order)
		file, why = d.lay.none(files)
	default:
		return nil
	}
	if n > 0 {
		return nil
	}
	return &Error{File: file, Msg: fmt.Sprintf("the %s desired state has no apps: %s", doc.Format(), why),
		Hint: "check the desired state's path and format, and that the file lists apps"}
}

func tooLarge(file string, size, limit int) *Error {
	return &Error{File: file, Msg: fmt.Sprintf("file is %d bytes, over the limit of %d", size, limit),
		Hint: "split the desired state or raise the limit"}
}

func sortedFiles(files map[string][]byte) []string {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// asDocument keeps a failed open from returning a non-nil Document holding
// a nil pointer.
func asDocument(d *helmsmanDoc, err error) (Document, error) {
	if err != nil {
		return nil, err
	}
	return d, nil
}

func asNested(d *nestedDoc, err error) (Document, error) {
	if err != nil {
		return nil, err
	}
	return d, nil
}
