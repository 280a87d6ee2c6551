package config

import (
	"slices"
	"time"
)

// PromotersFor returns who may promote into e on chain: the chain's own
// list when chainPromoters names the chain, else promoters.
func (e *Environment) PromotersFor(chain string) []string {
	if p, ok := e.ChainPromoters[chain]; ok {
		return p
	}
	return e.Promoters
}

// On reports whether gate g is checked (gates.off does not name it).
func (g Gates) On(gate Gate) bool { return !slices.Contains(g.Off, gate) }

// MaxAgeDuration is gates.maxAge; 0 means no limit.
func (g Gates) MaxAgeDuration() time.Duration { return duration(g.MaxAge) }

// SoakDuration is how long a release must stay in the source environment
// before it may enter this one; with hotfix, gates.hotfixSoak when set.
func (g Gates) SoakDuration(hotfix bool) time.Duration {
	if hotfix && g.HotfixSoak != "" {
		return duration(g.HotfixSoak)
	}
	return duration(g.Soak)
}

// duration parses a value the duration rule already checked.
func duration(s string) time.Duration {
	d, _ := time.ParseDuration(s)
	return d
}

// validateGates checks what the rules of single values cannot: that
// chainPromoters names chains and a hotfix soak is no longer than the soak.
func validateGates(c *Config) error {
	for _, e := range c.Environments {
		for _, chain := range sortedKeys(e.ChainPromoters) {
			if _, ok := c.Chains[chain]; !ok {
				p := envPath(e.Name).field("chainPromoters").key(chain)
				return fail(c.posOf(p), p, "chain "+q(chain)+" is not defined", joinHint(didYouMean(chain, sortedKeys(c.Chains)), "defined: "+joinNames(sortedKeys(c.Chains))))
			}
		}
		g := e.Gates
		if g.HotfixSoak != "" && duration(g.HotfixSoak) > duration(g.Soak) {
			p := envPath(e.Name).field("gates").field("hotfixSoak")
			return fail(c.posOf(p), p, "a hotfix would soak longer ("+g.HotfixSoak+") than any release ("+orNone(g.Soak)+")", "make hotfixSoak at most gates.soak")
		}
	}
	return nil
}

// narrowsGates reports why a vendor's gates widen the platform's, or "".
// A vendor may switch fewer gates off, shorten maxAge, lengthen soaks.
func narrowsGates(c, p Gates) string {
	switch {
	case !subset(gateNames(c.Off), gateNames(p.Off)):
		return "gates switched off"
	case p.MaxAge != "" && (c.MaxAge == "" || duration(c.MaxAge) > duration(p.MaxAge)):
		return "maxAge"
	case duration(c.Soak) < duration(p.Soak):
		return "soak"
	case p.HotfixSoak == "" && c.HotfixSoak != "" && duration(c.HotfixSoak) < duration(c.Soak),
		p.HotfixSoak != "" && c.HotfixSoak != "" && duration(c.HotfixSoak) < duration(p.HotfixSoak),
		p.HotfixSoak != "" && c.HotfixSoak == "" && duration(c.Soak) < duration(p.HotfixSoak):
		return "hotfixSoak"
	}
	return ""
}

func gateNames(g []Gate) []string {
	s := make([]string, len(g))
	for i, x := range g {
		s[i] = string(x)
	}
	return s
}

// MigrationsOf returns app's migration settings; zero when none are set.
func (m Migrations) MigrationsOf(app string) AppMigrations {
	for _, a := range m.Apps {
		if a.Name == app {
			return a
		}
	}
	return AppMigrations{Name: app}
}
