package helm

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"helm.sh/helm/v4/pkg/chart/common"
	chartutil "helm.sh/helm/v4/pkg/chart/common/util"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	v2util "helm.sh/helm/v4/pkg/chart/v2/util"
	"helm.sh/helm/v4/pkg/engine"
	release "helm.sh/helm/v4/pkg/release/v1"
	releaseutil "helm.sh/helm/v4/pkg/release/v1/util"
	"helm.sh/helm/v4/pkg/strvals"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/yaml"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/logging"
)

// DefaultKubeVersion is the Kubernetes version charts see when
// RenderOptions.KubeVersion is empty: the one the Helm CLI built into
// stepper's tool chain assumes for `helm template`, fixed here so output
// does not change with a dependency bump.
const DefaultKubeVersion = "v1.37.0"

// RenderOptions are the release and values to render a chart with.
type RenderOptions struct {
	// Release is the release name; "" means "release-name", as for
	// `helm template`.
	Release string
	// Namespace is the release namespace; "" means "default".
	Namespace string
	// Values, ValueFiles, Set and SetString are merged in this order, each
	// winning over the ones before, and over the chart's own values: Values
	// as if it were the first values file, then the files (-f), then Set
	// (--set key=value) and SetString (--set-string key=value).
	Values     map[string]any
	ValueFiles []string
	Set        []string
	SetString  []string
	// ValuesFS, when set, confines ValueFiles: each is then a relative,
	// slash-separated name inside ValuesFS (an os.Root's FS, say), and a
	// file that leads outside it is refused.
	ValuesFS fs.FS
	// KubeVersion is the Kubernetes version charts see in
	// .Capabilities.KubeVersion and check against Chart.yaml's kubeVersion;
	// "" means DefaultKubeVersion. No cluster is asked.
	KubeVersion string
	// APIVersions are added to .Capabilities.APIVersions (--api-versions),
	// for charts that render a resource only when its API is served.
	APIVersions []string
	// IncludeCRDs adds the chart's crds/ files first (--include-crds).
	IncludeCRDs bool
	// IncludeTests keeps test hooks (helm.sh/hook: test); they are left
	// out by default, as with --skip-tests. Other hooks are always kept.
	IncludeTests bool
	// SkipSchemaValidation does not check the values against the chart's
	// values.schema.json.
	SkipSchemaValidation bool
}

// Object is one rendered Kubernetes object.
type Object struct {
	// Object is the object, decoded the way Kubernetes' unstructured
	// objects are: whole numbers are int64, others float64.
	Object map[string]any
	// Template is the file it came from, e.g. mychart/templates/deployment.yaml
	// or mychart/charts/redis/templates/service.yaml.
	Template string
	// Hook lists the hook events (pre-install, post-upgrade, …) when the
	// object is a Helm hook; nil for an ordinary object.
	Hook []string
}

// RenderError is a chart that does not render. Its message is Helm's,
// which names the template and line.
type RenderError struct {
	// Chart is name-version of the chart.
	Chart string
	// Template and Line locate the error when Helm's message does; Line is
	// 0 when it is not known.
	Template string
	Line     int
	Err      error
}

func (e *RenderError) Error() string { return fmt.Sprintf("render chart %s: %v", e.Chart, e.Err) }
func (e *RenderError) Unwrap() error { return e.Err }

// templateLocation finds the first "chart/templates/file.yaml:12" in a Helm
// error message.
var templateLocation = regexp.MustCompile(`([\w.-]+(?:/[\w.-]+)*/templates/[\w./-]+?):(\d+)`)

func renderError(ch *LoadedChart, err error) error {
	re := &RenderError{Chart: ch.String(), Err: err}
	if m := templateLocation.FindStringSubmatch(err.Error()); m != nil {
		re.Template = m[1]
		re.Line, _ = strconv.Atoi(m[2])
	}
	return exit.Mark(exit.Failed, re)
}

