package desiredstate

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Format names a kind of desired state. helmfile and Flux will be added as
// further formats behind the same Document interface.
type Format string

const (
	HelmsmanYAML Format = "helmsman-yaml"
	HelmsmanTOML Format = "helmsman-toml"
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
}

// WithKeys sets the values keys that carry image and configuration.
func WithKeys(k Keys) Option { return func(o *options) { o.keys = k } }

// WithMaxBytes caps the size of one file; the default is 4 MiB.
func WithMaxBytes(n int) Option { return func(o *options) { o.limits.maxBytes = n } }

func newOptions(opts []Option) options {
	o := options{keys: DefaultKeys(), limits: defaultLimits()}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// Open reads a document of the given format from its files' contents. An
// empty format is detected from the file name.
func Open(format Format, files map[string][]byte, opts ...Option) (Document, error) {
	o := newOptions(opts)
	if format == "" && len(files) == 1 {
		for name := range files {
			f, err := DetectFormat(name)
			if err != nil {
				return nil, err
			}
			format = f
		}
	}
	switch format {
	case HelmsmanYAML, HelmsmanTOML:
		if len(files) != 1 {
			return nil, fmt.Errorf("a Helmsman desired state is one file, got %d", len(files))
		}
		for name, src := range files {
			return asDocument(openHelmsman(format, name, src, o))
		}
	}
	return nil, fmt.Errorf("unknown desired-state format %q (known: %s, %s)", format, HelmsmanYAML, HelmsmanTOML)
}

// Load reads a Helmsman DSF from disk, telling YAML from TOML by the file
// extension.
func Load(path string, opts ...Option) (Document, error) {
	format, err := DetectFormat(path)
	if err != nil {
		return nil, err
	}
	o := newOptions(opts)
	if fi, err := os.Stat(path); err == nil && fi.Size() > int64(o.limits.maxBytes) {
		return nil, tooLarge(path, int(fi.Size()), o.limits.maxBytes)
	}
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load desired state: %w", err)
	}
	return asDocument(openHelmsman(format, path, src, o))
}

// DetectFormat picks the format from a file name.
func DetectFormat(path string) (Format, error) {
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
