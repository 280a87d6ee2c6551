package desiredstate

import (
	"fmt"
	"sort"
)

// The operations below work on any Document, so helmfile and Flux get
// promote, diff and revert for free once they implement the interface.

// CopyRelease promotes app's release from one environment's document to
// another's: image, chart version and every values key that is not
// per-environment. Replicas, DNS, secret references and keys the platform
// marks per-environment stay as the target has them.
func CopyRelease(from, to Document, app string, keys Keys) (bool, error) {
	src, err := from.App(app)
	if err != nil {
		return false, fmt.Errorf("copy %s: read source: %w", app, err)
	}
	if _, err := to.App(app); err != nil {
		return false, fmt.Errorf("copy %s: read target: %w", app, err)
	}
	changed := false
	if !src.Image.IsZero() {
		did, err := to.SetImage(app, src.Image)
		if err != nil {
			return false, fmt.Errorf("copy %s: %w", app, err)
		}
		changed = changed || did
	}
	if src.ChartVersion != "" {
		did, err := to.SetChartVersion(app, src.ChartVersion)
		if err != nil {
			return false, fmt.Errorf("copy %s: %w", app, err)
		}
		changed = changed || did
	}
	values := map[string]string{}
	for k, v := range src.Values() {
		if !keys.IsImage(k) && !keys.IsPerEnvironment(k) {
			values[k] = v
		}
	}
	if len(values) > 0 {
		did, err := to.SetValues(app, values)
		if err != nil {
			return false, fmt.Errorf("copy %s: %w", app, err)
		}
		changed = changed || did
	}
	return changed, nil
}

// Difference is one way an app differs between two environments. Field is
// "app" (present on one side only), "namespace", "enabled", "chart",
// "version", "image", or "values.<key>".
type Difference struct {
	App   string
	Field string
	From  string // "" when absent
	To    string
}

// Diff lists how environment b differs from a, app by app, sorted.
func Diff(a, b Document) ([]Difference, error) {
	appsA, err := a.Apps()
	if err != nil {
		return nil, fmt.Errorf("diff: %w", err)
	}
	appsB, err := b.Apps()
	if err != nil {
		return nil, fmt.Errorf("diff: %w", err)
	}
	byName := map[string]App{}
	for _, x := range appsB {
		byName[x.Name] = x
	}
	var out []Difference
	seen := map[string]bool{}
	for _, x := range appsA {
		seen[x.Name] = true
		y, ok := byName[x.Name]
		if !ok {
			out = append(out, Difference{App: x.Name, Field: "app", From: "present"})
			continue
		}
		out = append(out, diffApp(x, y)...)
	}
	for _, y := range appsB {
		if !seen[y.Name] {
			out = append(out, Difference{App: y.Name, Field: "app", To: "present"})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].App != out[j].App {
			return out[i].App < out[j].App
		}
		return out[i].Field < out[j].Field
	})
	return out, nil
}

func diffApp(x, y App) []Difference {
	var out []Difference
	add := func(field, from, to string) {
		if from != to {
			out = append(out, Difference{App: x.Name, Field: field, From: from, To: to})
		}
	}
	add("namespace", x.Namespace, y.Namespace)
	add("enabled", fmt.Sprint(x.Enabled), fmt.Sprint(y.Enabled))
	add("chart", x.Chart.String(), y.Chart.String())
	add("version", x.ChartVersion, y.ChartVersion)
	add("image", x.Image.String(), y.Image.String())
	vx, vy := x.Values(), y.Values()
	for k, v := range vx {
		add("values."+k, v, vy[k])
	}
	for k, v := range vy {
		if _, ok := vx[k]; !ok {
			add("values."+k, "", v)
		}
	}
	return out
}

// Revert undoes, in current, what one earlier change (before → after) did
// to app's release: the chart version and every values key the change
// touched go back to their before values; keys it added are removed and
// keys it removed come back. Nothing else in current moves, so later
// changes to other apps or other keys survive.
func Revert(current, before, after Document, app string) (bool, error) {
	b, err := before.App(app)
	if err != nil {
		return false, fmt.Errorf("revert %s: read before: %w", app, err)
	}
	a, err := after.App(app)
	if err != nil {
		return false, fmt.Errorf("revert %s: read after: %w", app, err)
	}
	// Check before touching current: a revert is whole or refused.
	if b.ChartVersion == "" && a.ChartVersion != "" {
		return false, fmt.Errorf("revert %s: the change added chart version %s where none was set, and removing a chart version is not supported: remove it by hand, or set the version the app should run", app, a.ChartVersion)
	}
	changed := false
	if a.ChartVersion != b.ChartVersion {
		did, err := current.SetChartVersion(app, b.ChartVersion)
		if err != nil {
			return false, fmt.Errorf("revert %s: %w", app, err)
		}
		changed = did
	}
	vb, va := b.Values(), a.Values()
	restore := map[string]string{}
	var added []string
	for k, v := range va {
		if old, had := vb[k]; !had {
			added = append(added, k)
		} else if old != v {
			restore[k] = old
		}
	}
	for k, v := range vb {
		if _, ok := va[k]; !ok {
			restore[k] = v
		}
	}
	if len(added) > 0 {
		sort.Strings(added)
		did, err := current.UnsetValues(app, added...)
		if err != nil {
			return false, fmt.Errorf("revert %s: %w", app, err)
		}
		changed = changed || did
	}
	if len(restore) > 0 {
		did, err := current.SetValues(app, restore)
		if err != nil {
			return false, fmt.Errorf("revert %s: %w", app, err)
		}
		changed = changed || did
	}
	return changed, nil
}
