package local

import (
	"fmt"
	"strings"
)

// ehealth is the eHealth platform (seeds 000-002): Helmsman desired-state
// files in one GitLab repository, master for the test environments and
// prod for preprod and prod; Jenkins applies them and runs the promotion
// jobs.
var ehealth = profile{
	project: "ehealth", base: "base/java",
	chains: map[string][]string{
		"internal": {"inttest", "exttest", "preprod", "prod"},
		"vendor":   {"devenvcgi", "exttest", "preprod", "prod"},
	},
	def: "internal", app: "patient-api",
	chart: "ehealth-spring-boot", version: "3.2.0",
	seed: seedEHealth,
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

// seedEHealth writes one Helmsman file per environment of both chains into
// ehealth/desired-state, master holding the test environments and prod,
// branched from it, preprod and prod.
func seedEHealth(s *seeding) error {
	s.c.Routes = ehealthRoutes(s.o)
	files := map[string]string{}
	for _, env := range ehealthEnvs {
		dsf, err := render("assets/ehealth/dsf.yaml.tmpl", map[string]any{
			"Env": env, "Namespace": "ehealth-" + env, "Charts": s.c.Charts, "Apps": s.o.Apps})
		if err != nil {
			return err
		}
		files[env+"/dsf.yaml"] = dsf
	}
	files["README.md"] = "# Desired state of the local clone of the eHealth platform\n\nOne Helmsman file per environment. master holds the test environments;\nprod, branched from master, holds preprod and prod.\n"
	r, err := s.repo("ehealth/desired-state", "master", files)
	if err != nil {
		return err
	}
	if _, err := runGit(r.git, r.Dir, "branch", "prod", "master"); err != nil {
		return fmt.Errorf("seed the clone: the prod branch: %w", err)
	}
	s.logf("seed: the desired-state repository %s (master: %s; prod: preprod, prod)", r.HTTPURL, strings.Join([]string{"inttest", "devenvcgi", "exttest"}, ", "))
	return s.config("assets/ehealth/stepper.yaml.tmpl", nil)
}
