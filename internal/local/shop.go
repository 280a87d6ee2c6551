package local

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// shop is the shop's platform (seed 003): Flux HelmReleases in one GitOps
// repository, staging released by a commit and a stag-* tag, production by
// a master-* tag alone, which Flux image automation writes into its
// HelmReleases.
var shop = profile{
	project: "hostedshop", base: "base",
	chains: map[string][]string{"release": {"staging", "production"}},
	def:    "release", app: "blog-service",
	chart: "service", version: "1.5.0",
	seed: seedShop,
}

// AutomationInterval is how often the shop clone's image automation looks
// at the registry.
const AutomationInterval = time.Second

// seedShop writes the Flux repository hostedshop/k8s/flux: per cluster
// (staging, production) the chart source and a HelmRelease per app, and
// production's image automation, which a stand-in runs from now on.
func seedShop(s *seeding) error {
	files := map[string]string{
		"README.md": "# Flux repository of the local clone of the shop's platform\n\n" +
			"clusters/<env>/apps holds a HelmRelease per service, clusters/<env>/sources the chart source.\n" +
			"Production's image automation (clusters/production/image-automation.yaml) writes\n" +
			"its HelmReleases whenever a newer master-* tag appears.\n",
	}
	for _, env := range []string{"staging", "production"} {
		src, err := render("assets/shop/shop-charts.yaml.tmpl", map[string]any{"Charts": s.c.Charts})
		if err != nil {
			return err
		}
		files["clusters/"+env+"/sources/shop-charts.yaml"] = src
		for _, app := range s.o.Apps {
			data := map[string]any{"App": app, "Env": env, "Namespace": "shop-" + env, "Automated": env == "production",
				"Policy":   app + "-stag",
				"Replicas": 1, "LogLevel": "debug", "Comments": true}
			if env == "production" {
				data["Policy"], data["Replicas"], data["LogLevel"], data["Comments"] = app+"-master", 2, "info", false
			}
			hr, err := render("assets/shop/helmrelease.yaml.tmpl", data)
			if err != nil {
				return err
			}
			files["clusters/"+env+"/apps/"+app+".yaml"] = hr
		}
	}
	auto, err := render("assets/shop/image-automation.yaml.tmpl", map[string]any{"Apps": s.o.Apps, "Registry": s.c.Registry, "Project": s.c.Project})
	if err != nil {
		return err
	}
	files["clusters/production/image-automation.yaml"] = auto
	r, err := s.repo("hostedshop/k8s/flux", "master", files)
	if err != nil {
		return err
	}
	s.logf("seed: the Flux repository %s (clusters/staging, clusters/production)", r.HTTPURL)

	a := &ImageAutomation{Repo: r, Branch: "master", Work: filepath.Join(s.o.Dir, "image-automation"), Interval: AutomationInterval, Logf: s.logf}
	if _, err := a.Round(s.ctx); err != nil {
		return fmt.Errorf("seed the clone: image automation: %w", err)
	}
	s.c.stop = append(s.c.stop, a.Start())
	s.c.Automation = fmt.Sprintf("Flux image automation stand-in: %s, master-* tags into clusters/production every %s", strings.Join(s.o.Apps, ", "), AutomationInterval)
	s.c.Routes = []Route{{Env: "production", Platform: "Flux image automation follows the master-* tag", Local: "the same, by the clone's stand-in for image automation"}}
	s.logf("seed: %s", s.c.Automation)
	return s.config("assets/shop/stepper.yaml.tmpl", nil)
}
