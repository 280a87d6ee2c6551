// Command app stands in for a deployed service in stepper's smoke-test tests
// and demo. It listens on 127.0.0.1 only.
//
//	/healthz   answers HEALTH_STATUS (default 200)
//	/readyz    answers 200
//	/api/ping  calls DOWNSTREAM_URL, handing on the X-B3-* headers unless
//	           DROP_B3 is true, and answers {"status":"ok","downstream":CODE}
//	/debug/ua  the User-Agent of the latest other request, and all seen:
//	           {"last":"...","seen":["..."]}
//
// CRASH=true makes it exit 1 at start; SIGTERM makes it exit 0. Every setting
// is a flag too: -port, -downstream-url, -health-status, -drop-b3, -crash.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	port := flag.Int("port", envInt("PORT", 8080), "port on 127.0.0.1 (PORT)")
	downstream := flag.String("downstream-url", os.Getenv("DOWNSTREAM_URL"), "URL /api/ping calls (DOWNSTREAM_URL)")
	health := flag.Int("health-status", envInt("HEALTH_STATUS", http.StatusOK), "status of /healthz (HEALTH_STATUS)")
	dropB3 := flag.Bool("drop-b3", envBool("DROP_B3"), "do not hand X-B3-* headers on (DROP_B3)")
	crash := flag.Bool("crash", envBool("CRASH"), "exit 1 at start (CRASH)")
	host := flag.String("host", envString("HOST", "127.0.0.1"), "address to listen on; 0.0.0.0 in a container (HOST)")
	flag.Parse()
	if *crash {
		fmt.Fprintln(os.Stderr, "app: CRASH is set, exiting")
		os.Exit(1)
	}
	a := &app{downstream: *downstream, health: *health, dropB3: *dropB3, client: &http.Client{Timeout: 5 * time.Second}}
	if err := a.serve(net.JoinHostPort(*host, strconv.Itoa(*port))); err != nil {
		fmt.Fprintln(os.Stderr, "app:", err)
		os.Exit(2)
	}
}

type app struct {
	downstream string
	health     int
	dropB3     bool
	client     *http.Client

	mu   sync.Mutex
	last string
	seen []string
}

// serve answers on addr until SIGTERM or SIGINT, then shuts down cleanly.
func (a *app) serve(addr string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(a.health)
		fmt.Fprintf(w, "health status %d\n", a.health)
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ready") })
	mux.HandleFunc("/api/ping", a.ping)
	mux.HandleFunc("/debug/ua", a.userAgents)
	srv := &http.Server{Addr: addr, Handler: a.recordUserAgent(mux), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	fmt.Fprintf(os.Stderr, "app: listening on %s\n", addr)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	fmt.Fprintln(os.Stderr, "app: stopped")
	return nil
}

func (a *app) ping(w http.ResponseWriter, r *http.Request) {
	out := struct {
		Status     string `json:"status"`
		Downstream int    `json:"downstream"`
		Error      string `json:"error,omitempty"`
	}{Status: "ok"}
	code := http.StatusOK
	if a.downstream != "" {
		req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, a.downstream, nil)
		if err == nil {
			for k, v := range r.Header {
				if strings.HasPrefix(k, "X-B3-") && !a.dropB3 { // keys arrive canonical
					req.Header[k] = v
				}
			}
			var resp *http.Response
			if resp, err = a.client.Do(req); err == nil {
				resp.Body.Close()
				out.Downstream = resp.StatusCode
			}
		}
		if err != nil {
			out.Status, out.Error, code = "error", err.Error(), http.StatusBadGateway
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(out)
}

// recordUserAgent remembers who asked, except for /debug/ua itself.
func (a *app) recordUserAgent(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/debug/ua" {
			ua := r.UserAgent()
			a.mu.Lock()
			a.last = ua
			if !slices.Contains(a.seen, ua) {
				a.seen = append(a.seen, ua)
			}
			a.mu.Unlock()
		}
		next.ServeHTTP(w, r)
	})
}

func (a *app) userAgents(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	out := struct {
		Last string   `json:"last"`
		Seen []string `json:"seen"`
	}{a.last, slices.Clone(a.seen)}
	a.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

func envInt(name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		badEnv(name, v)
	}
	return n
}

func envBool(name string) bool {
	v := os.Getenv(name)
	if v == "" {
		return false
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		badEnv(name, v)
	}
	return b
}

func badEnv(name, v string) {
	fmt.Fprintf(os.Stderr, "app: %s=%q: not a valid value\n", name, v)
	os.Exit(2)
}

func envString(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
