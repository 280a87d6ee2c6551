package policy

import (
	"cmp"
	"slices"
	"time"
)

// Input is what the caller found out about one app: the image, the chart,
// the rendered manifests and the desired-state entry. Check does no I/O; a
// nil part is not checked, and its rules are not listed by Checked.
type Input struct {
	Env, App string
	Image    *Image   // nil when no image is known
	Chart    *Chart   // nil when no chart
	Objects  []Object // rendered manifests; nil when not rendered
	// WorkloadImages are the images the rendered manifests run besides
	// Image, each read from the registry (see ContainerImages).
	WorkloadImages []WorkloadImage
	State          *StateEntry // the app's desired-state entry; nil when desired state is not checked
	// Runtime are the checks of the started container; nil when the image
	// was not started (validate without --runtime).
	Runtime []RuntimeResult
}

// Image is what the registry and the signature check said about an image.
type Image struct {
	Ref      string // as referenced (in the desired state or on the command line)
	Registry string // host of Ref
	Tag      string
	Digest   string // what Ref pins; "" when Ref has only a tag
	// ResolvedDigest is what the registry resolved Ref to.
	ResolvedDigest string
	// ExpectedDigest is the digest an earlier step built and signed for this
	// tag (from its result file); "" when unknown.
	ExpectedDigest string

	User            string
	Entrypoint, Cmd []string
	Env             []string          // KEY=value, from the image config
	Labels          map[string]string // image config labels
	DiffIDs         []string          // uncompressed layer digests, base first
	Annotations     map[string]string // manifest annotations (org.opencontainers.image.base.*)
	Signature       SignatureResult   // from signing.Verify
}

// SignatureResult is the outcome of verifying the image's signature.
type SignatureResult struct {
	Verified bool
	KeyID    string
	// Problem says why it is not verified: "unsigned", "revoked key x",
	// "no approved key", or an error text.
	Problem string
}

// ApprovedBase is one approved base image, resolved by the caller.
type ApprovedBase struct {
	Name    string
	Digest  string
	DiffIDs []string
}

// Chart is what the caller found out about the app's chart.
type Chart struct {
	Name, Version string
	Repo          string // URL, or a local path when Local
	Local         bool
	Latest        string // newest version in Repo; "" when unknown
	RenderError   string
	README        string
	Annotations   map[string]string // Chart.yaml annotations
}

// Object is one rendered manifest.
type Object struct {
	Object   map[string]any
	Template string // the chart template it came from, e.g. api/templates/deployment.yaml
}

// StateEntry is the app's entry in the environment's desired state.
type StateEntry struct {
	Found        bool
	File         string
	Line         int
	ChartVersion string
	Image        string
	Chart        string
	// Problem says why the app was not found, e.g. with a did-you-mean;
	// "" gives a message of its own.
	Problem string
}

// Config is what the platform approves, from stepper.yaml. Zero thresholds
// take the platform's defaults; a policy file's thresholds win over these.
type Config struct {
	// ApprovedRegistry is the registry host images must come from. With a
	// path (host/project) the image reference must start with it.
	ApprovedRegistry string
	ApprovedBases    []ApprovedBase
	// OfficialRepos are the chart repositories the platform deploys from:
	// URLs (https://..., oci://...) compared without a trailing slash.
	OfficialRepos []string

	// PlatformRules says a platform (a profile or a platform file) owns
	// the approved registry, base images and chart repositories: a rule
	// whose input it left out is broken, not "not checked".
	PlatformRules bool
	// UnsignedBuild says the image is a merge request's build, which is
	// signed only once merged: image-signed is reported as not checked,
	// never as passed.
	UnsignedBuild bool

	HealthPath     string // probe path; default /healthz
	MinReplicas    int    // default 2
	MaxGracePeriod int    // terminationGracePeriodSeconds at most; default 10
}

// Platform defaults for the thresholds.
const (
	DefaultHealthPath     = "/healthz"
	DefaultMinReplicas    = 2
	DefaultMaxGracePeriod = 10
)

// check runs the rules of one category on the part of the input they look
// at. Every check is pure: facts in, findings out. A check leaves Severity
// empty for a broken rule, or sets Info for a rule it could not check.
type check struct {
	category Category
	present  func(Input) bool
	run      func(Config, Input) []Finding
	// rules are the rules of the category run checks; nil means all.
	rules []string
}

