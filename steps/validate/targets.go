package validate

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/stepper-cd/stepper/internal/desiredstate"
	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/helm"
	"github.com/stepper-cd/stepper/internal/policy"
	"github.com/stepper-cd/stepper/internal/suggest"
)

// StateTargets turns apps of an environment's desired state into targets:
// the image the values name, the chart and version the entry pins, and the
// values it sets, rendered as the environment would. With no app names it
// takes every app. A named app the state lacks is still a target, so the
// desired-state rule reports it.
func StateTargets(doc desiredstate.Document, env string, names []string, stateDir string) ([]Target, error) {
	apps, err := doc.Apps()
	if err != nil {
		return nil, exit.Mark(exit.Usage, err)
	}
	byName := map[string]desiredstate.App{}
	var all []string
	for _, a := range apps {
		byName[a.Name] = a
		all = append(all, a.Name)
	}
	if len(names) == 0 {
		names = all
		if len(names) == 0 {
			return nil, exit.Failedf("the desired state of %s has no apps", env)
		}
	}
	var out []Target
	for _, n := range names {
		a, ok := byName[n]
		if !ok {
			msg := ""
			if s := suggest.Closest(n, all); s != "" {
				msg = fmt.Sprintf(" (did you mean %q?)", s)
			}
			out = append(out, Target{Env: env, App: n, State: &policy.StateEntry{Found: false, Problem: fmt.Sprintf("no app %q in the desired state of %s%s", n, env, msg)}})
			continue
		}
		out = append(out, appTarget(env, a, stateDir))
	}
	return out, nil
}

func appTarget(env string, a desiredstate.App, stateDir string) Target {
	t := Target{
		Env: env, App: a.Name, Image: a.Image.String(),
		State: &policy.StateEntry{
			Found: true, File: a.Pos.File, Line: a.Pos.Line,
			ChartVersion: a.ChartVersion, Image: a.Image.String(), Chart: a.Chart.String(),
		},
	}
	if a.Chart.Name != "" {
		t.Chart = &helm.ChartRef{Repo: a.Chart.RepoURL, Name: a.Chart.Name, Version: a.ChartVersion}
		t.Render = helm.RenderOptions{Release: a.Name, Namespace: a.Namespace}
		for _, k := range sortedKeys(a.Set) {
			t.Render.Set = append(t.Render.Set, k+"="+a.Set[k])
		}
		for _, k := range sortedKeys(a.SetString) {
			t.Render.SetString = append(t.Render.SetString, k+"="+a.SetString[k])
		}
		for _, f := range a.ValuesFiles {
			if !filepath.IsAbs(f) {
				f = filepath.Join(stateDir, f)
			}
			t.Render.ValueFiles = append(t.Render.ValueFiles, f)
		}
	}
	return t
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// ParseChart reads --chart: a local directory or .tgz, oci://.../NAME, or
// an http(s) repository URL ending in /NAME.
func ParseChart(s, version string) helm.ChartRef {
	if !strings.Contains(s, "://") {
		return helm.ChartRef{Path: s}
	}
	i := strings.LastIndex(s, "/")
	return helm.ChartRef{Repo: s[:i], Name: s[i+1:], Version: version}
}
