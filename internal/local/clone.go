package local

import (
	"bytes"
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"text/template"
	"time"

	"helm.sh/helm/v4/pkg/chart/loader/archive"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	repo "helm.sh/helm/v4/pkg/repo/v1"
)

//go:embed all:assets
var assets embed.FS

// Platforms lists the platforms `stepper local` can clone, in the order
// of the seeds: eHealth (000-002), the shop (003), the government (004).
var Platforms = []string{"ehealth", "shop", "gov"}

// profile is one platform the clone can make: where its images and charts
// live, its chains, and how its desired-state repositories are laid out.
type profile struct {
	// project is the registry's repository prefix; base the approved base
	// image's repository under it.
	project, base string
	// chains are the platform's chains, def the one a clone follows unless
	// told otherwise.
	chains map[string][]string
	def    string
	// app is the app a clone has unless told otherwise.
	app string
	// chart and version are the platform's chart as its repository serves
	// it (the embedded chart under the platform's name).
	chart, version string
	// seed writes the desired-state repositories and stepper.yaml.
	seed func(s *seeding) error
}

// profiles are the platforms by name; see ehealth.go, shop.go and gov.go.
var profiles = map[string]*profile{"ehealth": &ehealth, "shop": &shop, "gov": &gov}

// CloneOptions say what to clone.
type CloneOptions struct {
	// Platform is one of Platforms.
	Platform string
	// Chain is the chain stepper.yaml follows, "" for the platform's
	// usual one: internal or vendor for ehealth, release for the others.
	Chain string
	// Apps get an entry in every environment's desired state; none means
	// the platform's sample app.
	Apps []string
	// Dir is the clone's directory: keys, charts and stepper.yaml go there.
	Dir string
	// GitLab and Jenkins, when set, are the base URLs of a GitLab and a
	// Jenkins the clone's routes go through as the platform's do (merge
	// requests, promotion jobs). Unset, those routes land as commits.
	GitLab, Jenkins string
}

// withDefaults fills in the platform's chain and app.
func (o CloneOptions) withDefaults() CloneOptions {
	if pr := profiles[o.Platform]; pr != nil {
		if o.Chain == "" {
			o.Chain = pr.def
		}
		if len(o.Apps) == 0 {
			o.Apps = []string{pr.app}
		}
	}
	return o
}

// Check refuses options no clone can be made of, before anything starts.
func (o CloneOptions) Check() error {
	pr := profiles[o.Platform]
	if pr == nil {
		return fmt.Errorf("local up: there is no local clone of platform %q; choose one of %s", o.Platform, strings.Join(Platforms, ", "))
	}
	o = o.withDefaults()
	if _, ok := pr.chains[o.Chain]; !ok {
		return fmt.Errorf("local up: the %s platform has no chain %q; choose %s", o.Platform, o.Chain, strings.Join(slices.Sorted(maps.Keys(pr.chains)), " or "))
	}
	for _, u := range []string{o.GitLab, o.Jenkins} {
		if u != "" && !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			return fmt.Errorf("local up: %q is no http(s) URL; give GitLab's and Jenkins' base URLs, like https://gitlab.example", u)
		}
	}
	for _, app := range o.Apps {
		if !appName.MatchString(app) {
			return fmt.Errorf("local up: app name %q: use lower-case letters, digits and '-', starting with a letter (a Helm release name)", app)
		}
	}
	return nil
}

var appName = regexp.MustCompile(`^[a-z]([-a-z0-9]{0,51}[a-z0-9])?$`)