// Render renders ch like `helm template`: on the client only, with no
// cluster and no lookups, hooks included and test hooks only when asked.
// Objects come in the order `helm template` prints them: CRDs when asked,
// then the chart's objects in install order, then hooks. A template that
// fails, output that is not YAML and values the chart's schema rejects
// are a RenderError marked exit.Failed; unreadable value files and bad
// --set syntax are exit.Usage.
func (c *Client) Render(ctx context.Context, ch *LoadedChart, o RenderOptions) ([]Object, error) {
	start := time.Now()
	if ch.meta.Type == "library" {
		return nil, exit.Mark(exit.Failed, &RenderError{Chart: ch.String(),
			Err: errors.New("a library chart cannot be rendered on its own; render a chart that depends on it")})
	}
	if o.Release == "" {
		o.Release = "release-name"
	}
	if o.Namespace == "" {
		o.Namespace = "default"
	}
	if o.KubeVersion == "" {
		o.KubeVersion = DefaultKubeVersion
	}
	kubeVersion, err := common.ParseKubeVersion(o.KubeVersion)
	if err != nil {
		return nil, exit.Usagef("kube version %q: %w", o.KubeVersion, err)
	}
	vals, err := mergeValues(o)
	if err != nil {
		return nil, err
	}

	// Helm edits a chart while it renders it (dependencies switched off by
	// conditions are dropped, imported values are merged in), so each
	// render works on its own copy of the cached chart.
	chrt := copyChart(ch.chart)
	if err := v2util.ProcessDependencies(chrt, vals); err != nil {
		return nil, renderError(ch, err)
	}
	if kv := chrt.Metadata.KubeVersion; kv != "" && !v2util.IsCompatibleRange(kv, kubeVersion.String()) {
		return nil, renderError(ch, fmt.Errorf("chart requires kubeVersion %s, which Kubernetes %s is not; "+
			"set the Kubernetes version to render for", kv, kubeVersion.Version))
	}
	caps := common.DefaultCapabilities.Copy()
	caps.KubeVersion = *kubeVersion
	if len(o.APIVersions) > 0 {
		caps.APIVersions = append(append(common.VersionSet{}, caps.APIVersions...), o.APIVersions...)
	}
	top, err := chartutil.ToRenderValuesWithSchemaValidation(chrt, vals, common.ReleaseOptions{
		Name: o.Release, Namespace: o.Namespace, Revision: 1, IsInstall: true,
	}, caps, o.SkipSchemaValidation)
	if err != nil {
		return nil, renderError(ch, err)
	}
	var eng engine.Engine
	files, err := eng.RenderWithContext(ctx, chrt, top)
	if ctx.Err() != nil {
		return nil, fmt.Errorf("render chart %s: %w", ch, ctx.Err())
	}
	if err != nil {
		return nil, renderError(ch, err)
	}
	for name := range files {
		if strings.HasSuffix(name, "NOTES.txt") {
			delete(files, name)
		}
	}
	hooks, manifests, err := releaseutil.SortManifests(files, nil, releaseutil.InstallOrder)
	if err != nil {
		return nil, renderError(ch, err)
	}

	var objs []Object
	add := func(template, doc string, hook []string) error {
		obj, err := decodeObject(doc)
		if err != nil {
			return renderError(ch, fmt.Errorf("%s: %w", template, err))
		}
		if obj != nil {
			objs = append(objs, Object{Object: obj, Template: template, Hook: hook})
		}
		return nil
	}
	if o.IncludeCRDs {
		for _, crd := range chrt.CRDObjects() {
			docs := releaseutil.SplitManifests(string(crd.File.Data))
			keys := slices.Collect(maps.Keys(docs))
			sort.Sort(releaseutil.BySplitManifestsOrder(keys))
			for _, k := range keys {
				if err := add(crd.Filename, docs[k], nil); err != nil {
					return nil, err
				}
			}
		}
	}
	for _, m := range manifests {
		if err := add(m.Name, m.Content, nil); err != nil {
			return nil, err
		}
	}
	for _, h := range hooks {
		if !o.IncludeTests && isTestHook(h) {
			continue
		}
		events := make([]string, len(h.Events))
		for i, e := range h.Events {
			events[i] = e.String()
		}
		if err := add(h.Path, h.Manifest, events); err != nil {
			return nil, err
		}
	}
	logging.From(ctx).Debug().Str("chart", ch.String()).Str(logging.Release, o.Release).
		Int("objects", len(objs)).Int64(logging.Duration, time.Since(start).Milliseconds()).Msg("chart rendered")
	return objs, nil
}

