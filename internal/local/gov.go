package local

import (
	"fmt"
	"strings"
)

// gov is the government's platform (seed 004): helmfile layouts in two
// deployment repositories, hocs/deploy-notprod for dev and qa and
// hocs/deploy-prod for prod, where only release managers merge. A release
// is a merged merge request into main; the merge triggers the deployment
// pipeline.
var gov = profile{
	project: "hocs", base: "base/java",
	chains: map[string][]string{"release": {"dev", "qa", "prod"}},
	def:    "release", app: "hocs-casework",
	chart: "hocs-generic-service", version: "7.1.0",
	seed: seedGov,
}

// govRepos are the deployment repositories and the environments each
// holds, in the order of the chain.
var govRepos = []struct {
	name, about string
	envs        []string
	timeout     int
}{
	{"hocs/deploy-notprod", "Deployment repository", []string{"dev", "qa"}, 600},
	// A repository of its own so that only release managers can merge
	// into main: every merge into it releases to production.
	{"hocs/deploy-prod", "Production deployment repository", []string{"prod"}, 900},
}

// govEnv is what differs between the environments' files.
var govEnv = map[string]struct {
	replicas         int
	logLevel, domain string
}{
	"dev":  {1, "debug", "dev.hocs.local"},
	"qa":   {2, "info", "qa.hocs.local"},
	"prod": {3, "warn", "hocs.local"},
}

// govRoutes are the routes the clone lands as commits for want of a GitLab.
func govRoutes(o CloneOptions) []Route {
	if o.GitLab != "" {
		return nil
	}
	var routes []Route
	for _, r := range govRepos {
		for _, env := range r.envs {
			routes = append(routes, Route{Env: env, Platform: "merge request into main of " + r.name, Local: "commit to main of " + r.name})
		}
	}
	return routes
}

// seedGov writes the two deployment repositories, each a helmfile layout
// on main, and the stepper.yaml whose environments point into them.
func seedGov(s *seeding) error {
	s.c.Routes = govRoutes(s.o)
	type environment struct{ Name, Repo string }
	var envs []environment
	for _, r := range govRepos {
		files, err := govFiles(s, r.about, r.envs, r.timeout)
		if err != nil {
			return err
		}
		repo, err := s.repo(r.name, "main", files)
		if err != nil {
			return err
		}
		for _, env := range r.envs {
			envs = append(envs, environment{env, repo.HTTPURL})
		}
		s.logf("seed: the deployment repository %s (main: %s)", repo.HTTPURL, strings.Join(r.envs, ", "))
	}
	return s.config("assets/gov/stepper.yaml.tmpl", map[string]any{"Environments": envs})
}

// govFiles are one deployment repository's files: the helmfile and, per
// environment, its versions, settings and values files.
func govFiles(s *seeding, about string, envs []string, timeout int) (map[string]string, error) {
	files := map[string]string{}
	add := func(name, tmpl string, data map[string]any) error {
		text, err := render("assets/gov/"+tmpl, data)
		files[name] = text
		return err
	}
	err := add("helmfile.yaml", "helmfile.yaml.tmpl", map[string]any{
		"About": about, "Envs": envs, "Charts": s.c.Charts, "Chart": s.c.Chart, "Apps": s.o.Apps, "Timeout": timeout})
	if err != nil {
		return nil, err
	}
	for _, env := range envs {
		e, dir := govEnv[env], "environments/"+env+"/"
		data := map[string]any{"Env": env, "Apps": s.o.Apps, "Registry": s.c.Registry, "Chart": s.c.Chart, "ChartVersion": s.c.ChartVersion,
			"Domain": e.domain, "Replicas": e.replicas}
		for name, tmpl := range map[string]string{"versions.yaml": "versions.yaml.tmpl", "settings.yaml": "settings.yaml.tmpl", "values/common.yaml": "common.yaml.tmpl"} {
			if err := add(dir+name, tmpl, data); err != nil {
				return nil, err
			}
		}
		for _, app := range s.o.Apps {
			if err := add(dir+"values/"+app+".yaml", "app.yaml.tmpl", map[string]any{"Env": env, "App": app, "LogLevel": e.logLevel}); err != nil {
				return nil, err
			}
		}
	}
	files["README.md"] = fmt.Sprintf("# %s of the local clone of the government platform\n\nA helmfile layout: helmfile.yaml at the root, environments/<env>/ for %s.\nA release edits environments/<env>/versions.yaml (and the app's values file)\non a branch and is merged into main by merge request.\n", about, strings.Join(envs, " and "))
	return files, nil
}
