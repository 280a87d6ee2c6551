// Package crosscheck_test proves that the owners' tools accept what
// desiredstate writes: the real helmfile renders edited layouts, and a
// kube-apiserver with Flux's CRD accepts edited HelmReleases. It lives
// apart from desiredstate so the fuzzers' test binary stays small.
package crosscheck_test

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	ds "github.com/stepper-cd/stepper/internal/desiredstate"
	"github.com/stepper-cd/stepper/internal/testenv"
)

const (
	fluxData     = "../../../testdata/desiredstate/flux"
	helmfileData = "../../../testdata/desiredstate/helmfile"
	digestA      = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
)

func setImage(app string, img ds.Image) func(ds.Document) (bool, error) {
	return func(d ds.Document) (bool, error) { return d.SetImage(app, img) }
}

func setValues(app string, kv map[string]string) func(ds.Document) (bool, error) {
	return func(d ds.Document) (bool, error) { return d.SetValues(app, kv) }
}

// One kube-apiserver for the package, started by the first test needing it.
var platform = testenv.NewShared(testenv.Options{SkipRegistry: true, SkipReferrersRegistry: true, SkipGit: true})

func TestMain(m *testing.M) {
	code := m.Run()
	platform.Stop()
	os.Exit(code)
}

// The real helmfile lists and templates a layout after stepper edited its
// versions file and values files, and renders the new images.
func TestHelmfileAcceptsEditedLayout(t *testing.T) {
	helmfile := testenv.RequireTool(t, "helmfile")
	helm := testenv.RequireTool(t, "helm")
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(helmfileData)); err != nil {
		t.Fatal(err)
	}
	doc := load(t, dir, ds.WithEnvironment("prod"))
	for _, edit := range []func(ds.Document) (bool, error){
		setImage("casework-api", ds.Image{Repository: "quay.io/ukhomeofficedigital/hocs-casework", Tag: "3.2.0"}),
		setImage("audit", ds.Image{Repository: "quay.io/ukhomeofficedigital/hocs-audit", Tag: "1.9.0"}),
		setImage("frontend", ds.Image{Repository: "quay.io/ukhomeofficedigital/hocs-frontend", Tag: "5.1.0", Digest: digestA}),
		setValues("casework-api", map[string]string{"replicaCount": "4", "env.FEATURE_SEARCH": "on"}),
		setValues("audit", map[string]string{"env.LOG_LEVEL": "warn"}),
	} {
		if changed, err := edit(doc); err != nil || !changed {
			t.Fatalf("edit: changed=%v err=%v", changed, err)
		}
	}
	if err := ds.WriteFiles(dir, doc.Files()); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "PATH="+filepath.Dir(helm)+string(os.PathListSeparator)+os.Getenv("PATH"),
		"HELM_CACHE_HOME="+t.TempDir(), "HELM_CONFIG_HOME="+t.TempDir(), "HELM_DATA_HOME="+t.TempDir())
	run := func(args ...string) string {
		cmd := exec.Command(helmfile, append([]string{"--file", "helmfile.yaml.gotmpl", "--environment", "prod"}, args...)...)
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("helmfile %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	list := run("list")
	for _, name := range []string{"casework-api", "frontend", "audit"} {
		if !strings.Contains(list, name) {
			t.Errorf("helmfile list lacks %s:\n%s", name, list)
		}
	}
	out := run("template", "--skip-deps")
	for _, want := range []string{
		`image: "quay.io/ukhomeofficedigital/hocs-casework:3.2.0"`,
		`image: "quay.io/ukhomeofficedigital/hocs-audit:1.9.0"`,
		`image: "quay.io/ukhomeofficedigital/hocs-frontend:5.1.0@` + digestA + `"`,
		"replicas: 4",
		"name: FEATURE_SEARCH\n              value: \"on\"",
		"name: LOG_LEVEL\n              value: \"warn\"",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("helmfile template does not render %q:\n%s", want, out)
		}
	}
}

