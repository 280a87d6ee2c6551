package testenv_test

import (
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/stepper-cd/stepper/internal/testenv"
)

// Flux HelmRelease objects that stepper edits are checked by a server-side
// dry-run apply against the real CRD schema; this proves the platform can
// do that check.
func TestFluxHelmReleaseDryRun(t *testing.T) {
	crds := testenv.RequireFluxCRDDir(t)
	kube := platform.Get(t).Kube
	ctx := context.Background()
	if err := kube.InstallCRDs(ctx, crds); err != nil {
		t.Fatal(err)
	}
	hr := schema.GroupVersionResource{Group: "helm.toolkit.fluxcd.io", Version: "v2", Resource: "helmreleases"}
	apply := func(body string) error {
		var obj unstructured.Unstructured
		if err := obj.UnmarshalJSON([]byte(body)); err != nil {
			t.Fatal(err)
		}
		return kube.DryRunApply(ctx, hr, &obj)
	}
	valid := `{"apiVersion":"helm.toolkit.fluxcd.io/v2","kind":"HelmRelease","metadata":{"name":"api","namespace":"default"},
"spec":{"interval":"5m","chart":{"spec":{"chart":"api","version":"1.4.2","sourceRef":{"kind":"HelmRepository","name":"charts"}}},
"values":{"image":{"repository":"127.0.0.1:5000/shop/api","tag":"master-0123abcd"}}}}`
	if err := apply(valid); err != nil {
		t.Fatalf("a valid HelmRelease was rejected: %v", err)
	}
	invalid := strings.Replace(valid, `"kind":"HelmRepository"`, `"kind":"Deployment"`, 1)
	if err := apply(invalid); err == nil || !strings.Contains(err.Error(), "sourceRef.kind") {
		t.Fatalf("an invalid sourceRef.kind was accepted or rejected for another reason: %v", err)
	}
}