func isTestHook(h *release.Hook) bool {
	for _, e := range h.Events {
		if e == release.HookTest {
			return true
		}
	}
	return false
}

// decodeObject decodes one YAML document like Kubernetes' unstructured
// decoder does. A document with only comments is nil.
func decodeObject(doc string) (map[string]any, error) {
	js, err := yaml.YAMLToJSON([]byte(doc))
	if err != nil {
		return nil, err
	}
	var obj map[string]any
	if err := utiljson.Unmarshal(js, &obj); err != nil {
		return nil, fmt.Errorf("not a Kubernetes object: %w", err)
	}
	if len(obj) == 0 {
		return nil, nil
	}
	return obj, nil
}

// mergeValues merges o's values the way the Helm CLI merges -f, --set and
// --set-string.
func mergeValues(o RenderOptions) (map[string]any, error) {
	vals := copyValues(o.Values)
	if vals == nil {
		vals = map[string]any{}
	}
	for _, f := range o.ValueFiles {
		var data []byte
		var err error
		if o.ValuesFS != nil {
			data, err = ReadConfined(o.ValuesFS, "values file", f)
		} else if data, err = os.ReadFile(f); err != nil {
			err = exit.Usagef("values file: %w", err)
		}
		if err != nil {
			return nil, err
		}
		fileVals, err := common.ReadValues(data)
		if err != nil {
			return nil, exit.Usagef("values file %s: %w", f, err)
		}
		vals = loader.MergeMaps(vals, fileVals)
	}
	for _, s := range o.Set {
		if err := strvals.ParseInto(s, vals); err != nil {
			return nil, exit.Usagef("set %q: %w; use key=value, a.b=value or list[0]=value", s, err)
		}
	}
	for _, s := range o.SetString {
		if err := strvals.ParseIntoString(s, vals); err != nil {
			return nil, exit.Usagef("set-string %q: %w; use key=value, a.b=value or list[0]=value", s, err)
		}
	}
	return vals, nil
}

// copyChart copies what rendering changes in a chart and its dependencies:
// metadata with its dependency list, and values. Templates and files are
// shared; Helm only reads them.
func copyChart(ch *chartv2.Chart) *chartv2.Chart {
	out := *ch
	md := *ch.Metadata
	if md.Dependencies != nil {
		md.Dependencies = make([]*chartv2.Dependency, len(ch.Metadata.Dependencies))
		for i, d := range ch.Metadata.Dependencies {
			dc := *d
			md.Dependencies[i] = &dc
		}
	}
	out.Metadata = &md
	out.Values = copyValues(ch.Values)
	deps := make([]*chartv2.Chart, len(ch.Dependencies()))
	for i, d := range ch.Dependencies() {
		deps[i] = copyChart(d)
	}
	out.SetDependencies(deps...)
	return &out
}

// copyValues deep-copies values as YAML or JSON decode them: maps, lists
// and scalars.
func copyValues(v map[string]any) map[string]any {
	if v == nil {
		return nil
	}
	out := make(map[string]any, len(v))
	for k, e := range v {
		out[k] = copyValue(e)
	}
	return out
}

func copyValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		return copyValues(v)
	case common.Values:
		return copyValues(v)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = copyValue(e)
		}
		return out
	}
	return v
}
