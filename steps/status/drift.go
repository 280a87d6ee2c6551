package status

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/stepper-cd/stepper/internal/desiredstate"
	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/helm"
	"github.com/stepper-cd/stepper/internal/release"
)

// Releases reads a Helm release's revisions: internal/helm.
type Releases interface {
	History(ctx context.Context, cl helm.Cluster, name, namespace string) ([]*helm.ReleaseResult, error)
}

// Workloads tells whether a release's objects are ready, watching them for
// up to timeout: internal/kube's Waiter for namespace (where objects that
// name none live).
type Workloads interface {
	Wait(ctx context.Context, namespace string, objects []*unstructured.Unstructured, timeout time.Duration) error
}

// drift reads what the cluster runs for the app: the Helm release named
// after it in its namespace (the environment's name when the desired
// state names none), its newest revision, its images and whether its
// workloads are ready, against the desired release.
func (s *Step) drift(ctx context.Context, job Job, cell *Cell, a desiredstate.App) error {
	ns := a.Namespace
	if ns == "" {
		ns = cell.Env
	}
	d := &Drift{Namespace: ns}
	cell.Drift = d
	hist, err := s.Releases.History(ctx, helm.Cluster{Kubeconfig: job.Kubeconfig, Context: job.KubeContext}, cell.App, ns)
	if err != nil {
		return err
	}
	if len(hist) == 0 {
		d.Missing, d.NotReady = true, "no Helm release "+cell.App+" in namespace "+ns
		return nil
	}
	cur := hist[len(hist)-1]
	d.Revision, d.Status, d.Updated, d.ChartVersion = cur.Revision, cur.Status, cur.Updated.UTC(), cur.ChartVersion
	objects, err := decodeManifest(cur.Manifest)
	if err != nil {
		d.NotReady = "its manifest does not parse: " + err.Error()
		return nil
	}
	running := imagesOf(objects)
	d.Image = strings.Join(running, " ")
	if want := cell.Release.Digest; want != "" && !strings.Contains(d.Image, want) {
		d.Differs = append(d.Differs, "image")
	}
	if want := cell.Release.ChartVersion; want != "" && d.ChartVersion != want {
		d.Differs = append(d.Differs, "chart")
	}
	if d.Status != "deployed" {
		d.Differs = append(d.Differs, "status")
		d.NotReady = "the release is " + d.Status
		return nil
	}
	if s.Workloads == nil {
		d.Ready = true
		return nil
	}
	switch err := s.Workloads.Wait(ctx, ns, objects, job.ReadyWait); {
	case err == nil:
		d.Ready = true
	case exit.ClassOf(err) == exit.Failed && ctx.Err() == nil:
		// The whole diagnosis is in the log; the board keeps its first line.
		d.NotReady, _, _ = strings.Cut(err.Error(), "\n")
	default:
		return err
	}
	return nil
}

// decodeManifest splits a release manifest into objects.
func decodeManifest(manifest string) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(manifest), 4096)
	var out []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, err
		}
		if len(m) > 0 {
			out = append(out, &unstructured.Unstructured{Object: m})
		}
	}
}

// imagesOf are the container images of the objects' pod templates, each
// once, in the order met.
func imagesOf(objects []*unstructured.Unstructured) []string {
	var out []string
	for _, o := range objects {
		for _, field := range []string{"containers", "initContainers"} {
			cs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", field)
			for _, c := range cs {
				m, _ := c.(map[string]any)
				img, _ := m["image"].(string)
				if _, err := release.ParseRef(img); err == nil && !slices.Contains(out, img) {
					out = append(out, img)
				}
			}
		}
	}
	return out
}
