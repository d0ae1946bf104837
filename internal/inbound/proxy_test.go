package inbound

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/store"
)

// TestHandlerAllowedIPsBehindTrustedProxy: behind a trusted reverse
// proxy, a source's allowedIps are checked against, and the event
// records, the client the proxy names in X-Forwarded-For, not the proxy;
// a refused client gets the same answer as one connecting directly. A
// peer that is not a trusted proxy is its own client whatever its header
// says, and without trusted proxies (the default) the header is never
// read.
func TestHandlerAllowedIPsBehindTrustedProxy(t *testing.T) {
	t.Parallel()
	const (
		proxy    = "10.0.0.1:443"
		provider = "203.0.113.9" // in allowedIps
		stranger = "198.51.100.7"
	)
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	allowProvider := func(s *store.Source) { s.AllowedIPs = []string{"203.0.113.0/24"} }

	// What an address outside allowedIps gets today, connecting directly.
	direct := newHandlerBundle(t, allowProvider)
	refusal := direct.serve(viaProxy(stranger+":4000", nil))
	if refusal.Code != http.StatusForbidden {
		t.Fatalf("direct from %s: got %d %s, want 403", stranger, refusal.Code, refusal.Body)
	}

	for _, tt := range []struct {
		name    string
		trusted []netip.Prefix
		remote  string
		xff     []string
		want    string // the recorded client; "" when refused
	}{
		{name: "provider behind the trusted proxy", trusted: trusted, remote: proxy, xff: []string{provider}, want: provider},
		{name: "provider behind a chain of trusted proxies", trusted: trusted, remote: proxy, xff: []string{provider + ", 10.0.0.2", "10.0.0.3"}, want: provider},
		{name: "stranger behind the trusted proxy", trusted: trusted, remote: proxy, xff: []string{stranger}},
		{name: "stranger naming the provider in front of the proxy's hop", trusted: trusted, remote: proxy, xff: []string{provider + ", " + stranger}},
		{name: "trusted proxy without a header", trusted: trusted, remote: proxy},
		{name: "untrusted peer spoofing the provider", trusted: trusted, remote: stranger + ":4000", xff: []string{provider}},
		{name: "untrusted peer spoofing a trusted hop", trusted: trusted, remote: stranger + ":4000", xff: []string{provider + ", 10.0.0.2"}},
		{name: "provider connecting directly, header ignored", trusted: trusted, remote: provider + ":4000", xff: []string{stranger}, want: provider},
		{name: "no trusted proxies: the header is not read", remote: proxy, xff: []string{provider}},
		{name: "no trusted proxies: provider connecting directly", remote: provider + ":4000", xff: []string{stranger}, want: provider},
	} {
		b := newProxiedBundle(t, tt.trusted, allowProvider)
		w := b.serve(viaProxy(tt.remote, tt.xff))
		if tt.want == "" {
			if w.Code != refusal.Code || w.Body.String() != refusal.Body.String() {
				t.Errorf("%s: got %d %s, want %d %s as when connecting directly", tt.name, w.Code, w.Body, refusal.Code, refusal.Body)
			}
			if got := b.refusedCount(t, reasonIP); got != 1 || len(b.published) != 0 {
				t.Errorf("%s: refused %v times as %s, published %d, want refused once and nothing published", tt.name, got, reasonIP, len(b.published))
			}
			continue
		}
		if w.Code != http.StatusOK || len(b.published) != 1 {
			t.Errorf("%s: got %d %s with %d events published, want 200 and one", tt.name, w.Code, w.Body, len(b.published))
			continue
		}
		if got := b.published[0].RemoteAddr; got != tt.want {
			t.Errorf("%s: event address got %q, want the client %q", tt.name, got, tt.want)
		}
	}
}

// A refusal behind a trusted proxy logs the client as remote_addr and the
// proxy as proxy_addr; one from a direct peer logs no proxy.
func TestHandlerLogsClientBehindTrustedProxy(t *testing.T) {
	t.Parallel()
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	allow := func(s *store.Source) { s.AllowedIPs = []string{"203.0.113.0/24"} }

	b := newProxiedBundle(t, trusted, allow)
	b.serve(viaProxy("10.0.0.1:443", []string{"198.51.100.7"}))
	if got := b.logs.String(); !strings.Contains(got, "remote_addr=198.51.100.7 proxy_addr=10.0.0.1") {
		t.Errorf("refusal log behind the proxy: got %q, want remote_addr=198.51.100.7 proxy_addr=10.0.0.1", got)
	}

	b = newProxiedBundle(t, trusted, allow)
	b.serve(viaProxy("198.51.100.7:4000", []string{"203.0.113.9"}))
	if got := b.logs.String(); !strings.Contains(got, "remote_addr=198.51.100.7") || strings.Contains(got, "proxy_addr") {
		t.Errorf("refusal log from a direct peer: got %q, want remote_addr=198.51.100.7 and no proxy_addr", got)
	}
}

// TestHandlerTwilioSchemeFromTrustedProxyOnly: Twilio signs the URL it
// called, so behind a proxy that ends TLS the handler must rebuild it with
// https. It takes X-Forwarded-Proto from a trusted proxy only; from any
// other peer the header would let a client choose the URL a signature is
// checked against, so the scheme stays the one the request arrived on.
func TestHandlerTwilioSchemeFromTrustedProxyOnly(t *testing.T) {
	t.Parallel()
	const token = "twilio-token"
	twilio := func(s *store.Source) {
		s.UID = "tw"
		s.Verifier = json.RawMessage(`{"type":"twilio","secrets":["` + token + `"]}`)
	}
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	request := func(remote, signedURL string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/in/tw", strings.NewReader("MessageSid=SM1"))
		r.Host = "hooks.example.com"
		r.RemoteAddr = remote
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("X-Forwarded-Proto", "https")
		r.Header.Set("X-Twilio-Signature", b64MAC1(token, signedURL, "MessageSidSM1"))
		return r
	}
	for _, tt := range []struct {
		name, remote, signedURL string
		trusted                 []netip.Prefix
		want                    int
	}{
		{name: "trusted proxy, signed for https", trusted: trusted, remote: "10.0.0.1:443", signedURL: "https://hooks.example.com/in/tw", want: http.StatusOK},
		{name: "trusted proxy, signed for http", trusted: trusted, remote: "10.0.0.1:443", signedURL: "http://hooks.example.com/in/tw", want: http.StatusUnauthorized},
		{name: "untrusted peer, signed for https", trusted: trusted, remote: "198.51.100.7:4000", signedURL: "https://hooks.example.com/in/tw", want: http.StatusUnauthorized},
		{name: "untrusted peer, signed for http", trusted: trusted, remote: "198.51.100.7:4000", signedURL: "http://hooks.example.com/in/tw", want: http.StatusOK},
		{name: "no trusted proxies, signed for https", remote: "10.0.0.1:443", signedURL: "https://hooks.example.com/in/tw", want: http.StatusUnauthorized},
	} {
		b := newProxiedBundle(t, tt.trusted, twilio)
		if w := b.serve(request(tt.remote, tt.signedURL)); w.Code != tt.want {
			t.Errorf("%s: got %d %s, want %d", tt.name, w.Code, w.Body, tt.want)
		}
	}
}

// viaProxy is a signed Stripe request to the test source from remote,
// with the X-Forwarded-For header lines xff.
func viaProxy(remote string, xff []string) *http.Request {
	r := stripeRequest("stripe", t0, stripeBody)
	r.RemoteAddr = remote
	for _, v := range xff {
		r.Header.Add("X-Forwarded-For", v)
	}
	return r
}
