package config

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"reflect"

	"github.com/stepper-cd/stepper/internal/secret"
	"go.yaml.in/yaml/v3"
)

// DefaultPath is the file read when the user names none.
const DefaultPath = "stepper.yaml"

// Options says where configuration comes from. The CLI fills it from its
// flags; nothing here reads the process environment on its own.
type Options struct {
	// Path is the file to read; "" reads none.
	Path string
	// Platform is the platform file the platform team pins (--platform-config):
	// read after the profile and before Path, it owns the platform's rules
	// (see locks.go) together with the profile. "" reads none.
	Platform string
	// PathExplicit says the user named the file (--config, STEPPER_CONFIG),
	// so a missing file is an error. Otherwise a missing file means "use the
	// built-in defaults".
	PathExplicit bool
	// Profile overrides the file's profile: when not empty; "none" selects
	// no profile.
	Profile string
	// Environ is os.Environ(); its STEPPER_* variables override keys.
	Environ []string
	// IgnoreEnv are STEPPER_* names that belong to CLI flags
	// (STEPPER_CONFIG, STEPPER_LOG_LEVEL, ...) and are not config keys.
	IgnoreEnv []string
	// Sets are --set key.path=value flags, applied last, in order.
	Sets []string
	// SetFlag is how messages name the flag Sets come from, like
	// "--config-set" (the default).
	SetFlag string
	// Secrets receives every secret seen while loading; nil keeps them in a
	// set of the Config's own.
	Secrets *secret.Set
}

// Load reads the configuration: the profile, then the file, then STEPPER_*
// variables, then --set flags, each overriding the one before. Every
// problem is an *Error marked exit.Usage, except a cancelled ctx, which is
// returned as it is.
func Load(ctx context.Context, o Options) (*Config, error) {
	set := o.Secrets
	if set == nil {
		set = secret.NewSet()
	}
	l := &loader{o: o, c: newConfig(set)}
	if o.SetFlag != "" {
		l.c.setFlag = o.SetFlag
	}
	if err := l.load(ctx); err != nil {
		return nil, err
	}
	return l.c, nil
}

type loader struct {
	o Options
	c *Config
	// platformOnly reads only the platform's layers (profile, platform
	// file) and defaults: what the platform decided, for the lock check.
	platformOnly bool
}

func (l *loader) load(ctx context.Context) error {
	proot, err := l.readPlatformFile(ctx)
	if err != nil {
		return err
	}
	var root *yaml.Node
	var sets []setting
	var vars []variable
	if !l.platformOnly {
		if root, err = l.readConfigFile(ctx); err != nil {
			return err
		}
		if sets, err = parseSets(l.o.Sets, l.c.flagName()); err != nil {
			return err
		}
		vars = stepperVars(l.o.Environ, l.o.IgnoreEnv)
	}
	profile, from, err := l.chooseProfile(root, sets, vars)
	if err != nil {
		return err
	}
	if profile, from, err = l.platformProfile(proot, profile, from); err != nil {
		return err
	}
	cv := reflect.ValueOf(l.c).Elem()
	if profile != "" {
		root, err := profileRoot(profile, l.c.secrets)
		if err != nil {
			return err
		}
		d := &decoder{layer: origin{kind: fromProfile, name: profile}, c: l.c}
		if err := d.member(root, cv, nil, ""); err != nil {
			return err
		}
	}
	if proot != nil {
		l.c.platformFile = l.o.Platform
		d := &decoder{layer: l.platformOrigin(), baseDir: filepath.Dir(l.o.Platform), c: l.c}
		if err := d.member(proot, cv, nil, ""); err != nil {
			return err
		}
	}
	if root != nil {
		d := &decoder{layer: l.fileOrigin(), baseDir: filepath.Dir(l.o.Path), c: l.c}
		if err := d.member(root, cv, nil, ""); err != nil {
			return err
		}
	}
	for _, v := range vars {
		if err := l.applyVar(v); err != nil {
			return err
		}
	}
	for _, s := range sets {
		if err := l.applySet(s); err != nil {
			return err
		}
	}
	l.c.Profile = profile
	l.c.forget(path{}.field("profile"))
	if profile != "" {
		l.c.sources["profile"] = from
		l.c.pos["profile"] = from
	}
	applyDefaults(l.c)
	if l.platformOnly {
		return nil
	}
	if err := validate(l.c); err != nil {
		return err
	}
	if profile != "" || proot != nil {
		if err := l.checkLocks(ctx, profile); err != nil {
			return err
		}
	}
	for _, e := range l.c.Environments {
		e.cfg = l.c // Check needs gitlab and jenkins too
	}
	return nil
}

func (l *loader) fileOrigin() origin { return origin{kind: fromFile, name: l.o.Path} }

// readConfigFile returns the root mapping of the config file, or nil when
// there is no file to read.
func (l *loader) readConfigFile(ctx context.Context) (*yaml.Node, error) {
	if l.o.Path == "" {
		return nil, nil
	}
	data, err := readFile(ctx, l.o.Path)
	switch {
	case err == nil:
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return nil, err
	case errors.Is(err, fs.ErrNotExist) && !l.o.PathExplicit:
		return nil, nil
	case errors.Is(err, fs.ErrNotExist):
		return nil, fail(l.fileOrigin(), nil, "the file does not exist", "check --config or STEPPER_CONFIG, or create the file")
	default:
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fail(l.fileOrigin(), nil, "cannot read the file: "+err.Error(), "name a readable stepper.yaml")
	}
	l.c.file = l.o.Path
	return parseDocument(data, l.fileOrigin(), l.c.secrets)
}

// chooseProfile finds the profile to start from before anything is merged,
// because the profile is the lowest layer: --profile, then the last --set
// profile=, then STEPPER_PROFILE, then the file's profile: key.
func (l *loader) chooseProfile(root *yaml.Node, sets []setting, vars []variable) (string, origin, error) {
	name, from, found := l.o.Profile, origin{kind: fromOption, name: "--profile"}, l.o.Profile != ""
	for i := len(sets) - 1; i >= 0 && !found; i-- {
		if len(sets[i].segs) == 1 && sets[i].segs[0] == "profile" {
			name, from, found = sets[i].value, origin{kind: fromSet, name: l.c.flagName() + " " + sets[i].text}, true
		}
	}
	for _, v := range vars {
		if v.name == "STEPPER_PROFILE" && !found {
			name, from, found = v.value, origin{kind: fromEnv, name: v.name}, true
		}
	}
	if !found && root != nil {
		for i := 0; i+1 < len(root.Content); i += 2 {
			k, v := root.Content[i], deref(root.Content[i+1])
			if k.Value == "profile" && v.Kind == yaml.ScalarNode && !isNull(v) {
				name, from, found = v.Value, l.fileOrigin().at(v), true
				break
			}
		}
	}
	if name == "none" {
		name = ""
	}
	if name != "" && !hasProfile(name) {
		return "", from, fail(from, path{}.field("profile"), q(name)+" is not a built-in profile",
			joinHint(didYouMean(name, Profiles()), "built-in profiles: "+joinNames(Profiles())+"; leave profile empty or write none for no profile"))
	}
	return name, from, nil
}
