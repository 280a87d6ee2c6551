package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
)

var crdResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// FluxCRDDir is the folder of Flux's HelmRelease CRD, generated from the
// pinned helm-controller API types by .ci/tools.sh.
func FluxCRDDir() (string, error) {
	cache, err := CacheDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, "crds-flux")
	if _, err := os.Stat(dir); err != nil {
		return "", fmt.Errorf("flux CRDs not found at %s: run `bash .ci/tools.sh fluxcrd`", dir)
	}
	return dir, nil
}

// InstallCRDs applies every CustomResourceDefinition in the YAML files of
// dir (server-side, so it is idempotent) and waits until each is
// established, so custom resources of those kinds can be applied at once.
func (k *Kube) InstallCRDs(ctx context.Context, dir string) error {
	client, err := dynamic.NewForConfig(k.RESTConfig())
	if err != nil {
		return fmt.Errorf("install CRDs: %w", err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("install CRDs: no YAML files in %s", dir)
	}
	var names []string
	for _, f := range files {
		docs, err := readObjects(f)
		if err != nil {
			return fmt.Errorf("install CRDs: %w", err)
		}
		for _, obj := range docs {
			data, err := obj.MarshalJSON()
			if err != nil {
				return fmt.Errorf("install CRDs: %s: %w", f, err)
			}
			force := true
			if _, err := client.Resource(crdResource).Patch(ctx, obj.GetName(), types.ApplyPatchType, data,
				metav1.PatchOptions{FieldManager: "stepper-testenv", Force: &force}); err != nil {
				return fmt.Errorf("install CRD %s: %w", obj.GetName(), err)
			}
			names = append(names, obj.GetName())
		}
	}
	for _, name := range names {
		if err := waitEstablished(ctx, client, name); err != nil {
			return err
		}
	}
	return nil
}

// DryRunApply sends obj as a server-side apply with dryRun=All and field
// manager "stepper": the API server checks it against the real schema and
// admission and stores nothing. It is how tests prove that edited manifests
// would be accepted.
func (k *Kube) DryRunApply(ctx context.Context, gvr schema.GroupVersionResource, obj *unstructured.Unstructured) error {
	client, err := dynamic.NewForConfig(k.RESTConfig())
	if err != nil {
		return fmt.Errorf("dry-run apply: %w", err)
	}
	body, err := obj.MarshalJSON()
	if err != nil {
		return fmt.Errorf("dry-run apply %s: %w", obj.GetName(), err)
	}
	_, err = client.Resource(gvr).Namespace(obj.GetNamespace()).Patch(ctx, obj.GetName(), types.ApplyPatchType, body,
		metav1.PatchOptions{FieldManager: "stepper", DryRun: []string{metav1.DryRunAll}})
	return err
}

func readObjects(path string) ([]*unstructured.Unstructured, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dec := yaml.NewYAMLOrJSONDecoder(f, 64<<10)
	var objs []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if len(m) > 0 {
			objs = append(objs, &unstructured.Unstructured{Object: m})
		}
	}
}

func waitEstablished(ctx context.Context, client dynamic.Interface, name string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		crd, err := client.Resource(crdResource).Get(ctx, name, metav1.GetOptions{})
		if err == nil && established(crd) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("CRD %s not established: %w", name, errors.Join(err, ctx.Err()))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func established(crd *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Established" && strings.EqualFold(fmt.Sprint(m["status"]), "true") {
			return true
		}
	}
	return false
}
