package rollback

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/stepper-cd/stepper/internal/desiredstate"
	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/helm"
	"github.com/stepper-cd/stepper/internal/logging"
	"github.com/stepper-cd/stepper/internal/release"
)

// MigrationAnnotation marks a chart's Job or hook that migrates the
// database: "true" for one that migrates forward (its release cannot be
// rolled back without undoing it), "down" for the one that undoes it.
const MigrationAnnotation = "stepper.dev/migration"

// Charts loads and renders charts: internal/helm.
type Charts interface {
	Load(ctx context.Context, ref helm.ChartRef) (*helm.LoadedChart, error)
	Render(ctx context.Context, ch *helm.LoadedChart, o helm.RenderOptions) ([]helm.Object, error)
}

// DownMigrations runs an app's way back: internal/kube for a Job, a
// process for a command.
type DownMigrations interface {
	// RunJob creates job in namespace and waits until it has completed;
	// a Job that fails, or outlasts timeout, is an error.
	RunJob(ctx context.Context, cl helm.Cluster, namespace string, job map[string]any, timeout time.Duration) error
	// RunCommand runs argv with env added and waits for it.
	RunCommand(ctx context.Context, argv, env []string, out io.Writer) error
}

// Migration is what a rollback found out about database migrations
// between what runs and what it returns to, and what it did about them.
type Migration struct {
	Found bool `json:"found"`
	// Why lists each sign of a migration.
	Why []string `json:"why,omitempty"`
	// Down is the way back configured or found: "job NAME", "command ...".
	Down string `json:"down,omitempty"`
	// Ran is what ran, "" when nothing did.
	Ran string `json:"ran,omitempty"`
	// Unchecked says what could not be inspected.
	Unchecked []string `json:"unchecked,omitempty"`
}

// inspected is what a release looks like for migration detection: its
// values and its rendered objects (hooks included).
type inspected struct {
	values  map[string]string
	objects []map[string]any
}

// migrations checks the release being rolled back for migrations and, with
// --with-migrations, runs the way back before anything else changes. A
// migration without --with-migrations, or without a way back, is refused
// with what must be done by hand.
func (s *Step) migrations(ctx context.Context, job Job, current, target desiredstate.App, from, to release.Ref) (*Migration, error) {
	m := &Migration{}
	rel := inspected{values: current.Values()}
	objs, err := s.render(ctx, job, current)
	if err != nil {
		m.Unchecked = append(m.Unchecked, "the chart of the current release: "+err.Error())
		logging.From(ctx).Warn().Err(err).Msg("the current release's chart could not be rendered to look for migration Jobs and hooks; the configuration and values are still checked")
	}
	rel.objects = objs
	return m, s.decide(ctx, job, m, rel, from, to)
}

// decide fills m from what rel shows and acts on it.
func (s *Step) decide(ctx context.Context, job Job, m *Migration, rel inspected, from, to release.Ref) error {
	app := job.App
	settings := job.Config.Migrations.MigrationsOf(app)
	if settings.Runs {
		m.Why = append(m.Why, "migrations.apps["+app+"].runs is true")
	}
	for _, k := range job.Config.Migrations.ValuesKeys {
		if v, ok := rel.values[k]; ok && truthy(v) {
			m.Why = append(m.Why, fmt.Sprintf("values key %s is %s in the release rolled back", k, v))
		}
	}
	var down map[string]any
	for _, o := range rel.objects {
		switch annotation(o, MigrationAnnotation) {
		case "true":
			m.Why = append(m.Why, fmt.Sprintf("the chart runs %s %s, marked %s", kindOf(o), nameOf(o), MigrationAnnotation))
		case "down":
			if settings.DownJob == "" && kindOf(o) == "Job" {
				down = o
			}
		}
		if settings.DownJob != "" && kindOf(o) == "Job" && nameOf(o) == settings.DownJob {
			down = o
		}
	}
	m.Found = len(m.Why) > 0
	switch {
	case len(settings.DownCommand) > 0:
		m.Down = "command " + strings.Join(settings.DownCommand, " ")
	case down != nil:
		m.Down = "job " + nameOf(down)
	case settings.DownJob != "":
		m.Down = "job " + settings.DownJob + " (not rendered by the chart)"
	}
	if !m.Found {
		return nil
	}
	why := strings.Join(m.Why, "; ")
	if !job.WithMigrations {
		return exit.Failedf("rollback %s in %s refused: the release rolled back ran database migrations (%s), and returning to %s would leave the database ahead of its code. "+
			"Roll back with --with-migrations to run the down-migration first%s", app, job.Env.Name, why, to.ShortDigest(), downHint(m, app))
	}
	if len(settings.DownCommand) == 0 && down == nil {
		return exit.Failedf("rollback %s in %s refused: the release rolled back ran database migrations (%s), and no way back is configured. By hand: "+
			"1) run %s's down-migrations against the %s database until its schema is the one %s expects; "+
			"2) then roll back again with --with-migrations and migrations.apps[%s].downCommand set to what you ran (or mark the chart's down Job %s: \"down\"), "+
			"or ask the platform team to restore the database from the backup taken before the release", app, job.Env.Name, why, app, job.Env.Name, to, app, MigrationAnnotation)
	}
	if job.DryRun {
		logging.From(ctx).Info().Str("down", m.Down).Msg("dry run: the down-migration would run first")
		return nil
	}
	return s.runDown(ctx, job, m, settings.DownCommand, down, from, to)
}

