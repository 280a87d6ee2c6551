package local

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// Labels that make kwok fail a pod, from kwok's pod/chaos stages. Put one
// with the value "true" on a pod (or a Deployment's pod template):
const (
	// ChaosFailBeforeReady fails a pending pod (phase Failed, an init
	// container exit code 1) without it ever becoming Ready, so a rollout
	// never completes. A ReplicaSet replaces failed pods again and again;
	// the controller manager collects all but the last 100 terminated pods.
	ChaosFailBeforeReady = "pod-init-container-running-failed.stage.kwok.x-k8s.io"
	// ChaosFailAfterReady lets a pod become Ready and fails its containers
	// about one to two seconds later (phase Failed, exit code 1).
	ChaosFailAfterReady = "pod-container-running-failed.stage.kwok.x-k8s.io"
)

// kwokStageDirs are the kwok stage sets the platform loads, relative to
// kustomize/stage in kwok's source.
var kwokStageDirs = []string{
	"node/fast",      // a new node becomes Ready at once
	"node/heartbeat", // Ready nodes keep reporting status
	"pod/fast",       // pods become Ready at once; Job pods complete; deleted pods go away
	"pod/chaos",      // the Chaos* labels make pods fail
}

// kwokManagedAnnotation marks the nodes this platform's kwok simulates.
const kwokManagedAnnotation = "kwok.x-k8s.io/node"

// kwokStageFiles returns the stage YAML files of kwokStageDirs for the
// kwok binary's own version: the copies embedded for the version stepper
// pins (assets/kwok), written into dir, or else the module source of that
// version, found in the Go module cache (and fetched through the module
// proxy when missing).
func kwokStageFiles(ctx context.Context, kwokBin, dir string) ([]string, error) {
	version, err := kwokVersion(ctx, kwokBin)
	if err != nil {
		return nil, fmt.Errorf("kwok stages: %w", err)
	}
	if files, err := embeddedStages(version, dir); err != nil || files != nil {
		return files, err
	}
	goBin, err := Tool("go")
	if err != nil {
		return nil, fmt.Errorf("kwok stages: %w", err)
	}
	module := "sigs.k8s.io/kwok@" + version
	cmd := exec.CommandContext(ctx, goBin, "mod", "download", "-json", module)
	cmd.Dir = os.TempDir() // outside any module: only the module cache matters
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("kwok stages: go mod download %s: %w: %s", module, err, out)
	}
	var mod struct{ Dir, Error string }
	if err := json.Unmarshal(out, &mod); err != nil {
		return nil, fmt.Errorf("kwok stages: read go mod download output: %w", err)
	}
	if mod.Error != "" || mod.Dir == "" {
		return nil, fmt.Errorf("kwok stages: go mod download %s: %s", module, mod.Error)
	}
	var files []string
	for _, dir := range kwokStageDirs {
		matches, err := filepath.Glob(filepath.Join(mod.Dir, "kustomize", "stage", dir, "*.yaml"))
		if err != nil {
			return nil, fmt.Errorf("kwok stages: %w", err)
		}
		matches = slices.DeleteFunc(matches, func(path string) bool {
			return filepath.Base(path) == "kustomization.yaml"
		})
		if len(matches) == 0 {
			return nil, fmt.Errorf("kwok stages: no stage files in %s", filepath.Join(mod.Dir, "kustomize", "stage", dir))
		}
		files = append(files, matches...)
	}
	return files, nil
}

// embeddedStages writes the embedded stage files of version into dir and
// returns them; none when no copy of version is embedded.
func embeddedStages(version, dir string) ([]string, error) {
	root := "assets/kwok/" + version
	if _, err := fs.Stat(assets, root); err != nil {
		return nil, nil
	}
	var files []string
	for _, d := range kwokStageDirs {
		entries, err := fs.ReadDir(assets, root+"/"+d)
		if err != nil || len(entries) == 0 {
			return nil, fmt.Errorf("kwok stages: no embedded stage files in %s/%s", root, d)
		}
		for _, e := range entries {
			data, err := assets.ReadFile(root + "/" + d + "/" + e.Name())
			if err != nil {
				return nil, fmt.Errorf("kwok stages: %w", err)
			}
			name := filepath.Join(dir, strings.ReplaceAll(d, "/", "-")+"-"+e.Name())
			if err := os.WriteFile(name, data, 0o644); err != nil {
				return nil, fmt.Errorf("kwok stages: %w", err)
			}
			files = append(files, name)
		}
	}
	return files, nil
}

// kwokVersion asks the binary for its version: "kwok version v0.8.0 ...".
func kwokVersion(ctx context.Context, kwokBin string) (string, error) {
	out, err := exec.CommandContext(ctx, kwokBin, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("kwok --version: %w", err)
	}
	fields := strings.Fields(string(out))
	if len(fields) < 3 || fields[1] != "version" {
		return "", fmt.Errorf("kwok --version: unexpected output %q", out)
	}
	return "v" + strings.TrimPrefix(fields[2], "v"), nil
}

// kwokArgs make kwok simulate the nodes carrying kwokManagedAnnotation=fake
// with the given stages.
func kwokArgs(kubeconfig string, stages []string) []string {
	return []string{
		"--kubeconfig=" + kubeconfig,
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=" + kwokManagedAnnotation + "=fake",
		"--config=" + strings.Join(stages, ","),
	}
}

// kwokEnv gives kwok a private HOME: it also reads ~/.kwok/kwok.yaml, and a
// developer's own kwok configuration must stay out.
func kwokEnv(dir string) ([]string, error) {
	home := filepath.Join(dir, "kwok-home")
	if err := os.MkdirAll(home, 0o755); err != nil {
		return nil, fmt.Errorf("kwok home: %w", err)
	}
	return append(childEnv("HOME", "KUBECONFIG"), "HOME="+home), nil
}

// createNodes registers the simulated nodes. The API server's
// TaintNodesByCondition admission adds the not-ready taint to every new
// node and only the node lifecycle controller, which this platform does not
// run, would lift it; so it is lifted here.
func createNodes(ctx context.Context, client kubernetes.Interface, nodes []Node) error {
	for _, n := range nodes {
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{
				Name:        n.Name,
				Annotations: map[string]string{kwokManagedAnnotation: "fake"},
				Labels: map[string]string{
					"type":                        "kwok",
					"kubernetes.io/hostname":      n.Name,
					"kubernetes.io/os":            "linux",
					"kubernetes.io/arch":          "amd64",
					"topology.kubernetes.io/zone": n.Zone,
				},
			},
		}
		if _, err := client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create node %s: %w", n.Name, err)
		}
		untaint := []byte(`{"spec":{"taints":null}}`)
		if _, err := client.CoreV1().Nodes().Patch(ctx, n.Name, types.MergePatchType, untaint, metav1.PatchOptions{}); err != nil {
			return fmt.Errorf("node %s: remove the not-ready taint: %w", n.Name, err)
		}
	}
	return nil
}

// nodesReady is a readiness check: kwok reports every node Ready.
func nodesReady(client kubernetes.Interface, nodes []Node) func(context.Context) error {
	return func(ctx context.Context) error {
		for _, n := range nodes {
			node, err := client.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
			if err != nil {
				return fmt.Errorf("node %s: %w", n.Name, err)
			}
			if !nodeReady(node) {
				return fmt.Errorf("node %s is not Ready yet", n.Name)
			}
		}
		return nil
	}
}

func nodeReady(node *corev1.Node) bool {
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// kwokStageTimeout bounds locating the stage files; downloading kwok's
// module source the first time may take a while.
const kwokStageTimeout = 2 * time.Minute
