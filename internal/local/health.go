package local

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// Check is one part of a running clone and whether it answers.
type Check struct {
	Part   string `json:"part"`
	Where  string `json:"where"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

// Parts lists the parts of a clone without asking them anything.
func Parts(s *State) []Check {
	var parts []Check
	add := func(part, where string) {
		if where != "" {
			parts = append(parts, Check{Part: part, Where: where})
		}
	}
	add("registry (referrers API)", s.Env["STEPPER_LOCAL_REFERRERS_REGISTRY"])
	add("registry (docker-registry 2.8)", s.Env["STEPPER_LOCAL_REGISTRY"])
	add("git server", s.Env["STEPPER_LOCAL_GIT_URL"])
	if s.Clone != nil {
		repos := s.Clone.Repos
		if len(repos) == 0 { // a state written before Repos
			repos = []string{s.Clone.Repo}
		}
		for _, r := range repos {
			add("desired-state repository", r)
		}
		add("chart repository", s.Clone.Charts)
	}
	add("kubernetes", s.Env["KUBECONFIG"])
	return parts
}

// Health asks every part of the clone whether it answers, all at once.
func Health(ctx context.Context, s *State) []Check {
	parts := Parts(s)
	client := &http.Client{Timeout: 5 * time.Second}
	var wg sync.WaitGroup
	for i := range parts {
		p := &parts[i]
		wg.Go(func() {
			var err error
			switch p.Part {
			case "registry (referrers API)", "registry (docker-registry 2.8)":
				err = httpOK(client, "http://"+p.Where+"/v2/")(ctx)
			case "git server":
				// It serves repositories only: that it listens is its
				// health; the repository's row asks git itself.
				err = listening(ctx, p.Where)
			case "desired-state repository":
				err = httpOK(client, p.Where+"/info/refs?service=git-upload-pack")(ctx)
			case "chart repository":
				err = httpOK(client, p.Where+"/index.yaml")(ctx)
			case "kubernetes":
				err = kubeReady(ctx, p.Where)
			}
			p.OK = err == nil
			if err != nil {
				p.Detail = err.Error()
			} else {
				p.Detail = "answers"
			}
		})
	}
	wg.Wait()
	return parts
}

// listening tells whether something accepts connections at url's host.
func listening(ctx context.Context, rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return err
	}
	return conn.Close()
}

// kubeReady asks the API server of kubeconfig's current context /readyz.
func kubeReady(ctx context.Context, kubeconfig string) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
	}
	cfg.Timeout = 5 * time.Second
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	body, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	if err != nil {
		return fmt.Errorf("%s/readyz: %w", cfg.Host, err)
	}
	if string(body) != "ok" {
		return fmt.Errorf("%s/readyz: %s", cfg.Host, body)
	}
	return nil
}
