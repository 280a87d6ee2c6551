package config

import "github.com/stepper-cd/stepper/internal/secret"

// The types in this file are stepper.yaml as Go values. Their yaml tags are
// the key names; the check tags name the rule a value must satisfy (see
// rules.go). The strict decoder, the STEPPER_* and --set overrides, Require
// and WriteEffective all walk these same types, so a key added here is known
// everywhere at once. REFERENCE.md documents every key; a test keeps the two
// in step.

// Config is the effective configuration of one run: the profile, stepper.yaml,
// STEPPER_* variables and --set flags merged in that order.
type Config struct {
	// Profile names the built-in defaults the configuration starts from.
	Profile string `yaml:"profile"`
	// ChainName selects one of Chains; Chain() returns its environments.
	ChainName string `yaml:"chain" check:"chainname"`
	// Chains are named, ordered lists of environment names.
	Chains map[string][]string `yaml:"chains" check:"name"`

	Registry Registry `yaml:"registry"`
	// BaseImages are the approved base images (repo, repo:tag or repo@digest).
	BaseImages []string `yaml:"baseImages" check:"image"`
	Signing    Signing  `yaml:"signing"`
	// Build is how build-sign-push makes and names an image.
	Build Build `yaml:"build"`
	// Charts are where the platform's approved Helm charts come from.
	Charts Charts `yaml:"charts"`
	// Validate configures the validate verb.
	Validate Validate `yaml:"validate"`
	// SmokeTest is the checks smoke-test runs when its flags give none.
	SmokeTest SmokeTest `yaml:"smokeTest"`
	// Values says where the platform's charts keep an app's image and
	// configuration, and which values keys belong to one environment.
	Values  Values  `yaml:"values"`
	GitLab  GitLab  `yaml:"gitlab"`
	Jenkins Jenkins `yaml:"jenkins"`
	// Migrations says how a rollback tells that releases ran database
	// migrations, and how to undo them.
	Migrations Migrations `yaml:"migrations"`
	// Environments are every environment any chain may name, in the order
	// they were first defined (profile first).
	Environments []*Environment `yaml:"environments" key:"name"`

	file         string            // the stepper.yaml read, "" if none
	platformFile string            // the platform file read, "" if none
	chain        []*Environment    // the selected chain, in order
	sources      map[string]origin // leaf key path -> where its value came from
	pos          map[string]origin // any key path -> where it was written, for errors
	warnings     []string          // problems worth a word that do not stop the run
	secrets      *secret.Set       // every secret seen while loading
	setFlag      string            // the CLI's name for --set, for messages
}

// Registry is the OCI registry verbs push to and pull from.
type Registry struct {
	Host        string      `yaml:"host" check:"host"`
	Project     string      `yaml:"project" check:"project"`
	Insecure    bool        `yaml:"insecure"`
	Credentials Credentials `yaml:"credentials"`
}

// InsecureHosts are the registries registry.insecure lets stepper speak to
// without verified TLS: registry.host alone, never a registry named only in
// an image reference.
func (r Registry) InsecureHosts() []string {
	if !r.Insecure || r.Host == "" {
		return nil
	}
	return []string{r.Host}
}

// Credentials log in to the registry: a username and password, or a Docker
// config file. The password is always a reference, never the secret itself.
type Credentials struct {
	Username     SecretRef `yaml:"username" check:"userref"`
	Password     SecretRef `yaml:"password" check:"secretref"`
	DockerConfig FilePath  `yaml:"dockerConfig" check:"filepath"`
}

// Signing is how images are signed and which keys verification accepts.
type Signing struct {
	Key         SecretRef     `yaml:"key" check:"keyref"`
	Password    SecretRef     `yaml:"password" check:"secretref"`
	Format      SigningFormat `yaml:"format"`
	PublicKeys  []PublicKey   `yaml:"publicKeys"`
	RevokedKeys []string      `yaml:"revokedKeys" check:"keyid"`
	// EvidenceKey signs the evidence smoke-test and validate attach (and
	// EvidencePassword opens it); signing.key when empty.
	EvidenceKey      SecretRef `yaml:"evidenceKey" check:"keyref"`
	EvidencePassword SecretRef `yaml:"evidencePassword" check:"secretref"`
	// EvidenceKeys, when set, are the only keys whose evidence promote and
	// the apply job accept: keys the platform holds, so that a vendor
	// cannot sign "smoke-tested" about anything with its own key.
	EvidenceKeys []PublicKey `yaml:"evidenceKeys"`
}

