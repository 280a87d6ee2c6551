package local

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Node is a simulated node.
type Node struct {
	Name string
	// Zone becomes the topology.kubernetes.io/zone label.
	Zone string
}

// KubeOptions shape the control plane.
type KubeOptions struct {
	// Nodes to simulate; DefaultNodes when empty.
	Nodes []Node
	// Progress, when set, hears each step of the start.
	Progress func(format string, args ...any)
}

// DefaultNodes are two nodes in two zones, enough for spread constraints.
func DefaultNodes() []Node {
	return []Node{{Name: "kwok-node-a", Zone: "zone-a"}, {Name: "kwok-node-b", Zone: "zone-b"}}
}

// Kube is a running Kubernetes control plane whose nodes and pods kwok
// simulates: no container ever runs, but Deployments roll out, pods are
// scheduled across zones and turn Ready, or fail (see ChaosFailBeforeReady).
//
// The node lifecycle controller does not run: kwok's heartbeats are too
// sparse for its grace period, and simulated nodes never die.
type Kube struct {
	// Kubeconfig is the path of a kubeconfig for a cluster admin (token user).
	Kubeconfig string
	// Server is the API server URL, "https://127.0.0.1:port".
	Server string
	// Nodes are the simulated nodes.
	Nodes []Node

	progress func(string, ...any)
	dir      string
	bins     kubeBinaries
	pki      *kubePKI
	procs    []*process // in start order
}

// serviceCIDR is the Service IP range; its first address belongs to the
// kubernetes Service, which the serving certificate must name.
const serviceCIDR = "10.96.0.0/16"

var kubernetesServiceIP = net.IPv4(10, 96, 0, 1)

// StartKube starts etcd and kube-apiserver, then kube-controller-manager,
// kube-scheduler and kwok, registers the nodes, and returns once they are
// Ready and the default service account exists. Data and one log per
// component go under dir.
func StartKube(ctx context.Context, dir string, opts KubeOptions) (*Kube, error) {
	k, err := newKube(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("start kube: %w", err)
	}
	if err := k.boot(ctx); err != nil {
		k.Stop()
		return nil, fmt.Errorf("start kube: %w", err)
	}
	return k, nil
}

