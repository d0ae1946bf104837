package main

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// --trusted-proxies takes a comma-separated list, may be repeated, and
// comes from HERALD_TRUSTED_PROXIES when not given.
func TestTrustedProxiesFlag(t *testing.T) {
	t.Parallel()
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")}
	for _, tt := range []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"one comma-separated flag", []string{"--trusted-proxies", "10.0.0.0/8, 127.0.0.1,::1"}, nil},
		{"repeated flag", []string{"--trusted-proxies", "10.0.0.0/8", "--trusted-proxies", "127.0.0.1/32,::1/128"}, nil},
		{"environment", nil, map[string]string{"HERALD_TRUSTED_PROXIES": "10.0.0.0/8,127.0.0.1/32,,::1"}},
		{"the flag wins", []string{"--trusted-proxies=10.1.2.3/8,127.0.0.1,::1"}, map[string]string{"HERALD_TRUSTED_PROXIES": "192.0.2.0/24"}},
	} {
		var cfg serveConfig
		if err := parseFlags(flagSet(&cfg), tt.args, envOf(tt.env)); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		got, err := parseTrustedProxies(cfg.trustedProxies)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%s: got %v, %v, want %v", tt.name, got, err, want)
		}
	}

	var cfg serveConfig
	if err := parseFlags(flagSet(&cfg), nil, envOf(nil)); err != nil {
		t.Fatal(err)
	}
	if got, err := parseTrustedProxies(cfg.trustedProxies); err != nil || len(got) != 0 {
		t.Errorf("default: got %v, %v, want no trusted proxies", got, err)
	}
}

// A value that is not a CIDR or an address stops the server from
// starting, naming the flag and the value.
func TestServeRefusesBadTrustedProxies(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"10.0.0.0/33", "proxy.internal", "10.0.0.1,10.0.0.256", "10.0.0.0/8;127.0.0.1", "*"} {
		err := startError(t, "--trusted-proxies", bad)
		if msg := err.Error(); !strings.Contains(msg, "--trusted-proxies") || !strings.Contains(msg, "want a CIDR") {
			t.Errorf("start with --trusted-proxies %q: error %q does not name the flag and what it wants", bad, msg)
		}
	}
}

// TestServeLimitsLoginsPerForwardedClient runs the real server behind a
// "proxy" on loopback: with --trusted-proxies naming it, one client's
// failed logins leave another client behind it free to log in.
func TestServeLimitsLoginsPerForwardedClient(t *testing.T) {
	t.Parallel()
	s := setup(t, "--trusted-proxies", "127.0.0.1,::1")
	const attacker, user = "198.51.100.7", "203.0.113.9"
	limited := false
	for i := 0; i < 50 && !limited; i++ {
		limited = postLogin(t, s.URL, attacker, fmt.Sprint("guess-", i)) == http.StatusTooManyRequests
	}
	if !limited {
		t.Fatalf("50 wrong tokens from one forwarded client: got no 429, want it limited")
	}
	if got := postLogin(t, s.URL, user, s.Token); got != http.StatusSeeOther {
		t.Errorf("right token from another forwarded client: got %d, want 303", got)
	}
	if !strings.Contains(s.Logs.String(), "client="+attacker) {
		t.Errorf("logs do not name the forwarded client %s of the failed logins", attacker)
	}
}

// postLogin posts token to the login form as a proxy forwarding client
// would, and returns the status.
func postLogin(t *testing.T, base, client, token string) int {
	t.Helper()
	form := url.Values{"_csrf": {"nonce"}, "token": {token}}
	req, err := http.NewRequestWithContext(t.Context(), "POST", base+"/ui/login", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-For", client)
	req.AddCookie(&http.Cookie{Name: "herald_login", Value: "nonce"})
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestServeChecksAllowedIPsOfForwardedClient runs the real server behind
// a "proxy" on loopback: with --trusted-proxies naming it, a source's
// allowedIps admit the provider it forwards and refuse anyone else, and
// the inbound event records the provider's address, not the proxy's.
func TestServeChecksAllowedIPsOfForwardedClient(t *testing.T) {
	t.Parallel()
	ts := setup(t, "--trusted-proxies", "127.0.0.1,::1")
	ctx := t.Context()
	const provider, stranger = "203.0.113.9", "198.51.100.7"
	if _, err := call(ctx, ts.URL, ts.Token, "POST", "/api/v1/app", map[string]any{"name": "Acme", "uid": "acme"}, nil); err != nil {
		t.Fatal(err)
	}
	var src struct {
		ID        string
		IngestURL string `json:"ingestUrl"`
	}
	if _, err := call(ctx, ts.URL, ts.Token, "POST", "/api/v1/source", map[string]any{
		"name": "GitHub", "app": "acme", "allowedIps": []string{"203.0.113.0/24"},
		"verifier": map[string]any{"type": "github", "secrets": []string{githubSecret}},
	}, &src); err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"zen":"Keep it logically awesome."}`)

	code, out := postGitHubFor(t, ctx, src.IngestURL, githubSecret, "d-1", provider, body)
	if code != http.StatusOK {
		t.Fatalf("from %s behind the proxy: got %d %v, want 200", provider, code, out)
	}
	var ev struct {
		RemoteAddr string `json:"remoteAddr"`
	}
	if _, err := call(ctx, ts.URL, ts.Token, "GET", "/api/v1/source/"+src.ID+"/event/"+out["id"].(string), nil, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.RemoteAddr != provider {
		t.Errorf("inbound event address: got %q, want the forwarded client %q", ev.RemoteAddr, provider)
	}
	if code, out := postGitHubFor(t, ctx, src.IngestURL, githubSecret, "d-2", stranger, body); code != http.StatusForbidden {
		t.Errorf("from %s behind the proxy: got %d %v, want 403", stranger, code, out)
	}
	if code, out := postGitHubFor(t, ctx, src.IngestURL, githubSecret, "d-3", provider+", "+stranger, body); code != http.StatusForbidden {
		t.Errorf("from %s naming %s in front of the proxy's hop: got %d %v, want 403", stranger, provider, code, out)
	}
}