// PublicKey is one key verification accepts, named so it can be revoked.
type PublicKey struct {
	ID   string   `yaml:"id" check:"keyid"`
	Path FilePath `yaml:"path" check:"filepath"`
}

// Build chooses the image builder and how pushed images are tagged.
type Build struct {
	Builder   BuilderName `yaml:"builder"`
	TagScheme TagScheme   `yaml:"tagScheme"`
	// TagPrefix replaces the branch name in the branch-sha-time scheme, for
	// image policies that filter on a fixed prefix (master-*, stag-*).
	TagPrefix string `yaml:"tagPrefix" check:"tagprefix"`
}

// Charts lists the official chart repositories.
type Charts struct {
	// Repositories are http(s) chart repository URLs (with an index.yaml)
	// or oci:// registry prefixes.
	Repositories []string `yaml:"repositories" check:"chartrepo"`
	// Keyring is the OpenPGP public keyring that Helm provenance files
	// (.tgz.prov) are checked with by the apply job.
	Keyring FilePath `yaml:"keyring" check:"filepath"`
}

// Validate configures the validate verb.
type Validate struct {
	// Policy is a policy file that changes severities and thresholds, adds
	// CEL rules and waives rules per app.
	Policy FilePath `yaml:"policy" check:"filepath"`
}

// SmokeTest is the platform's standard smoke test; flags override each key.
type SmokeTest struct {
	// HealthPaths must answer 200 (default /healthz).
	HealthPaths []string `yaml:"healthPaths" check:"urlpath"`
	// Checks are "PATH [status=N] [method=M] [body=TEXT] [json=FIELD=VALUE]".
	Checks []string `yaml:"checks" check:"smokecheck"`
	// B3Path is an endpoint that calls the app's downstream.
	B3Path string `yaml:"b3Path" check:"urlpath"`
	// B3Listen is the capture endpoint's address.
	B3Listen string `yaml:"b3Listen"`
	// Soak is how long restarts must stay at zero, like 30s.
	Soak string `yaml:"soak" check:"duration"`
	// AllowRolloutOnly lets smoke-test sign evidence when only the rollout
	// was checked (no URL, so none of the HTTP checks ran).
	AllowRolloutOnly bool `yaml:"allowRolloutOnly"`
}

// BuilderName is the way build-sign-push makes an image.
type BuilderName string

// The builders.
const (
	BuilderAuto    BuilderName = "auto"    // kaniko in a kaniko job, else buildah, else docker
	BuilderBuildah BuilderName = "buildah" // Dockerfile, daemonless
	BuilderDocker  BuilderName = "docker"  // Dockerfile, docker buildx against a Docker engine
	BuilderKaniko  BuilderName = "kaniko"  // Dockerfile, kaniko's executor in a kaniko job
	BuilderLayers  BuilderName = "layers"  // files added as layers on an approved base image, in-process
)

func (BuilderName) allowed() []string {
	return []string{string(BuilderAuto), string(BuilderBuildah), string(BuilderDocker), string(BuilderKaniko), string(BuilderLayers)}
}

// TagScheme is how the tags of a pushed image are made.
type TagScheme string

// The tag schemes.
const (
	// TagSHA tags with the short commit SHA.
	TagSHA TagScheme = "sha"
	// TagBranchSHATime tags <branch>-<sha>-<unix time of the commit>, which
	// Flux image policies sort numerically (master-*, stag-*).
	TagBranchSHATime TagScheme = "branch-sha-time"
	// TagSemver tags with the commit's git tag, which must be semver.
	TagSemver TagScheme = "semver"
)