// Clone is what `stepper local up` made on the running platform.
type Clone struct {
	Platform string   `json:"platform"`
	Chain    string   `json:"chain"`
	Apps     []string `json:"apps"`
	// Envs are the chain's environments in order.
	Envs []string `json:"envs"`
	// Config is the stepper.yaml for the clone.
	Config string `json:"config"`
	// Registry is the registry's host; Project its repository prefix.
	Registry string `json:"registry"`
	Project  string `json:"project"`
	// BaseImage is the approved base image, pinned by digest.
	BaseImage string `json:"baseImage"`
	// Charts is the chart repository's URL; Chart and ChartVersion the
	// platform's chart in it.
	Charts       string `json:"charts"`
	Chart        string `json:"chart"`
	ChartVersion string `json:"chartVersion"`
	// Repo is the first desired-state repository's URL, Repos all of them.
	Repo  string   `json:"repo"`
	Repos []string `json:"repos"`
	// PublicKey is the public half of the signing key.
	PublicKey string `json:"publicKey"`
	// Routes are the platform's landing routes the clone maps to local
	// equivalents.
	Routes []Route `json:"routes"`
	// Automation says what stands in for the platform's image automation,
	// "" when it has none.
	Automation string `json:"automation,omitempty"`
	// Env joins the platform's in the env file.
	Env map[string]string `json:"-"`

	charts *http.Server
	stop   []func()
}

// Route is one environment whose landing route the clone changes.
type Route struct {
	Env      string `json:"env"`
	Platform string `json:"platform"`
	Local    string `json:"local"`
}

// Close stops what the clone serves itself: the chart repository and any
// stand-in for image automation.
func (c *Clone) Close() {
	if c == nil {
		return
	}
	for _, stop := range slices.Backward(c.stop) {
		stop()
	}
	c.stop = nil
	if c.charts != nil {
		_ = c.charts.Close()
	}
}

// seeding is one clone being made.
type seeding struct {
	ctx  context.Context
	p    *Platform
	o    CloneOptions
	c    *Clone
	key  KeyPair
	logf func(string, ...any)
	// password is the file the signing key's password is in.
	password string
}

// repo makes a desired-state repository of files on branch and records it.
func (s *seeding) repo(name, branch string, files map[string]string) (*Repo, error) {
	r, err := s.p.Git.NewRepo(name, files)
	if err != nil {
		return nil, fmt.Errorf("seed the clone: %w", err)
	}
	if branch != "master" {
		if _, err := runGit(r.git, r.Dir, "branch", "-m", "master", branch); err != nil {
			return nil, fmt.Errorf("seed the clone: %s: %w", name, err)
		}
		if _, err := runGit(r.git, r.Dir, "symbolic-ref", "HEAD", "refs/heads/"+branch); err != nil {
			return nil, fmt.Errorf("seed the clone: %s: %w", name, err)
		}
	}
	if s.c.Repo == "" {
		s.c.Repo = r.HTTPURL
	}
	s.c.Repos = append(s.c.Repos, r.HTTPURL)
	return r, nil
}

// config writes stepper.yaml from the platform's template.
func (s *seeding) config(tmpl string, data map[string]any) error {
	base := map[string]any{
		"Dir": s.o.Dir, "Chain": s.o.Chain, "Registry": s.c.Registry, "Project": s.c.Project, "BaseImage": s.c.BaseImage,
		"Key": s.key, "KeyPassword": s.password, "Charts": s.c.Charts, "Repo": s.c.Repo, "GitLab": s.o.GitLab, "Jenkins": s.o.Jenkins,
		"Apps": s.o.Apps,
	}
	maps.Copy(base, data)
	config, err := render(tmpl, base)
	if err != nil {
		return err
	}
	if err := os.WriteFile(s.c.Config, []byte(config), 0o600); err != nil {
		return fmt.Errorf("seed the clone: %w", err)
	}
	s.c.Env = map[string]string{"STEPPER_CONFIG": s.c.Config}
	s.logf("seed: %s for the %s chain (%s)", s.c.Config, s.o.Chain, strings.Join(s.c.Envs, " → "))
	return nil
}

