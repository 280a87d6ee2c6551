package helm

import (
	"context"
	"io"
	"net"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	helmregistry "helm.sh/helm/v4/pkg/registry"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/stepper-cd/stepper/internal/exit"
)

// ociRepo splits ref into the registry host and the repository reference
// Helm's registry client takes: host/path/name, without oci://.
func ociRepo(ref ChartRef) (host, repo string) {
	repo = strings.TrimPrefix(ref.Repo, "oci://") + "/" + ref.Name
	host, _, _ = strings.Cut(repo, "/")
	return host, repo
}

// ociTags lists the chart's versions from the registry's tags, newest first.
func (c *Client) ociTags(ctx context.Context, ref ChartRef) ([]string, error) {
	host, repo := ociRepo(ref)
	rc, err := c.registryClient(host)
	if err != nil {
		return nil, err
	}
	tags, err := inBackground(ctx, func() ([]string, error) { return rc.Tags(repo) })
	if err != nil {
		return nil, classifyOCI("list versions of chart oci://"+repo, host, err)
	}
	return tags, nil
}

// pullOCI downloads the chart package ref names (ref.Version exact).
func (c *Client) pullOCI(ctx context.Context, ref ChartRef) ([]byte, error) {
	host, repo := ociRepo(ref)
	rc, err := c.registryClient(host)
	if err != nil {
		return nil, err
	}
	// OCI tags cannot hold "+", so Helm pushes 1.0.0+build as 1.0.0_build.
	tagged := repo + ":" + strings.ReplaceAll(ref.Version, "+", "_")
	res, err := inBackground(ctx, func() (*helmregistry.PullResult, error) {
		return rc.Pull(tagged, helmregistry.PullOptWithChart(true))
	})
	if err != nil {
		return nil, classifyOCI("pull chart oci://"+tagged, host, err)
	}
	if res.Chart == nil || len(res.Chart.Data) == 0 {
		return nil, exit.Usagef("pull chart oci://%s: the artifact holds no Helm chart", tagged)
	}
	return res.Chart.Data, nil
}

// registryClient returns Helm's registry client for host: one speaking
// plain HTTP for loopback hosts and with Options.PlainHTTP, one speaking
// HTTPS otherwise. Each is made once; its token cache lives as long as
// the Client.
func (c *Client) registryClient(host string) (*helmregistry.Client, error) {
	plain := c.opts.PlainHTTP || isLoopback(host)
	c.mu.Lock()
	defer c.mu.Unlock()
	if rc, ok := c.registry[plain]; ok {
		return rc, nil
	}
	authorizer := auth.Client{Client: c.http, Cache: auth.NewCache()}
	if kc := c.opts.Keychain; kc != nil {
		authorizer.Credential = keychainCredential(kc)
	}
	opts := []helmregistry.ClientOption{
		helmregistry.ClientOptHTTPClient(c.http),
		helmregistry.ClientOptAuthorizer(authorizer),
		helmregistry.ClientOptWriter(io.Discard),
	}
	if plain {
		opts = append(opts, helmregistry.ClientOptPlainHTTP())
	}
	rc, err := helmregistry.NewClient(opts...)
	if err != nil {
		return nil, exit.Infraf("helm registry client: %w", err)
	}
	c.registry[plain] = rc
	return rc, nil
}

// keychainCredential adapts stepper's keychain to the ORAS client Helm
// uses underneath.
func keychainCredential(kc authn.Keychain) auth.CredentialFunc {
	return func(_ context.Context, hostport string) (auth.Credential, error) {
		a, err := kc.Resolve(hostResource(hostport))
		if err != nil || a == authn.Anonymous {
			return auth.EmptyCredential, err
		}
		cfg, err := a.Authorization()
		if err != nil {
			return auth.EmptyCredential, err
		}
		return auth.Credential{
			Username:     cfg.Username,
			Password:     cfg.Password,
			RefreshToken: cfg.IdentityToken,
			AccessToken:  cfg.RegistryToken,
		}, nil
	}
}

func isLoopback(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// inBackground runs fn and returns its result, or ctx's error as soon as
// ctx is done. Helm's registry client takes no context; an abandoned call
// ends by itself within Options.Timeout.
func inBackground[T any](ctx context.Context, fn func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := fn()
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}