func (c check) covers(r Rule) bool {
	return c.category == r.Category && (c.rules == nil || slices.Contains(c.rules, r.ID))
}

// checks is every built-in check; the order does not matter, findings are
// sorted afterwards.
var checks = []check{
	{CategoryImage, func(in Input) bool { return in.Image != nil }, checkImage, nil},
	{CategoryImage, func(in Input) bool { return len(in.WorkloadImages) > 0 }, checkWorkloadImages, workloadImageRules},
	{CategoryChart, func(in Input) bool { return in.Chart != nil }, checkChart, nil},
	{CategoryManifest, func(in Input) bool { return in.Objects != nil }, checkManifests, nil},
	{CategoryDesiredState, func(in Input) bool { return in.State != nil }, checkState, nil},
	{CategoryDocs, func(in Input) bool { return in.Chart != nil }, checkDocs, nil},
	{CategoryRuntime, func(in Input) bool { return in.Runtime != nil }, checkRuntime, nil},
}

// Check checks in against the policy and returns the findings, waivers
// applied, sorted by rule (in report order), object and message. A nil
// Policy is the built-in one.
func (p *Policy) Check(cfg Config, in Input, now time.Time) []Finding {
	p = p.orDefault()
	cfg = p.settle(cfg)
	var raw []Finding
	for _, c := range checks {
		if c.present(in) && p.anyEnabled(c.category) {
			raw = append(raw, c.run(cfg, in)...)
		}
	}
	raw = append(raw, p.checkCustom(in)...)

	out := make([]Finding, 0, len(raw))
	for _, f := range raw {
		r := p.rules[p.index[f.Rule]]
		if r.Severity == Off {
			continue
		}
		if f.Severity == "" {
			f.Severity = r.Severity
		}
		f.Category, f.Fix, f.Link = r.Category, r.Fix, r.Link
		f.Env, f.App = in.Env, in.App
		p.waive(&f, now)
		out = append(out, f)
	}
	slices.SortStableFunc(out, func(a, b Finding) int {
		return cmp.Or(
			cmp.Compare(p.index[a.Rule], p.index[b.Rule]),
			cmp.Compare(a.Object, b.Object),
			cmp.Compare(a.File, b.File),
			cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Message, b.Message),
		)
	})
	return out
}

// Checked returns the ids of the enabled rules Check evaluates for in, in
// report order, so a report can show the rules that passed.
func (p *Policy) Checked(in Input) []string {
	p = p.orDefault()
	var ids []string
	for _, r := range p.rules {
		if r.Severity == Off {
			continue
		}
		if r.Category == CategoryCustom {
			if p.customByID[r.ID].applies(in) {
				ids = append(ids, r.ID)
			}
			continue
		}
		for _, c := range checks {
			if c.covers(r) && c.present(in) {
				ids = append(ids, r.ID)
				break
			}
		}
	}
	return ids
}

// RuleIDs returns the id of every rule the policy knows, built-in first in
// report order, then the policy file's custom rules in file order. Rules
// switched off are included: they are still valid in waivers.
func (p *Policy) RuleIDs() []string {
	p = p.orDefault()
	ids := make([]string, len(p.rules))
	for i, r := range p.rules {
		ids[i] = r.ID
	}
	return ids
}

// Rules returns the policy's rules with the severities it sets, built-in
// first, then custom rules.
func (p *Policy) Rules() []Rule {
	return slices.Clone(p.orDefault().rules)
}

func (p *Policy) anyEnabled(c Category) bool {
	for _, r := range p.rules {
		if r.Category == c && r.Severity != Off {
			return true
		}
	}
	return false
}

// settle fills cfg's zero thresholds with the defaults, then applies the
// policy file's thresholds.
func (p *Policy) settle(cfg Config) Config {
	if cfg.HealthPath == "" {
		cfg.HealthPath = DefaultHealthPath
	}
	if cfg.MinReplicas == 0 {
		cfg.MinReplicas = DefaultMinReplicas
	}
	if cfg.MaxGracePeriod == 0 {
		cfg.MaxGracePeriod = DefaultMaxGracePeriod
	}
	t := p.orDefault().thresholds
	if t.healthPath != "" {
		cfg.HealthPath = t.healthPath
	}
	if t.minReplicas != nil {
		cfg.MinReplicas = *t.minReplicas
	}
	if t.maxGracePeriod != nil {
		cfg.MaxGracePeriod = *t.maxGracePeriod
	}
	return cfg
}
