package local

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
)

// A docker-registry that cannot listen on its address exits, while another
// server may answer there: another test binary's registry or fault proxy.
// Its answer must not pass for the registry's own, or the platform uses a
// server that goes away with the other test, refusing every request after.
func TestWaitDistributionTrustsOnlyItsOwnListener(t *testing.T) {
	if _, err := Tool("docker-registry"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	other := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(other.Close)
	taken := strings.TrimPrefix(other.URL, "http://")

	proc, err := startDistribution(t.TempDir(), taken, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proc.Stop)
	addr, err := waitDistribution(t.Context(), proc, 0, func(addr string) func(context.Context) error {
		return httpOK(http.DefaultClient, "http://"+addr+"/v2/")
	})
	if err == nil {
		t.Fatalf("docker-registry, which could not listen on %s, was taken for ready at %s", taken, addr)
	}
	if !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("error = %v, want docker-registry's own reason, address already in use", err)
	}
}