func (TagScheme) allowed() []string {
	return []string{string(TagSHA), string(TagBranchSHATime), string(TagSemver)}
}

// GitLab is the GitLab instance that holds merge requests.
type GitLab struct {
	URL   string    `yaml:"url" check:"httpurl"`
	Token SecretRef `yaml:"token" check:"secretref"`
}

// Jenkins is the Jenkins that runs promotion jobs.
type Jenkins struct {
	URL   string    `yaml:"url" check:"httpurl"`
	User  SecretRef `yaml:"user" check:"userref"`
	Token SecretRef `yaml:"token" check:"secretref"`
}

// Migrations are how stepper tells that a release ran database migrations
// and how to undo them, so that a rollback never leaves the database ahead
// of the code it restores (seed 003's named failure). A Job or hook of a
// chart annotated stepper.dev/migration: "true" always counts.
type Migrations struct {
	// ValuesKeys are Helm values keys that, true in a release, mean it
	// runs migrations, like migrations.enabled.
	ValuesKeys []string `yaml:"valuesKeys"`
	// Apps are settings per app.
	Apps []AppMigrations `yaml:"apps"`
}

// AppMigrations are one app's migration settings.
type AppMigrations struct {
	Name string `yaml:"name" check:"name"`
	// Runs says every release of the app may run migrations.
	Runs bool `yaml:"runs"`
	// DownJob names the Job of the app's chart, rendered as the release
	// being rolled back has it, that undoes its migrations; empty means the
	// Job the chart annotates stepper.dev/migration: "down".
	DownJob string `yaml:"downJob" check:"name"`
	// DownCommand is run instead of a Job: argv, in the job's working
	// directory, with STEPPER_APP, STEPPER_ENV, STEPPER_FROM_IMAGE and
	// STEPPER_TO_IMAGE set.
	DownCommand []string `yaml:"downCommand"`
}

// Environment is one stage of the chain: where its desired state lives and
// how a change lands there.
type Environment struct {
	Name         string       `yaml:"name" check:"name"`
	DesiredState DesiredState `yaml:"desiredState"`
	Land         Land         `yaml:"land"`
	// Promoters may promote into this environment: "group:NAME" or
	// "user:NAME". Empty means anyone who can run the job.
	Promoters []string `yaml:"promoters" check:"principal"`
	// ChainPromoters replace Promoters for the chains they name: eHealth's
	// SRE team approves internal releases but not external vendors'. A
	// chain named with an empty list lets anyone promote on it.
	ChainPromoters map[string][]string `yaml:"chainPromoters" check:"principal"`
	// Gates are what a release must show to enter this environment.
	Gates Gates `yaml:"gates"`
	// TagPrefix is prepended to the tag an image carries in this
	// environment, for image-automation controllers that filter by prefix.
	TagPrefix string `yaml:"tagPrefix" check:"tagprefix"`

	cfg *Config // for Check, which needs gitlab and jenkins
}

// DesiredState is the Git file (or directory) that describes what runs in
// an environment.
type DesiredState struct {
	Repo   string      `yaml:"repo" check:"gitrepo"`
	Branch string      `yaml:"branch" check:"branch"`
	Path   string      `yaml:"path" check:"relpath"`
	Format StateFormat `yaml:"format"`
}

// Land is how an edit of the desired state reaches the environment.
type Land struct {
	Via          LandVia           `yaml:"via"`
	SourceBranch string            `yaml:"sourceBranch" check:"branch"`
	TargetBranch string            `yaml:"targetBranch" check:"branch"`
	Job          string            `yaml:"job" check:"job"`
	Parameters   map[string]string `yaml:"parameters"`
	// Reviewers are GitLab users assigned to review a merge request.
	Reviewers []string `yaml:"reviewers" check:"username"`
	// Labels are put on a merge request.
	Labels []string `yaml:"labels" check:"label"`
}