// Seed makes the clone on a running platform: a fresh signing key, the
// approved base image in the registry, the platform's chart in a chart
// repository, its desired-state repositories, and the stepper.yaml that
// ties them together.
func Seed(ctx context.Context, p *Platform, o CloneOptions, logf func(string, ...any)) (c *Clone, err error) {
	if err := o.Check(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	pr := profiles[o.Platform]
	reg := p.ReferrersRegistry
	if reg == nil {
		reg = p.Registry
	}
	if reg == nil || p.Git == nil {
		return nil, errors.New("seed the clone: it needs a registry and the git server")
	}
	c = &Clone{Platform: o.Platform, Chain: o.Chain, Apps: o.Apps, Envs: pr.chains[o.Chain], Registry: reg.Host, Project: pr.project,
		Chart: pr.chart, ChartVersion: pr.version, Config: filepath.Join(o.Dir, "stepper.yaml")}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()

	keys := filepath.Join(o.Dir, "keys")
	if err := os.MkdirAll(keys, 0o700); err != nil {
		return nil, fmt.Errorf("seed the clone: %w", err)
	}
	password := make([]byte, 24)
	_, _ = rand.Read(password) // never fails
	pw := []byte(hex.EncodeToString(password))
	passwordFile := filepath.Join(keys, "local-cosign.password")
	if err := os.WriteFile(passwordFile, pw, 0o600); err != nil {
		return nil, fmt.Errorf("seed the clone: %w", err)
	}
	key, err := NewKeyPair(keys, "local-cosign", pw)
	if err != nil {
		return nil, fmt.Errorf("seed the clone: %w", err)
	}
	c.PublicKey = key.Public
	logf("seed: a fresh signing key pair in %s", keys)

	base, err := PushNonRootBaseImage(ctx, reg.Host, c.Project+"/"+pr.base)
	if err != nil {
		return nil, fmt.Errorf("seed the clone: %w", err)
	}
	c.BaseImage = base.String()
	logf("seed: the approved base image %s (non-root, uid %d)", c.BaseImage, BaseImageUID)

	if c.Charts, c.charts, err = serveCharts(filepath.Join(o.Dir, "charts"), map[string]string{pr.chart: pr.version}); err != nil {
		return nil, fmt.Errorf("seed the clone: %w", err)
	}
	logf("seed: the chart repository %s with %s %s", c.Charts, pr.chart, pr.version)

	s := &seeding{ctx: ctx, p: p, o: o, c: c, key: key, logf: logf, password: passwordFile}
	if err := pr.seed(s); err != nil {
		return nil, err
	}
	return c, nil
}

func render(name string, data any) (string, error) {
	text, err := assets.ReadFile(name)
	if err != nil {
		return "", fmt.Errorf("seed the clone: %w", err)
	}
	t, err := template.New(path.Base(name)).Option("missingkey=error").Parse(string(text))
	if err != nil {
		return "", fmt.Errorf("seed the clone: %s: %w", name, err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return "", fmt.Errorf("seed the clone: %s: %w", name, err)
	}
	return b.String(), nil
}

// serveCharts packages the embedded chart once per name and version into
// dir, indexes it and serves dir as a Helm chart repository on 127.0.0.1.
func serveCharts(dir string, charts map[string]string) (string, *http.Server, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, err
	}
	sub, err := fs.Sub(assets, "assets/chart")
	if err != nil {
		return "", nil, err
	}
	var files []*archive.BufferedFile
	err = fs.WalkDir(sub, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(sub, name)
		files = append(files, &archive.BufferedFile{Name: name, Data: data})
		return err
	})
	if err != nil {
		return "", nil, fmt.Errorf("chart repository: %w", err)
	}
	for name, version := range charts {
		ch, err := loader.LoadFiles(files)
		if err != nil {
			return "", nil, fmt.Errorf("chart repository: load the chart: %w", err)
		}
		ch.Metadata.Name, ch.Metadata.Version = name, version
		if _, err := chartutil.Save(ch, dir); err != nil {
			return "", nil, fmt.Errorf("chart repository: package %s %s: %w", name, version, err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("chart repository: %w", err)
	}
	url := "http://" + ln.Addr().String()
	index, err := repo.IndexDirectory(dir, url)
	if err != nil {
		ln.Close()
		return "", nil, fmt.Errorf("chart repository: index: %w", err)
	}
	index.SortEntries()
	if err := index.WriteFile(filepath.Join(dir, "index.yaml"), 0o644); err != nil {
		ln.Close()
		return "", nil, fmt.Errorf("chart repository: index: %w", err)
	}
	srv := &http.Server{Handler: http.FileServer(http.Dir(dir)), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return url, srv, nil
}
