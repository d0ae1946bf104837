package main

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// scrape gets url with the bearer token (none when empty) and returns the
// status and body.
func scrape(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// wantScrape checks that url answers token with status, and with metrics
// when status is 200.
func wantScrape(t *testing.T, what, url, token string, status int) {
	t.Helper()
	got, body := scrape(t, url, token)
	if got != status {
		t.Errorf("%s: got %d, want %d", what, got, status)
		return
	}
	if status == http.StatusOK && !strings.Contains(body, "herald_messages_published_total") {
		t.Errorf("%s: got 200 without Herald's metrics:\n%.300s", what, body)
	}
	if status != http.StatusOK && strings.Contains(body, "herald_") {
		t.Errorf("%s: got %d with metrics in the body", what, got)
	}
}

// By default /metrics is on the public listener, where its labels (every
// source ID, that is every ingest URL) are not for anyone: it takes the
// admin token.
func TestMetricsNeedTheAdminTokenByDefault(t *testing.T) {
	t.Parallel()
	ts := setup(t)
	// A scraper not yet given the token is refused, but guesses nothing,
	// so it never locks its address out.
	for range 30 {
		wantScrape(t, "no token", ts.URL+"/metrics", "", http.StatusUnauthorized)
	}
	wantScrape(t, "wrong token", ts.URL+"/metrics", "nope", http.StatusUnauthorized)
	wantScrape(t, "admin token", ts.URL+"/metrics", ts.Token, http.StatusOK)
	if logs := ts.Logs.String(); strings.Contains(logs, "nope") {
		t.Errorf("logs contain a token tried on /metrics")
	}
}

// --metrics-token (or HERALD_METRICS_TOKEN) is what /metrics takes
// instead, so the scraper does not hold the admin token.
func TestMetricsToken(t *testing.T) {
	t.Parallel()
	ts := setup(t, "--metrics-token", "scrape-secret")
	wantScrape(t, "no token", ts.URL+"/metrics", "", http.StatusUnauthorized)
	wantScrape(t, "metrics token", ts.URL+"/metrics", "scrape-secret", http.StatusOK)
	wantScrape(t, "admin token", ts.URL+"/metrics", ts.Token, http.StatusUnauthorized)

	var cfg serveConfig
	if err := parseFlags(flagSet(&cfg), nil, envOf(map[string]string{"HERALD_METRICS_TOKEN": "from-env", "HERALD_METRICS_ADDR": "127.0.0.1:9100"})); err != nil {
		t.Fatal(err)
	}
	if cfg.metricsToken != "from-env" || cfg.metricsAddr != "127.0.0.1:9100" {
		t.Errorf("HERALD_METRICS_TOKEN and HERALD_METRICS_ADDR: got %q and %q, want them as the flags' values", cfg.metricsToken, cfg.metricsAddr)
	}
}

// --metrics-addr serves /metrics on a listener of its own, open unless
// --metrics-token is set, and no longer on the public one.
func TestMetricsAddr(t *testing.T) {
	t.Parallel()
	ts := setup(t, "--metrics-addr", "127.0.0.1:0")
	private := "http://" + ts.metricsAddr + "/metrics"
	wantScrape(t, "private listener, no token", private, "", http.StatusOK)
	wantScrape(t, "public listener, admin token", ts.URL+"/metrics", ts.Token, http.StatusNotFound)
	if code, _ := scrape(t, "http://"+ts.metricsAddr+"/api/v1/health", ""); code != http.StatusNotFound {
		t.Errorf("the API on the metrics listener: got %d, want 404 (metrics only)", code)
	}

	guarded := setup(t, "--metrics-addr", "127.0.0.1:0", "--metrics-token", "scrape-secret")
	private = "http://" + guarded.metricsAddr + "/metrics"
	wantScrape(t, "private listener with --metrics-token, no token", private, "", http.StatusUnauthorized)
	wantScrape(t, "private listener with --metrics-token, the token", private, "scrape-secret", http.StatusOK)
}

// The metrics listener stops with the server: its port is free again.
func TestMetricsListenerStops(t *testing.T) {
	t.Parallel()
	ts := setup(t, "--metrics-addr", "127.0.0.1:0")
	addr := ts.metricsAddr
	if err := ts.stop(); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on the metrics address after stop: %v, want it free", err)
	}
	ln.Close()
}
