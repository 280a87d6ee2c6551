package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/stepper-cd/stepper/internal/ci"
	"github.com/stepper-cd/stepper/internal/config"
	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/gate"
	"github.com/stepper-cd/stepper/internal/gitlab"
	"github.com/stepper-cd/stepper/internal/helm"
	"github.com/stepper-cd/stepper/internal/jenkins"
	"github.com/stepper-cd/stepper/internal/kube"
	"github.com/stepper-cd/stepper/internal/land"
	"github.com/stepper-cd/stepper/internal/registry"
	"github.com/stepper-cd/stepper/internal/secret"
	"github.com/stepper-cd/stepper/internal/signing"
)

// Clients builds the outside systems' clients for a run, each once and only
// when a command asks for it, so that validate never dials GitLab and
// `stepper version` reads no configuration. Main binds it with kong's
// provider bindings; a command takes *Clients in its Run.
type Clients struct {
	ctx context.Context
	rt  *Runtime
	cfg *config.Config

	registryOnce sync.Once
	registry     *registry.Client
	registryErr  error

	verifierOnce sync.Once
	verifier     *ApprovedKeys
	verifierErr  error

	gitlabOnce sync.Once
	gitlab     *gitlab.Client
	gitlabErr  error

	jenkinsOnce sync.Once
	jenkins     *jenkins.Client
	jenkinsErr  error
}

func newClients(ctx context.Context, rt *Runtime, cfg *config.Config) *Clients {
	return &Clients{ctx: ctx, rt: rt, cfg: cfg}
}

// Registry logs in with registry.credentials, else the CI job's registry
// variables, else the Docker config.
func (c *Clients) Registry() (*registry.Client, error) {
	c.registryOnce.Do(func() { c.registry, c.registryErr = registryClient(c.ctx, c.rt, c.cfg) })
	return c.registry, c.registryErr
}

// Verifier checks signatures with signing.publicKeys minus revokedKeys; nil
// with no error when no key is configured.
func (c *Clients) Verifier() (*ApprovedKeys, error) {
	c.verifierOnce.Do(func() {
		if len(c.cfg.Signing.PublicKeys) == 0 {
			return
		}
		client, err := c.Registry()
		if err != nil {
			c.verifierErr = err
			return
		}
		c.verifier, c.verifierErr = approvedKeys(c.ctx, c.cfg, client)
	})
	return c.verifier, c.verifierErr
}

// Signer loads signing.key.
func (c *Clients) Signer() (*signing.Key, signing.Options, error) {
	client, err := c.Registry()
	if err != nil {
		return nil, signing.Options{}, err
	}
	return loadSigner(c.ctx, c.rt, c.cfg, client, "signing.key", c.cfg.Signing.Key, c.cfg.Signing.Password)
}

// EvidenceSigner loads the key smoke-test and validate sign evidence
// with: signing.evidenceKey, else signing.key.
func (c *Clients) EvidenceSigner() (*signing.Key, signing.Options, error) {
	if c.cfg.Signing.EvidenceKey == "" {
		return c.Signer()
	}
	client, err := c.Registry()
	if err != nil {
		return nil, signing.Options{}, err
	}
	return loadSigner(c.ctx, c.rt, c.cfg, client, "signing.evidenceKey", c.cfg.Signing.EvidenceKey, c.cfg.Signing.EvidencePassword)
}

// GitLab connects to gitlab.url with gitlab.token.
func (c *Clients) GitLab() (*gitlab.Client, error) {
	c.gitlabOnce.Do(func() {
		if err := c.cfg.Require("gitlab.url", "gitlab.token"); err != nil {
			c.gitlabErr = err
			return
		}
		token, err := c.cfg.GitLab.Token.Resolve(c.ctx, c.rt.Secrets)
		if err != nil {
			c.gitlabErr = err
			return
		}
		c.gitlab, c.gitlabErr = gitlab.New(gitlab.Options{URL: c.cfg.GitLab.URL, Token: token})
	})
	return c.gitlab, c.gitlabErr
}