var helmReleases = schema.GroupVersionResource{Group: "helm.toolkit.fluxcd.io", Version: "v2", Resource: "helmreleases"}

// Every HelmRelease stepper edited passes a server-side dry-run apply
// against Flux's own CRD schema.
func TestFluxAcceptsEditedHelmReleases(t *testing.T) {
	crds := testenv.RequireFluxCRDDir(t)
	kube := platform.Get(t).Kube
	ctx := context.Background()
	if err := kube.InstallCRDs(ctx, crds); err != nil {
		t.Fatal(err)
	}
	client, err := dynamic.NewForConfig(kube.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	prod := load(t, filepath.Join(fluxData, "prod"))
	staging := load(t, filepath.Join(fluxData, "staging"))
	for _, edit := range []func(ds.Document) (bool, error){
		setImage("blog-service", ds.Image{Repository: "docker.io/hostedshop/blog-service", Tag: "master-8c3d2e1", Digest: digestA}),
		func(d ds.Document) (bool, error) { return d.SetChartVersion("blog-service", "1.5.0") },
		setImage("news-service", ds.Image{Repository: "docker.io/hostedshop/news-service", Tag: "master-5e6f7a8", Digest: digestA}),
		setValues("news-service", map[string]string{"replicaCount": "4", "worker.replicas": "2"}),
		func(d ds.Document) (bool, error) { return d.UnsetValues("blog-service", "env.LOG_LEVEL") },
		func(d ds.Document) (bool, error) { return d.SetChartVersion("design-store", "2.1.0") },
		setImage("design-store", ds.Image{Repository: "docker.io/hostedshop/design-store", Tag: "master-1b2c3d4"}),
		setImage("apps", ds.Image{Repository: "docker.io/hostedshop/apps", Tag: "master-beefcafe"}),
	} {
		if changed, err := edit(prod); err != nil || !changed {
			t.Fatalf("prod: changed=%v err=%v", changed, err)
		}
	}
	if changed, err := staging.SetValues("blog-service", map[string]string{"env.FEATURE_SEARCH": "on", "resources.limits.memory": "512Mi"}); err != nil || !changed {
		t.Fatalf("staging: changed=%v err=%v", changed, err)
	}
	// A promotion of staging's release into a fresh prod.
	promoted := load(t, filepath.Join(fluxData, "prod"))
	if changed, err := ds.CopyRelease(staging, promoted, "blog-service", ds.DefaultKeys()); err != nil || !changed {
		t.Fatalf("promote: changed=%v err=%v", changed, err)
	}
	for env, doc := range map[string]ds.Document{"prod": prod, "staging": staging, "promoted": promoted} {
		applied := 0
		for name, src := range doc.Files() {
			for _, obj := range helmReleaseObjects(t, name, src) {
				ensureNamespace(t, ctx, client, obj.GetNamespace())
				if err := kube.DryRunApply(ctx, helmReleases, obj); err != nil {
					t.Errorf("%s %s: %s/%s rejected: %v", env, name, obj.GetNamespace(), obj.GetName(), err)
				}
				applied++
			}
		}
		if applied < 2 {
			t.Fatalf("%s: only %d HelmReleases applied", env, applied)
		}
	}
}

func load(t *testing.T, path string, opts ...ds.Option) ds.Document {
	t.Helper()
	d, err := ds.Load(path, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// helmReleaseObjects decodes the HelmRelease documents of a file the way
// kubectl would send them.
func helmReleaseObjects(t *testing.T, name string, src []byte) []*unstructured.Unstructured {
	t.Helper()
	dec := yaml.NewDecoder(strings.NewReader(string(src)))
	var out []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return out
			}
			t.Fatalf("%s: %v", name, err)
		}
		if m["kind"] == "HelmRelease" {
			out = append(out, &unstructured.Unstructured{Object: m})
		}
	}
}

func ensureNamespace(t *testing.T, ctx context.Context, client dynamic.Interface, ns string) {
	t.Helper()
	obj := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": ns}}}
	_, err := client.Resource(schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}).Create(ctx, obj, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}