// newKube prepares everything that needs no running process: binaries,
// keys, ports and the kubeconfig.
func newKube(dir string, opts KubeOptions) (*Kube, error) {
	bins, err := kubeTools()
	if err != nil {
		return nil, err
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	pki, err := newKubePKI(filepath.Join(dir, "pki"), kubernetesServiceIP)
	if err != nil {
		return nil, err
	}
	k := &Kube{
		progress:   opts.Progress,
		Kubeconfig: filepath.Join(dir, "kubeconfig"),
		Nodes:      opts.Nodes,
		dir:        dir,
		bins:       bins,
		pki:        pki,
	}
	if len(k.Nodes) == 0 {
		k.Nodes = DefaultNodes()
	}
	return k, nil
}

func (k *Kube) boot(ctx context.Context) error {
	stages := goFunc(func() ([]string, error) {
		ctx, cancel := context.WithTimeout(ctx, kwokStageTimeout)
		defer cancel()
		return kwokStageFiles(ctx, k.bins.kwok, k.dir)
	})
	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	etcdClient, etcdPeer, apiPort := ports[0], ports[1], ports[2]
	k.Server = "https://127.0.0.1:" + strconv.Itoa(apiPort)
	if err := k.writeKubeconfig(); err != nil {
		return err
	}

	// The API server waits for etcd by itself, so both start at once.
	etcd, err := k.run("etcd", k.bins.etcd, etcdArgs(k.dir, etcdClient, etcdPeer))
	if err != nil {
		return err
	}
	apiserver, err := k.run("kube-apiserver", k.bins.apiserver, apiserverArgs(k.dir, k.pki, etcdClient, apiPort))
	if err != nil {
		return err
	}
	k.say("kube: etcd and kube-apiserver started")
	if err := waitUntil(ctx, httpOK(k.readyzClient(), k.Server+"/readyz"), apiserver, etcd); err != nil {
		// The API server's log only says that etcd did not answer; why is
		// in etcd's.
		if !strings.Contains(err.Error(), etcd.logPath) {
			err = fmt.Errorf("%w\n%s", err, etcd.logTail(10))
		}
		return err
	}
	k.say("kube: the API server is ready at %s", k.Server)

	// kube-controller-manager gives up when the API server is not healthy
	// within ten seconds, so the rest starts only now.
	client, err := kubernetes.NewForConfig(k.RESTConfig())
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	stageFiles, err := stages()
	if err != nil {
		return err
	}
	controllers, err := k.run("kube-controller-manager", k.bins.controllerManager, controllerManagerArgs(k.Kubeconfig, k.pki))
	if err != nil {
		return err
	}
	if _, err := k.run("kube-scheduler", k.bins.scheduler, schedulerArgs(k.Kubeconfig)); err != nil {
		return err
	}
	kwokEnv, err := kwokEnv(k.dir)
	if err != nil {
		return err
	}
	kwok, err := k.run("kwok", k.bins.kwok, kwokArgs(k.Kubeconfig, stageFiles), kwokEnv...)
	if err != nil {
		return err
	}
	k.say("kube: kube-controller-manager, kube-scheduler and kwok started")
	if err := createNodes(ctx, client, k.Nodes); err != nil {
		return apiserver.failure(err)
	}
	if err := waitUntil(ctx, nodesReady(client, k.Nodes), kwok, k.procs...); err != nil {
		return err
	}
	k.say("kube: %d kwok nodes are Ready", len(k.Nodes))
	return waitUntil(ctx, defaultServiceAccount(client), controllers, k.procs...)
}

func (k *Kube) say(format string, args ...any) {
	if k.progress != nil {
		k.progress(format, args...)
	}
}

// run starts a component and remembers it for Stop. Without env it gets
// this process's environment minus KUBECONFIG: every component is told its
// kubeconfig by flag.
func (k *Kube) run(name, bin string, args []string, env ...string) (*process, error) {
	if env == nil {
		env = childEnv("KUBECONFIG")
	}
	p, err := startProcess(name, k.dir, bin, args, env)
	if err != nil {
		return nil, err
	}
	k.procs = append(k.procs, p)
	return p, nil
}

func etcdArgs(dir string, clientPort, peerPort int) []string {
	client := "http://127.0.0.1:" + strconv.Itoa(clientPort)
	peer := "http://127.0.0.1:" + strconv.Itoa(peerPort)
	return []string{
		"--name=default",
		"--data-dir=" + filepath.Join(dir, "etcd"),
		"--listen-client-urls=" + client,
		"--advertise-client-urls=" + client,
		"--listen-peer-urls=" + peer,
		"--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=default=" + peer,
		// Test data is thrown away; fsync only costs time.
		"--unsafe-no-fsync=true",
		"--log-level=warn",
	}
}

func apiserverArgs(dir string, pki *kubePKI, etcdPort, port int) []string {
	return []string{
		"--etcd-servers=http://127.0.0.1:" + strconv.Itoa(etcdPort),
		"--secure-port=" + strconv.Itoa(port),
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--cert-dir=" + filepath.Join(dir, "apiserver-certs"),
		"--tls-cert-file=" + pki.certFile,
		"--tls-private-key-file=" + pki.keyFile,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + pki.saKeyFile,
		"--service-account-signing-key-file=" + pki.saKeyFile,
		"--token-auth-file=" + pki.tokenFile,
		"--authorization-mode=RBAC",
		"--service-cluster-ip-range=" + serviceCIDR,
		// Charts with privileged containers are admitted, as on most clusters.
		"--allow-privileged=true",
		"--profiling=false",
	}
}

func controllerManagerArgs(kubeconfig string, pki *kubePKI) []string {
	return []string{
		"--kubeconfig=" + kubeconfig,
		"--leader-elect=false",
		// No health endpoint: no port to collide with a second platform.
		"--secure-port=0",
		"--service-account-private-key-file=" + pki.saKeyFile,
		"--root-ca-file=" + pki.caFile,
		"--controllers=*,-node-lifecycle-controller",
		// A Deployment whose pods fail keeps making new ones; keep few.
		"--terminated-pod-gc-threshold=100",
	}
}

func schedulerArgs(kubeconfig string) []string {
	return []string{
		"--kubeconfig=" + kubeconfig,
		"--leader-elect=false",
		"--secure-port=0",
	}
}

// defaultServiceAccount is a readiness check: the controller manager has
// created the default namespace's service account, without which pods are
// rejected.
func defaultServiceAccount(client kubernetes.Interface) func(context.Context) error {
	return func(ctx context.Context) error {
		_, err := client.CoreV1().ServiceAccounts(metav1.NamespaceDefault).Get(ctx, "default", metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("service account default/default: %w", err)
		}
		return nil
	}
}

// RESTConfig returns a client configuration for a cluster admin.
func (k *Kube) RESTConfig() *rest.Config {
	return &rest.Config{
		Host:            k.Server,
		BearerToken:     k.pki.adminToken,
		TLSClientConfig: rest.TLSClientConfig{CAData: k.pki.caPEM},
		QPS:             50,
		Burst:           100,
	}
}

// Stop ends every component, the last started first, so that none spends
// its shutdown retrying a dependency that is already gone; safe on a partly
// started control plane.
func (k *Kube) Stop() {
	if k == nil {
		return
	}
	for _, p := range slices.Backward(k.procs) {
		p.Stop()
	}
}

func (k *Kube) writeKubeconfig() error {
	const name = "stepper-testenv"
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[name] = &clientcmdapi.Cluster{Server: k.Server, CertificateAuthorityData: k.pki.caPEM}
	cfg.AuthInfos[k.pki.adminUser] = &clientcmdapi.AuthInfo{Token: k.pki.adminToken}
	cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: k.pki.adminUser, Namespace: metav1.NamespaceDefault}
	cfg.CurrentContext = name
	if err := clientcmd.WriteToFile(*cfg, k.Kubeconfig); err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	return nil
}

// readyzClient trusts the platform CA; /readyz is open to anonymous users.
func (k *Kube) readyzClient() *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(k.pki.caPEM)
	return &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
	}
}

// kubeBinaries are the control plane's executables.
type kubeBinaries struct {
	etcd, apiserver, controllerManager, scheduler, kwok string
}

func kubeTools() (kubeBinaries, error) {
	var b kubeBinaries
	for _, tool := range []struct {
		name string
		path *string
	}{
		{"etcd", &b.etcd},
		{"kube-apiserver", &b.apiserver},
		{"kube-controller-manager", &b.controllerManager},
		{"kube-scheduler", &b.scheduler},
		{"kwok", &b.kwok},
	} {
		path, err := Tool(tool.name)
		if err != nil {
			return b, err
		}
		*tool.path = path
	}
	return b, nil
}