// Gates are checked before a release enters an environment: by promote
// before anything is written, and by the apply job before anything is
// installed. Every gate is on unless Off names it.
type Gates struct {
	// Off names the gates switched off here; each is recorded in the
	// promotion's audit record.
	Off []Gate `yaml:"off"`
	// MaxAge is how old the smoke-test evidence may be, like 168h; empty
	// means no limit.
	MaxAge string `yaml:"maxAge" check:"duration"`
	// Soak is how long the release must have been in the source
	// environment, counted from when it landed there, like 24h.
	Soak string `yaml:"soak" check:"duration"`
	// HotfixSoak is the shorter soak promote --hotfix may use; empty
	// means a hotfix soaks as long as any release.
	HotfixSoak string `yaml:"hotfixSoak" check:"duration"`
}

// Gate is one check a release must pass to enter an environment.
type Gate string

// The gates.
const (
	// GateSigned: the digest is signed by an approved key, verified now.
	GateSigned Gate = "signed"
	// GateValidated: a signed, passing validate attestation for the digest.
	GateValidated Gate = "validated"
	// GateSmokeTested: a signed smoke-test attestation from the source
	// environment, newer than the release's last deploy there.
	GateSmokeTested Gate = "smoke-tested"
	// GateRollback: the release the target runs now, which a rollback
	// returns to, is still resolvable (seed 002: rollback must always be
	// possible).
	GateRollback Gate = "rollback"
	// GateApply: the apply job checks the evidence before it installs.
	GateApply Gate = "apply"
)

func (Gate) allowed() []string {
	return []string{string(GateSigned), string(GateValidated), string(GateSmokeTested), string(GateRollback), string(GateApply)}
}

// StateFormat is the kind of desired-state file.
type StateFormat string

// The desired-state formats.
const (
	Helmsman StateFormat = "helmsman" // Helmsman desired-state file (eHealth)
	Helmfile StateFormat = "helmfile" // helmfile specs and a versions file
	Flux     StateFormat = "flux"     // Flux HelmRelease manifests
)

func (StateFormat) allowed() []string {
	return []string{string(Helmsman), string(Helmfile), string(Flux)}
}

// LandVia is the way a change lands.
type LandVia string

// The ways a change lands.
const (
	ViaCommit       LandVia = "commit"        // push a commit to desiredState.branch
	ViaMergeRequest LandVia = "merge-request" // open a merge request into targetBranch
	ViaJenkins      LandVia = "jenkins"       // run a parameterised Jenkins job
	ViaTag          LandVia = "tag"           // tag the digest with tagPrefix; image automation rolls it
)

func (LandVia) allowed() []string {
	return []string{string(ViaCommit), string(ViaMergeRequest), string(ViaJenkins), string(ViaTag)}
}

// SigningFormat is where a signature is stored in the registry.
type SigningFormat string

// The signature formats.
const (
	// SigTag stores the signature under the cosign sha256-<digest>.sig tag,
	// which Harbor shows as signed.
	SigTag SigningFormat = "sig-tag"
	// Bundle stores an OCI 1.1 Sigstore bundle referrer; Harbor's UI has
	// shown those as unsigned (goharbor/harbor#23013).
	Bundle SigningFormat = "bundle"
)

func (SigningFormat) allowed() []string { return []string{string(SigTag), string(Bundle)} }

// enum is a string type with a fixed set of values.
type enum interface{ allowed() []string }

// Values names the Helm values keys the platform's charts use. Empty fields
// keep stepper's defaults (those of charts made with `helm create`);
// patterns use path.Match syntax, where "*" also crosses dots.
type Values struct {
	ImageRepository string   `yaml:"imageRepository"`
	ImageTag        string   `yaml:"imageTag"`
	ImageDigest     string   `yaml:"imageDigest"`
	Replicas        string   `yaml:"replicas"`
	Memory          string   `yaml:"memory"`
	EnvPrefix       string   `yaml:"envPrefix"`
	Ports           []string `yaml:"ports"`
	SecretRefs      []string `yaml:"secretRefs"`
	DNS             []string `yaml:"dns"`
	// PerEnvironment are extra keys a promotion never copies from one
	// environment to the next; replicas, DNS and secret references never
	// move anyway.
	PerEnvironment []string `yaml:"perEnvironment"`
}
