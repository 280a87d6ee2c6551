package crosscheck_test

import (
	"context"
	"encoding/json"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	ds "github.com/stepper-cd/stepper/internal/desiredstate"
	"github.com/stepper-cd/stepper/internal/testenv"
)

// Values stepper writes into a HelmRelease reach Kubernetes with the type
// the user meant: applied to a real kube-apiserver with Flux's CRD and read
// back, "1.10" is still "1.10", "010" still "010", ".inf" a string, 3 an
// integer and true a bool.
func TestFluxValuesKeepTheirTypeInKubernetes(t *testing.T) {
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
	src := `# the typing check's release
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: typing
  namespace: typing
spec:
  interval: 5m
  chart:
    spec:
      chart: service
      version: 1.0.0 # pinned
      sourceRef: {kind: HelmRepository, name: charts}
  values:
    weight: 1.5 # replaced by "1.10"
    image: &img
      repository: r.example/api
      tag: "1.0"
`
	doc, err := ds.Open(ds.Flux, map[string][]byte{"hr.yaml": []byte(src)})
	if err != nil {
		t.Fatal(err)
	}
	set := map[string]string{"config.ratio": "1.10", "config.code": "010", "config.limit": ".inf", "config.count": "3",
		"config.enabled": "true", "config.price": "$5", "weight": "1.10"}
	if changed, err := doc.SetValues("typing", set); err != nil || !changed {
		t.Fatalf("set values: %v %v", changed, err)
	}
	out := doc.Files()["hr.yaml"]
	// kubectl's YAML reading.
	body, err := yaml.YAMLToJSON(out)
	if err != nil {
		t.Fatalf("the edited file is not what kubectl can send: %v\n%s", err, out)
	}
	ensureNamespace(t, ctx, client, "typing")
	force := true
	res := client.Resource(helmReleases).Namespace("typing")
	if _, err := res.Patch(ctx, "typing", types.ApplyPatchType, body, metav1.PatchOptions{FieldManager: "stepper", Force: &force}); err != nil {
		t.Fatalf("apply rejected: %v\n%s", err, out)
	}
	got, err := res.Get(ctx, "typing", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	values, _ := got.Object["spec"].(map[string]any)["values"].(map[string]any)
	config, _ := values["config"].(map[string]any)
	for key, want := range map[string]string{"ratio": `"1.10"`, "code": `"010"`, "limit": `".inf"`, "count": `3`, "enabled": `true`, "price": `"$5"`} {
		if b, _ := json.Marshal(config[key]); string(b) != want {
			t.Errorf("spec.values.config.%s is stored as %s, want %s", key, b, want)
		}
	}
	if b, _ := json.Marshal(values["weight"]); string(b) != `"1.10"` {
		t.Errorf("spec.values.weight is stored as %s, want \"1.10\"", b)
	}
}
