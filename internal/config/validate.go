package config

import (
	"net"
	"slices"
	"strings"
)

// applyDefaults fills what no layer set and code decides. Each default is
// recorded as such, so the effective configuration shows it.
func applyDefaults(c *Config) {
	byDefault := origin{kind: fromDefault}
	if c.Signing.Format == "" {
		c.Signing.Format = SigTag
		c.sources["signing.format"] = byDefault
	}
	for _, e := range c.Environments {
		p := envPath(e.Name).field("land")
		if e.Land.Via == "" {
			e.Land.Via = ViaCommit
			c.sources[p.field("via").String()] = byDefault
		}
		if e.Land.Via == ViaMergeRequest && e.Land.TargetBranch == "" && e.DesiredState.Branch != "" {
			e.Land.TargetBranch = e.DesiredState.Branch
			c.sources[p.field("targetBranch").String()] = byDefault
		}
	}
}

// validate checks what no single value can: that chains name defined
// environments, that one chain is selected, and that related keys agree.
// Completeness (a repo URL the profile cannot know) is left to Check, so
// that validate and other verbs work with a partial configuration.
func validate(c *Config) error {
	for _, check := range []func(*Config) error{
		validateChains,
		selectChain,
		validateCredentials,
		validatePublicKeys,
		validateLanding,
		validateGates,
	} {
		if err := check(c); err != nil {
			return err
		}
	}
	warnAboutRisks(c)
	return nil
}

func validateChains(c *Config) error {
	defined := c.environmentNames()
	for _, name := range sortedKeys(c.Chains) {
		p := path{}.field("chains").key(name)
		list := c.Chains[name]
		if len(list) == 0 {
			return fail(c.posOf(p), p, "the chain is empty", "list its environments in order, like [inttest, exttest, preprod, prod]")
		}
		for i, env := range list {
			ip := p.index(i)
			if !slices.Contains(defined, env) {
				return fail(c.posOf(ip), ip, "environment "+q(env)+" is not defined",
					joinHint(didYouMean(env, defined), "defined: "+joinNames(defined)+"; define it under environments:"))
			}
			if slices.Index(list, env) != i {
				return fail(c.posOf(ip), ip, "environment "+q(env)+" appears twice", "a release visits each environment once")
			}
		}
	}
	return nil
}

// selectChain picks the chain: the one named by chain:, else the only one
// defined, else, with no chains at all, the environments in the order they
// are listed.
func selectChain(c *Config) error {
	p := path{}.field("chain")
	names := sortedKeys(c.Chains)
	switch {
	case c.ChainName != "":
		if _, ok := c.Chains[c.ChainName]; !ok {
			hint := "defined chains: " + joinNames(names)
			if len(names) == 0 {
				hint = "no chains are defined; add chains: or remove chain: to use the environments in the order they are listed"
			}
			return fail(c.posOf(p), p, "unknown chain "+q(c.ChainName), joinHint(didYouMean(c.ChainName, names), hint))
		}
	case len(names) == 1:
		c.ChainName = names[0]
		c.sources[p.String()] = origin{kind: fromDefault}
	case len(names) > 1:
		return fail(c.fileOrigin(), p, "no chain is selected",
			"set chain: to one of "+joinNames(names)+", or STEPPER_CHAIN, or "+c.flagName()+" chain=NAME")
	default:
		c.chain = slices.Clone(c.Environments)
		return nil
	}
	c.chain = nil
	for _, name := range c.Chains[c.ChainName] {
		c.chain = append(c.chain, c.defined(name))
	}
	return nil
}

func validateCredentials(c *Config) error {
	cr := c.Registry.Credentials
	p := path{}.field("registry").field("credentials")
	if cr.DockerConfig != "" && (cr.Username != "" || cr.Password != "") {
		return fail(c.posOf(p.field("dockerConfig")), p, "dockerConfig and username/password are both set",
			"choose one way to log in to the registry")
	}
	if (cr.Username == "") != (cr.Password == "") {
		missing := "password"
		if cr.Username == "" {
			missing = "username"
		}
		return fail(c.posOf(p.field(missing)), p.field(missing), "is not set, but its partner is", "set username and password together, or use dockerConfig")
	}
	return nil
}

func validatePublicKeys(c *Config) error {
	p := path{}.field("signing").field("publicKeys")
	seen := map[string]bool{}
	for i, k := range c.Signing.PublicKeys {
		ip := p.index(i)
		switch {
		case k.ID == "":
			return fail(c.posOf(ip), ip.field("id"), "is not set", "every public key needs an id, so it can be revoked when it is rotated out")
		case k.Path == "":
			return fail(c.posOf(ip), ip.field("path"), "is not set", "name the PEM file of the public key")
		case seen[k.ID]:
			return fail(c.posOf(ip.field("id")), ip.field("id"), "key id "+q(k.ID)+" is used twice", "give each key its own id")
		}
		seen[k.ID] = true
	}
	return nil
}

func validateLanding(c *Config) error {
	for _, e := range c.Environments {
		l := e.Land
		if l.Via == ViaMergeRequest && l.SourceBranch != "" && l.SourceBranch == l.TargetBranch {
			p := envPath(e.Name).field("land").field("sourceBranch")
			return fail(c.posOf(p), p, "the merge request would merge "+q(l.SourceBranch)+" into itself",
				"set sourceBranch to the branch edits are made on, or leave it empty for a new branch per change")
		}
	}
	return nil
}

// warnAboutRisks notes settings that work but deserve a second look.
func warnAboutRisks(c *Config) {
	if c.Registry.Insecure && c.Registry.Host != "" && !isLoopback(c.Registry.Host) {
		c.warnf("registry.insecure is true for %s, which is not this machine: images and credentials cross the network unencrypted", c.Registry.Host)
	}
	urls := map[string]string{"gitlab.url": c.GitLab.URL, "jenkins.url": c.Jenkins.URL}
	for _, e := range c.Environments {
		urls[envPath(e.Name).field("desiredState").field("repo").String()] = e.DesiredState.Repo
	}
	for _, key := range sortedKeys(urls) {
		if _, _, pass, _, ok := splitUserinfo(urls[key]); ok && pass != "" {
			c.warnf("%s carries a password; prefer a Git credential helper or a token from the job's environment", key)
		}
	}
	if len(c.Chains) > 0 {
		for _, e := range c.Environments {
			if !slices.ContainsFunc(sortedKeys(c.Chains), func(ch string) bool { return slices.Contains(c.Chains[ch], e.Name) }) {
				c.warnf("environment %s is in no chain, so no verb can reach it", e.Name)
			}
		}
	}
	if keys := c.Signing.PublicKeys; len(keys) > 0 && !slices.ContainsFunc(keys, func(k PublicKey) bool {
		return !slices.Contains(c.Signing.RevokedKeys, k.ID)
	}) {
		c.warnf("every key in signing.publicKeys is revoked, so no signature can verify")
	}
}

// envPath is the key path of the environment called name.
func envPath(name string) path { return path{}.field("environments").env(name) }

func isLoopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
