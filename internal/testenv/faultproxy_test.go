package testenv_test

import (
	"errors"
	"io"
	"net/http"
	"syscall"
	"testing"

	"github.com/stepper-cd/stepper/internal/testenv"
)

func TestFaultProxy(t *testing.T) {
	p := platform.Get(t)
	proxy, err := testenv.StartFaultProxy(p.Registry.Host, testenv.FaultOptions{Rate: 0.5, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Stop()

	var ok, failed, reset int
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	for range 60 {
		resp, err := client.Get("http://" + proxy.Host + "/v2/")
		if err != nil {
			if !errors.Is(err, io.EOF) && !isReset(err) {
				t.Fatalf("GET through the proxy: %v (want a reset)", err)
			}
			reset++
			continue
		}
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK:
			ok++
		case http.StatusInternalServerError:
			failed++
		case http.StatusTooManyRequests:
			if resp.Header.Get("Retry-After") != "0" {
				t.Errorf("429 without Retry-After: 0: %v", resp.Header)
			}
			failed++
		default:
			t.Fatalf("unexpected status %s", resp.Status)
		}
	}
	stats := proxy.Stats()
	if stats.Requests != 60 || ok == 0 || failed == 0 || reset == 0 {
		t.Fatalf("ok=%d failed=%d reset=%d stats=%+v; want every kind", ok, failed, reset, stats)
	}
	if got := stats.Injected[testenv.FaultReset]; got != reset {
		t.Errorf("proxy counted %d resets, the client saw %d", got, reset)
	}
}

func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET)
}
