package config

import (
	"context"
	"errors"
	"io/fs"
	"maps"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The platform's rules belong to the platform: the profile and the platform
// file (--platform-config) the platform team pins in its jobs and CI templates. A
// vendor's stepper.yaml, STEPPER_* variables and --config-set may narrow
// them, never widen them:
//
//   - chains and the chain order: only the platform's; a vendor selects one
//     of them;
//   - each environment's landing route (land.*): only the platform's;
//   - promoters and chainPromoters: a vendor may name fewer, never others
//     or none;
//   - gates: a vendor may switch fewer off, shorten maxAge, lengthen soaks;
//   - signing.evidenceKeys: only the platform's;
//   - migrations.valuesKeys: a vendor may add keys, never drop one;
//   - registry.host: only the platform's;
//   - signing.publicKeys: a vendor may approve fewer of the platform's keys,
//     never another; signing.revokedKeys: a vendor may revoke more;
//   - baseImages and charts.repositories: a vendor may approve fewer.
//
// Where the platform set no value, the key is still the platform's: a vendor
// value is refused, so that, say, the keys a deploy verifies against never
// come from the vendor's own file. Without a profile and a platform file
// there is no platform: the file owns everything.

func (l *loader) platformOrigin() origin { return origin{kind: fromPlatform, name: l.o.Platform} }

// readPlatformFile returns the root mapping of the platform file, or nil
// when none is named. A named file must exist.
func (l *loader) readPlatformFile(ctx context.Context) (*yaml.Node, error) {
	if l.o.Platform == "" {
		return nil, nil
	}
	data, err := readFile(ctx, l.o.Platform)
	switch {
	case err == nil:
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return nil, err
	case errors.Is(err, fs.ErrNotExist):
		return nil, fail(l.platformOrigin(), nil, "the platform file does not exist", "check --platform-config or STEPPER_PLATFORM_CONFIG")
	default:
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fail(l.platformOrigin(), nil, "cannot read the platform file: "+err.Error(), "name a readable platform file")
	}
	return parseDocument(data, l.platformOrigin(), l.c.secrets)
}

// platformProfile makes the platform file's profile: key the profile. A
// vendor layer that chose another one is refused.
func (l *loader) platformProfile(proot *yaml.Node, profile string, from origin) (string, origin, error) {
	if proot == nil {
		return profile, from, nil
	}
	for i := 0; i+1 < len(proot.Content); i += 2 {
		k, v := proot.Content[i], deref(proot.Content[i+1])
		if k.Value != "profile" || v.Kind != yaml.ScalarNode || isNull(v) {
			continue
		}
		want := v.Value
		if want == "none" {
			want = ""
		}
		chosen := from.kind != fromOption || l.o.Profile != ""
		if chosen && profile != want {
			return "", from, fail(from, path{}.field("profile"), "the platform file "+l.o.Platform+" names profile "+q(v.Value)+"; the profile is the platform's",
				"remove this choice of profile")
		}
		return want, l.platformOrigin().at(v), nil
	}
	return profile, from, nil
}

// checkLocks refuses every vendor value that widens what the platform
// decided (see above).
func (l *loader) checkLocks(ctx context.Context, profile string) error {
	opts := Options{Profile: profile, Platform: l.o.Platform, Secrets: l.c.secrets}
	if profile == "" {
		opts.Profile = "none"
	}
	pl := &loader{o: opts, c: newConfig(l.c.secrets), platformOnly: true}
	if err := pl.load(ctx); err != nil {
		return err
	}
	p, c := pl.c, l.c
	var errs []error
	refuse := func(at path, problem, hint string) {
		errs = append(errs, fail(vendorOrigin(c, at), at, problem, hint))
	}
	owner := "the platform (" + platformName(profile, l.o.Platform) + ")"
	if c.Registry.Host != p.Registry.Host {
		refuse(path{}.field("registry").field("host"), "the registry is "+owner+"'s: "+orNone(p.Registry.Host), "remove the override")
	}
	for _, name := range slices.Sorted(maps.Keys(c.Chains)) {
		if !slices.Equal(c.Chains[name], p.Chains[name]) {
			refuse(path{}.field("chains").key(name), "the chains and their order are "+owner+"'s", "select one of its chains with chain:, or ask the platform team")
		}
	}
	for _, pe := range p.Environments {
		ce := c.defined(pe.Name)
		if ce == nil {
			continue
		}
		at := path{}.field("environments").env(pe.Name)
		if !sameLand(ce.Land, pe.Land) {
			refuse(at.field("land"), "how a release lands in "+pe.Name+" is "+owner+"'s ("+landText(pe.Land)+")", "remove the override")
		}
		for _, chain := range slices.Sorted(maps.Keys(c.Chains)) {
			pp, cp := pe.PromotersFor(chain), ce.PromotersFor(chain)
			if len(pp) > 0 && (len(cp) == 0 || !subset(cp, pp)) {
				field := at.field("promoters")
				if _, ok := ce.ChainPromoters[chain]; ok {
					field = at.field("chainPromoters").key(chain)
				}
				refuse(field, "who may promote into "+pe.Name+" on the "+chain+" chain is "+owner+"'s ("+joinNames(pp)+")", "name some of them, or none of yours")
				break
			}
		}
		if what := narrowsGates(ce.Gates, pe.Gates); what != "" {
			refuse(at.field("gates"), "the gates of "+pe.Name+" are "+owner+"'s; the "+what+" may only be made stricter", "remove the override, or make it stricter")
		}
	}
	if !keysSubset(c.Signing.PublicKeys, p.Signing.PublicKeys) {
		refuse(path{}.field("signing").field("publicKeys"), "the approved signing keys are "+owner+"'s", "set them in the platform file; a vendor may only revoke keys (signing.revokedKeys)")
	}
	if !keysSubset(c.Signing.EvidenceKeys, p.Signing.EvidenceKeys) || (len(p.Signing.EvidenceKeys) > 0 && len(c.Signing.EvidenceKeys) == 0) {
		refuse(path{}.field("signing").field("evidenceKeys"), "the keys evidence must be signed with are "+owner+"'s", "set them in the platform file")
	}
	if !subset(p.Migrations.ValuesKeys, c.Migrations.ValuesKeys) {
		refuse(path{}.field("migrations").field("valuesKeys"), "the values keys that mark a migration are "+owner+"'s ("+joinNames(p.Migrations.ValuesKeys)+")", "add keys, never remove one")
	}
	if !subset(p.Signing.RevokedKeys, c.Signing.RevokedKeys) {
		refuse(path{}.field("signing").field("revokedKeys"), "the platform's revoked keys stay revoked", "add keys to the list, never remove one")
	}
	if !subset(c.BaseImages, p.BaseImages) {
		refuse(path{}.field("baseImages"), "the approved base images are "+owner+"'s ("+joinNames(p.BaseImages)+")", "list some of them, or none of yours")
	}
	if c.Charts.Keyring.Expand() != p.Charts.Keyring.Expand() {
		refuse(path{}.field("charts").field("keyring"), "the keyring charts are verified with is "+owner+"'s", "set it in the platform file")
	}
	if !subset(c.Charts.Repositories, p.Charts.Repositories) {
		refuse(path{}.field("charts").field("repositories"), "the official chart repositories are "+owner+"'s ("+joinNames(p.Charts.Repositories)+")", "list some of them, or none of yours")
	}
	return errors.Join(errs...)
}

// vendorOrigin is where a vendor layer (the file, a variable, a flag) wrote
// the value at p or below it; else where the value was written at all.
func vendorOrigin(c *Config, p path) origin {
	key := p.String()
	for _, k := range slices.Sorted(maps.Keys(c.sources)) {
		o := c.sources[k]
		if (k == key || strings.HasPrefix(k, key+".") || strings.HasPrefix(k, key+"[")) && o.kind >= fromFile {
			return o
		}
	}
	return c.posOf(p)
}

func platformName(profile, file string) string {
	switch {
	case file != "" && profile != "":
		return "profile " + profile + " and " + file
	case file != "":
		return file
	}
	return "profile " + profile
}

func sameLand(a, b Land) bool {
	return a.Via == b.Via && a.SourceBranch == b.SourceBranch && a.TargetBranch == b.TargetBranch &&
		a.Job == b.Job && maps.Equal(a.Parameters, b.Parameters) &&
		slices.Equal(a.Reviewers, b.Reviewers) && slices.Equal(a.Labels, b.Labels)
}

func landText(l Land) string {
	s := "via " + string(l.Via)
	switch {
	case l.Job != "":
		s += " job " + l.Job
	case l.TargetBranch != "":
		s += " into " + l.TargetBranch
	}
	return s
}

// subset reports whether every element of a is in b.
func subset(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

// keysSubset reports whether every key of a is one of b's, by id and file.
func keysSubset(a, b []PublicKey) bool {
	for _, k := range a {
		if !slices.ContainsFunc(b, func(o PublicKey) bool { return o.ID == k.ID && o.Path.Expand() == k.Path.Expand() }) {
			return false
		}
	}
	return true
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
