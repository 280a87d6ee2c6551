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
	// so a stale digest never outlives the tag it belonged to.
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
}

// WithKeys sets the values keys that carry image and configuration.
func WithKeys(k Keys) Option { return func(o *options) { o.keys = k } }

// WithMaxBytes caps the size of one file; the default is 4 MiB.
func WithMaxBytes(n int) Option { return func(o *options) { o.limits.maxBytes = n } }

// WithEnvironment names the helmfile environment a Helmfile document is
// of; without it, the environment is the only one whose values files were
// all opened.
func WithEnvironment(name string) Option { return func(o *options) { o.env = name } }

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
		return asNested(openNested(Helmfile, helmfileLayout{env: o.env}, files, o))
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

// Load reads a desired state from disk. A file is a Helmsman DSF (YAML or
// TOML by its extension) or Flux manifests (YAML holding a HelmRelease). A
// directory is read whole (every .yaml, .yml and .gotmpl file under it,
// hidden folders skipped): a helmfile layout when a helmfile is at its top
// (name the environment with WithEnvironment), else Flux manifests.
func Load(path string, opts ...Option) (Document, error) {
	o := newOptions(opts)
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("load desired state: %w", err)
	}
	if fi.IsDir() {
		return loadDir(path, o, opts)
	}
	if fi.Size() > int64(o.limits.maxBytes) {
		return nil, tooLarge(path, int(fi.Size()), o.limits.maxBytes)
	}
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load desired state: %w", err)
	}
	format, err := detect(map[string][]byte{path: src})
	if err != nil {
		return nil, err
	}
	return Open(format, map[string][]byte{path: src}, opts...)
}

// loadDir reads a helmfile layout or a folder of Flux manifests. Names are
// relative to dir, so Files and WriteFiles(dir, ...) round-trip.
func loadDir(dir string, o options, opts []Option) (Document, error) {
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
	for name := range files {
		if isHelmfileName(name) && !strings.Contains(name, "/") {
			// Only the files the helmfile refers to are parsed; a chart's
			// templates lying next to it are carried, never read.
			return Open(Helmfile, files, opts...)
		}
	}
	return Open(Flux, files, opts...)
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