// Jenkins connects to jenkins.url as jenkins.user with jenkins.token.
func (c *Clients) Jenkins() (*jenkins.Client, error) {
	c.jenkinsOnce.Do(func() {
		if err := c.cfg.Require("jenkins.url", "jenkins.token"); err != nil {
			c.jenkinsErr = err
			return
		}
		user, err := c.cfg.Jenkins.User.Resolve(c.ctx, c.rt.Secrets)
		if err != nil {
			c.jenkinsErr = err
			return
		}
		token, err := c.cfg.Jenkins.Token.Resolve(c.ctx, c.rt.Secrets)
		if err != nil {
			c.jenkinsErr = err
			return
		}
		c.jenkins, c.jenkinsErr = jenkins.New(jenkins.Options{URL: c.cfg.Jenkins.URL, User: user.Reveal(), Token: token.Reveal()})
	})
	return c.jenkins, c.jenkinsErr
}

// Gates checks promotion gates against the registry and the chart
// repositories: signatures with the approved keys, evidence with
// signing.evidenceKeys (the approved keys when none are set).
func (c *Clients) Gates() (*gate.Checker, error) {
	verifier, err := c.Verifier()
	if err != nil {
		return nil, err
	}
	if verifier == nil {
		return nil, c.cfg.Require("signing.publicKeys")
	}
	client, err := c.Registry()
	if err != nil {
		return nil, err
	}
	evidence := verifier.Options
	if len(c.cfg.Signing.EvidenceKeys) > 0 {
		if evidence.Keys, err = loadPublicKeys("signing.evidenceKeys", c.cfg.Signing.EvidenceKeys); err != nil {
			return nil, err
		}
	}
	return &gate.Checker{Signatures: verifier, Attestations: evidenceKeys{evidence}, Registry: client, Charts: c.Helm()}, nil
}

// evidenceKeys lists attestations that verify with the evidence keys.
type evidenceKeys struct{ opts signing.VerifyOptions }

func (k evidenceKeys) Attestations(ctx context.Context, img name.Digest, predicateType string) ([]signing.VerifiedStatement, error) {
	return signing.VerifyAttestations(ctx, img, predicateType, k.opts)
}

// Identity tells who runs this job, from a system the job cannot talk into
// another answer: inside a Jenkins build, the user in the build's causes
// (Jenkins' API); in GitLab CI, the user GitLab reports for the job's
// CI_JOB_TOKEN; elsewhere, the owner of gitlab.token. GITLAB_USER_LOGIN,
// BUILD_USER_ID and build parameters are never read for it.
func (c *Clients) Identity() *Identity { return &Identity{clients: c} }

// Identity implements promote.Identity.
type Identity struct{ clients *Clients }

// Who returns the user and how it was learnt.
func (id *Identity) Who(ctx context.Context) (string, string, error) {
	env := environMap(id.clients.rt.Environ)
	switch {
	case id.clients.rt.CI.System == ci.Jenkins && env["BUILD_URL"] != "":
		j, err := id.clients.Jenkins()
		if err != nil {
			return "", "", err
		}
		user, err := j.StartedBy(ctx, env["BUILD_URL"])
		return user, "Jenkins build causes", err
	case id.clients.rt.CI.System == ci.GitLab && env["CI_JOB_TOKEN"] != "":
		g, err := id.clients.GitLab()
		if err != nil {
			return "", "", err
		}
		user, err := g.JobUser(ctx, env["CI_JOB_TOKEN"])
		return user, "GitLab job token", err
	}
	if id.clients.cfg.GitLab.URL == "" {
		return "", "", exit.Usagef("outside GitLab CI and Jenkins, stepper asks GitLab whose gitlab.token it holds: set gitlab.url and gitlab.token")
	}
	g, err := id.clients.GitLab()
	if err != nil {
		return "", "", err
	}
	user, err := g.CurrentUser(ctx)
	return user, "owner of gitlab.token", err
}

// InGroup asks GitLab, inherited members included.
func (id *Identity) InGroup(ctx context.Context, group, user string) (bool, error) {
	g, err := id.clients.GitLab()
	if err != nil {
		return false, err
	}
	return g.InGroup(ctx, group, user)
}

