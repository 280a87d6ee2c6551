package local

import (
	"context"
	"fmt"
	"net/http"
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
		add("desired-state repository", s.Clone.Repo)
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
				err = get(ctx, client, "http://"+p.Where+"/v2/")
			case "git server":
				err = reachable(ctx, client, p.Where+"/")
			case "desired-state repository":
				err = get(ctx, client, p.Where+"/info/refs?service=git-upload-pack")
			case "chart repository":
				err = get(ctx, client, p.Where+"/index.yaml")
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

func get(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

// reachable is an HTTP server that answers anything at all.
func reachable(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
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
