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

// Platforms lists the platforms `stepper local` can clone.
var Platforms = []string{"ehealth"}

// CloneOptions say what to clone.
type CloneOptions struct {
	// Platform is one of Platforms.
	Platform string
	// Chain is the chain stepper.yaml follows: internal or vendor for
	// ehealth.
	Chain string
	// Apps get an entry in every environment's desired state.
	Apps []string
	// Dir is the clone's directory: keys, charts and stepper.yaml go there.
	Dir string
	// GitLab and Jenkins, when set, are the base URLs of a GitLab and a
	// Jenkins the clone's routes go through as the platform's do: a merge
	// request into prod for preprod, promotion jobs for exttest and prod.
	// Unset, those routes land as commits.
	GitLab, Jenkins string
}

// Check refuses options no clone can be made of, before anything starts.
func (o CloneOptions) Check() error {
	if !slices.Contains(Platforms, o.Platform) {
		return fmt.Errorf("local up: there is no local clone of platform %q; choose one of %s", o.Platform, strings.Join(Platforms, ", "))
	}
	if o.Chain != "internal" && o.Chain != "vendor" {
		return fmt.Errorf("local up: the %s platform has no chain %q; choose internal or vendor", o.Platform, o.Chain)
	}
	if len(o.Apps) == 0 {
		return errors.New("local up: name at least one app (--app)")
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
	// Config is the stepper.yaml for the clone.
	Config string `json:"config"`
	// Registry is the registry's host; Project its repository prefix.
	Registry string `json:"registry"`
	Project  string `json:"project"`
	// BaseImage is the approved base image, pinned by digest.
	BaseImage string `json:"baseImage"`
	// Charts is the chart repository's URL.
	Charts string `json:"charts"`
	// Repo is the desired-state repository's URL.
	Repo string `json:"repo"`
	// PublicKey is the public half of the signing key.
	PublicKey string `json:"publicKey"`
	// Routes are the platform's landing routes the clone maps to local
	// equivalents.
	Routes []Route `json:"routes"`
	// Env joins the platform's in the env file.
	Env map[string]string `json:"-"`

	charts *http.Server
}

// Route is one environment whose landing route the clone changes.
type Route struct {
	Env      string `json:"env"`
	Platform string `json:"platform"`
	Local    string `json:"local"`
}

// Close stops what the clone serves itself: the chart repository.
func (c *Clone) Close() {
	if c != nil && c.charts != nil {
		_ = c.charts.Close()
	}
}

// ehealthEnvs are the eHealth environments, in the order of both chains.
var ehealthEnvs = []string{"inttest", "devenvcgi", "exttest", "preprod", "prod"}

// ehealthRoutes are the routes of the eHealth platform that the clone lands
// as commits, for want of a Jenkins or a GitLab.
func ehealthRoutes(o CloneOptions) []Route {
	var routes []Route
	if o.Jenkins == "" {
		routes = append(routes, Route{Env: "exttest", Platform: "Jenkins job ehealth-promote-exttest (commits to master)", Local: "commit to master"})
	}
	if o.GitLab == "" {
		routes = append(routes, Route{Env: "preprod", Platform: "merge request from master into prod", Local: "commit to prod"})
	}
	if o.Jenkins == "" {
		routes = append(routes, Route{Env: "prod", Platform: "privileged Jenkins job ehealth-promote-prod (commits to prod)", Local: "commit to prod"})
	}
	return routes
}

// Seed makes the clone on a running platform: a fresh signing key, the
// approved base image in the registry, the platform's chart in a chart
// repository, a desired-state repository with a file per environment, and
// the stepper.yaml that ties them together.
func Seed(ctx context.Context, p *Platform, o CloneOptions, logf func(string, ...any)) (c *Clone, err error) {
	if err := o.Check(); err != nil {
		return nil, err
	}
	reg := p.ReferrersRegistry
	if reg == nil {
		reg = p.Registry
	}
	if reg == nil || p.Git == nil {
		return nil, errors.New("seed the clone: it needs a registry and the git server")
	}
	c = &Clone{Platform: o.Platform, Chain: o.Chain, Apps: o.Apps, Registry: reg.Host, Project: "ehealth", Routes: ehealthRoutes(o),
		Config: filepath.Join(o.Dir, "stepper.yaml")}
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

	base, err := PushNonRootBaseImage(ctx, reg.Host, c.Project+"/base/java")
	if err != nil {
		return nil, fmt.Errorf("seed the clone: %w", err)
	}
	c.BaseImage = base.String()
	logf("seed: the approved base image %s (non-root, uid %d)", c.BaseImage, BaseImageUID)

	if c.Charts, c.charts, err = serveCharts(filepath.Join(o.Dir, "charts"), map[string]string{"ehealth-spring-boot": "3.2.0"}); err != nil {
		return nil, fmt.Errorf("seed the clone: %w", err)
	}
	logf("seed: the chart repository %s with ehealth-spring-boot 3.2.0", c.Charts)

	files := map[string]string{}
	for _, env := range ehealthEnvs {
		dsf, err := render("assets/ehealth/dsf.yaml.tmpl", map[string]any{
			"Env": env, "Namespace": "ehealth-" + env, "Charts": c.Charts, "Apps": o.Apps})
		if err != nil {
			return nil, err
		}
		files[env+"/dsf.yaml"] = dsf
	}
	files["README.md"] = "# Desired state of the local clone of the eHealth platform\n\nOne Helmsman file per environment. master holds the test environments;\nprod, branched from master, holds preprod and prod.\n"
	r, err := p.Git.NewRepo("ehealth/desired-state", files)
	if err != nil {
		return nil, fmt.Errorf("seed the clone: %w", err)
	}
	if _, err := runGit(r.git, r.Dir, "branch", "prod", "master"); err != nil {
		return nil, fmt.Errorf("seed the clone: the prod branch: %w", err)
	}
	c.Repo = r.HTTPURL
	logf("seed: the desired-state repository %s (master: %s; prod: preprod, prod)", c.Repo, strings.Join([]string{"inttest", "devenvcgi", "exttest"}, ", "))

	config, err := render("assets/ehealth/stepper.yaml.tmpl", map[string]any{
		"Dir": o.Dir, "Chain": o.Chain, "Registry": c.Registry, "BaseImage": c.BaseImage, "Key": key,
		"KeyPassword": passwordFile, "Charts": c.Charts, "Repo": c.Repo, "GitLab": o.GitLab, "Jenkins": o.Jenkins})
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(c.Config, []byte(config), 0o600); err != nil {
		return nil, fmt.Errorf("seed the clone: %w", err)
	}
	c.Env = map[string]string{"STEPPER_CONFIG": c.Config}
	logf("seed: %s for the %s chain", c.Config, o.Chain)
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