func environMap(environ []string) map[string]string {
	m := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

// DownMigrations runs down-migrations: a Job in the cluster of kubeconfig
// and context, or a command with the run's environment.
func (c *Clients) DownMigrations(kubeconfig, context string) *DownMigrations {
	return &DownMigrations{rt: c.rt, kubeconfig: kubeconfig, context: context}
}

// DownMigrations implements rollback.DownMigrations.
type DownMigrations struct {
	rt                  *Runtime
	kubeconfig, context string
}

// RunJob creates the Job and waits until it has completed.
func (d *DownMigrations) RunJob(ctx context.Context, cl helm.Cluster, namespace string, job map[string]any, timeout time.Duration) error {
	w, err := kube.WaiterFromKubeconfig(cl.Kubeconfig, cl.Context, kube.WaiterOptions{Namespace: namespace})
	if err != nil {
		return err
	}
	return w.RunJob(ctx, namespace, job, timeout)
}

// RunCommand runs argv with the run's environment and env, its output
// into out (the masked log).
func (d *DownMigrations) RunCommand(ctx context.Context, argv, env []string, out io.Writer) error {
	if len(argv) == 0 {
		return exit.Usagef("no down-migration command")
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(append([]string(nil), d.rt.Environ...), env...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w", argv[0], err)
	}
	return nil
}

// Helm is the Helm SDK adapter with the run's chart cache.
func (c *Clients) Helm() *helm.Client {
	return helm.New(helm.Options{CacheDir: cacheDir(c.rt.Environ, "charts"), PlainHTTP: c.cfg.Registry.Insecure})
}

// Checkouts opens desired-state repositories, cached between runs.
func (c *Clients) Checkouts() *land.Checkouts {
	return &land.Checkouts{CacheDir: cacheDir(c.rt.Environ, "git"), Environ: c.rt.Environ}
}

// ApprovedKeys verifies signatures with the platform's approved keys.
type ApprovedKeys struct {
	Options signing.VerifyOptions
}

// Verify checks img's signature.
func (k *ApprovedKeys) Verify(ctx context.Context, img name.Digest) (*signing.Verified, error) {
	return signing.Verify(ctx, img, k.Options)
}

// approvedKeys verifies with signing.publicKeys minus revokedKeys, in the
// platform's signature format only (sig-tag unless signing.format says
// bundle): the other format's lookups would double the requests, and
// signing uses the configured format anyway.
func approvedKeys(ctx context.Context, cfg *config.Config, client *registry.Client) (*ApprovedKeys, error) {
	keys, err := loadPublicKeys("signing.publicKeys", cfg.Signing.PublicKeys)
	if err != nil {
		return nil, err
	}
	return &ApprovedKeys{Options: signing.VerifyOptions{Keys: keys, Revoked: cfg.Signing.RevokedKeys,
		RemoteOptions: client.RemoteOptions(ctx), Formats: []signing.Format{signingFormat(cfg)}}}, nil
}

// loadPublicKeys reads the PEM files of configured keys.
func loadPublicKeys(field string, list []config.PublicKey) ([]signing.PublicKey, error) {
	var keys []signing.PublicKey
	for _, k := range list {
		pem, err := os.ReadFile(k.Path.Expand())
		if err != nil {
			return nil, exit.Usagef("%s[%s]: %v", field, k.ID, err)
		}
		pk, err := signing.LoadPublicKey(k.ID, pem)
		if err != nil {
			return nil, err
		}
		keys = append(keys, pk)
	}
	return keys, nil
}

// cacheDir is a directory under the run's user cache for downloads worth
// keeping between runs, like charts and desired-state clones: XDG_CACHE_HOME
// or HOME/.cache of the run's environment (what the CI job gave it, which
// is the process's own unless a caller says otherwise); "" when there is
// none.
func cacheDir(environ []string, name string) string {
	var xdg, home string
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "XDG_CACHE_HOME":
			xdg = v
		case "HOME":
			home = v
		}
	}
	base := xdg
	if !filepath.IsAbs(base) {
		base = ""
		if filepath.IsAbs(home) {
			base = filepath.Join(home, ".cache")
		}
	}
	if base == "" {
		var err error
		if base, err = os.UserCacheDir(); err != nil {
			return ""
		}
	}
	return filepath.Join(base, "stepper", name)
}