// runDown runs the way back and waits for it.
func (s *Step) runDown(ctx context.Context, job Job, m *Migration, command []string, down map[string]any, from, to release.Ref) error {
	if s.Migrations == nil {
		return exit.Usagef("rollback %s: the down-migration needs a runner", job.App)
	}
	log := logging.From(ctx).Info().Str(logging.App, job.App).Str("down", m.Down)
	if len(command) > 0 {
		log.Msg("running the down-migration command before the rollback")
		env := []string{"STEPPER_APP=" + job.App, "STEPPER_ENV=" + job.Env.Name, "STEPPER_FROM_IMAGE=" + from.String(), "STEPPER_TO_IMAGE=" + to.String()}
		if err := s.Migrations.RunCommand(ctx, command, env, s.Console); err != nil {
			return exit.Mark(exit.Failed, fmt.Errorf("the down-migration command failed, so nothing was rolled back: %w", err))
		}
		m.Ran = m.Down
		return nil
	}
	if job.Kubeconfig == "" && job.KubeContext == "" {
		return exit.Usagef("rollback %s: the down-migration is the Job %s, which runs in the cluster: give --kubeconfig (or KUBECONFIG)", job.App, nameOf(down))
	}
	ns := job.Namespace
	if ns == "" {
		ns = s.namespace(ctx, job)
	}
	log.Str("namespace", ns).Msg("running the down-migration Job before the rollback")
	if err := s.Migrations.RunJob(ctx, helm.Cluster{Kubeconfig: job.Kubeconfig, Context: job.KubeContext}, ns, down, job.Timeout); err != nil {
		return exit.Mark(exit.ClassOf(err), fmt.Errorf("the down-migration Job %s did not complete, so nothing was rolled back: %w", nameOf(down), err))
	}
	m.Ran = m.Down
	return nil
}

func downHint(m *Migration, app string) string {
	if m.Down != "" {
		return " (" + m.Down + ")"
	}
	return "; none is configured: set migrations.apps[" + app + "].downCommand or mark the chart's down Job " + MigrationAnnotation + ": \"down\""
}

// render renders app's chart with its values, hooks included.
func (s *Step) render(ctx context.Context, job Job, app desiredstate.App) ([]map[string]any, error) {
	if s.Charts == nil {
		return nil, errors.New("no chart renderer")
	}
	if app.Chart.RepoURL == "" {
		return nil, fmt.Errorf("chart %s has no repository URL in the desired state", app.Chart)
	}
	ch, err := s.Charts.Load(ctx, helm.ChartRef{Repo: app.Chart.RepoURL, Name: app.Chart.Name, Version: app.ChartVersion})
	if err != nil {
		return nil, err
	}
	ns := app.Namespace
	if ns == "" {
		ns = job.Env.Name
	}
	objs, err := s.Charts.Render(ctx, ch, helm.RenderOptions{Release: app.Name, Namespace: ns, Set: pairs(app.Set), SetString: pairs(app.SetString)})
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, len(objs))
	for i, o := range objs {
		out[i] = o.Object
	}
	return out, nil
}

// manifestObjects decodes a release's manifest and hooks.
func manifestObjects(texts ...string) ([]map[string]any, error) {
	var out []map[string]any
	for _, t := range texts {
		dec := yaml.NewDecoder(bytes.NewReader([]byte(t)))
		for {
			var o map[string]any
			err := dec.Decode(&o)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return out, err
			}
			if o != nil {
				out = append(out, o)
			}
		}
	}
	return out, nil
}

func pairs(m map[string]string) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, k+"="+m[k])
	}
	return out
}

func truthy(v string) bool {
	switch strings.ToLower(strings.Trim(v, `"' `)) {
	case "true", "yes", "on", "1":
		return true
	}
	return false
}

func kindOf(o map[string]any) string {
	k, _ := o["kind"].(string)
	return k
}

func nameOf(o map[string]any) string {
	md, _ := o["metadata"].(map[string]any)
	n, _ := md["name"].(string)
	return n
}

func annotation(o map[string]any, key string) string {
	md, _ := o["metadata"].(map[string]any)
	a, _ := md["annotations"].(map[string]any)
	v, _ := a[key].(string)
	return v
}

// flatten turns nested values into dotted keys, for values-key detection
// on a Helm release's values.
func flatten(prefix string, v any, out map[string]string) {
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			key := k
			if prefix != "" {
				key = prefix + "." + k
			}
			flatten(key, c, out)
		}
	default:
		out[prefix] = fmt.Sprint(x)
	}
}