// registryClient logs in with registry.credentials, else the CI job's
// registry variables, else the Docker config.
func registryClient(ctx context.Context, rt *Runtime, cfg *config.Config) (*registry.Client, error) {
	creds := cfg.Registry.Credentials
	user, err := creds.Username.Resolve(ctx, rt.Secrets)
	if err != nil {
		return nil, err
	}
	pass, err := creds.Password.Resolve(ctx, rt.Secrets)
	if err != nil {
		return nil, err
	}
	var progress registry.Progress
	if rt.Terminal {
		progress = registry.NewTerminalProgress(rt.Stderr)
	} else {
		progress = registry.NewLogProgress(ctx)
	}
	// Every password the keychain hands out, from a docker config, a
	// credential helper or the environment, is masked from then on.
	keychain := maskingKeychain{set: rt.Secrets, inner: registry.Keychain(registry.KeychainOptions{
		Host: cfg.Registry.Host, Username: user, Password: pass,
		DockerConfig: creds.DockerConfig.Expand(), Environ: rt.Environ,
	})}
	registerDockerConfigSecrets(rt.Secrets, creds.DockerConfig.Expand(), rt.Environ)
	return registry.New(registry.Options{
		Keychain:      keychain,
		InsecureHosts: cfg.Registry.InsecureHosts(),
		Progress:      progress,
	}), nil
}

// loadSigner loads the key at field (signing.key or signing.evidenceKey):
// a key file or variable holding an encrypted cosign key opened with
// password, or a KMS key used in place.
func loadSigner(ctx context.Context, rt *Runtime, cfg *config.Config, client *registry.Client, field string, keyRef, passRef config.SecretRef) (*signing.Key, signing.Options, error) {
	if err := cfg.Require(field); err != nil {
		return nil, signing.Options{}, err
	}
	var src signing.KeySource
	if uri, ok := keyRef.KeyReference(); ok {
		src.KMS = uri
	} else {
		key, err := keyRef.Resolve(ctx, rt.Secrets)
		if err != nil {
			return nil, signing.Options{}, err
		}
		src.PEM = []byte(key.Reveal())
	}
	pass, err := passRef.Resolve(ctx, rt.Secrets)
	if err != nil {
		return nil, signing.Options{}, err
	}
	src.Password = []byte(pass.Reveal())
	key, err := signing.LoadKey(ctx, src)
	if err != nil {
		return nil, signing.Options{}, err
	}
	return key, signing.Options{Format: signingFormat(cfg), RemoteOptions: client.RemoteOptions(ctx)}, nil
}

// signingFormat is signing.format, sig-tag when unset: where signatures and
// attestations are written, and where verification looks.
func signingFormat(cfg *config.Config) signing.Format {
	if cfg.Signing.Format == "" {
		return signing.FormatSigTag
	}
	return signing.Format(cfg.Signing.Format)
}

// maskingKeychain registers every credential its inner keychain resolves in
// the run's secret set, so that a password from a docker config or a
// credential helper is masked like one from stepper.yaml.
type maskingKeychain struct {
	set   *secret.Set
	inner authn.Keychain
}

// Resolve implements authn.Keychain.
func (k maskingKeychain) Resolve(target authn.Resource) (authn.Authenticator, error) {
	auth, err := k.inner.Resolve(target)
	if err != nil || auth == nil || auth == authn.Anonymous {
		return auth, err
	}
	cfg, err := auth.Authorization()
	if err != nil {
		return nil, err
	}
	for _, v := range []string{cfg.Password, cfg.Auth, cfg.IdentityToken, cfg.RegistryToken} {
		k.set.Add(v)
	}
	return authn.FromConfig(*cfg), nil
}

// registerDockerConfigSecrets registers the passwords in every docker config
// a registry client or a builder may read: REGISTRY_AUTH_FILE, the configured
// one, $DOCKER_CONFIG/config.json and ~/.docker/config.json.
func registerDockerConfigSecrets(set *secret.Set, configured string, environ []string) {
	env := environMap(environ)
	paths := []string{env["REGISTRY_AUTH_FILE"], configured}
	if d := env["DOCKER_CONFIG"]; d != "" {
		paths = append(paths, filepath.Join(d, "config.json"))
	}
	if h := env["HOME"]; h != "" {
		paths = append(paths, filepath.Join(h, ".docker", "config.json"))
	}
	for _, p := range paths {
		if p == "" {
			continue
		}
		if info, err := os.Stat(p); err == nil && info.IsDir() {
			p = filepath.Join(p, "config.json")
		}
		b, err := os.ReadFile(p)
		if err != nil {
			continue // the keychain reports unreadable configs when it needs one
		}
		for _, v := range ci.DockerConfigSecrets(b) {
			set.Add(v)
		}
	}
}
