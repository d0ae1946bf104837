package delivery

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/herald"
)

// TestSSRFRefusesOtherAddressForms tries the spellings of loopback that
// slip past a check on the URL's text: decimal, octal, hexadecimal and
// short IPv4 forms, and the unspecified address. Whatever a resolver makes
// of them, no request reaches the loopback server and every attempt fails.
func TestSSRFRefusesOtherAddressForms(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	t.Cleanup(srv.Close)
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	urls := map[string]string{
		"ep_decimal":     "http://2130706433:" + port + "/",
		"ep_octal":       "http://0177.0.0.1:" + port + "/",
		"ep_hex":         "http://0x7f000001:" + port + "/",
		"ep_short":       "http://127.1:" + port + "/",
		"ep_unspecified": "http://0.0.0.0:" + port + "/",
		"ep_mapped":      "http://[::ffff:127.0.0.1]:" + port + "/",
		"ep_mapped_hex":  "http://[::ffff:7f00:1]:" + port + "/",
		"ep_mapped_long": "http://[0:0:0:0:0:ffff:127.0.0.1]:" + port + "/",
		"ep_zero":        "http://0:" + port + "/",
		"ep_v6_unspec":   "http://[::]:" + port + "/",
		"ep_octal_long":  "http://017700000001:" + port + "/",
		"ep_hex_dotted":  "http://0x7f.0x0.0x0.0x1:" + port + "/",
		"ep_metadata":    "http://[::ffff:169.254.169.254]:" + port + "/",
	}
	var eps []herald.Endpoint
	for id, u := range urls {
		eps = append(eps, endpoint(id, u))
	}
	b := setup(t, Config{AllowNetworks: []netip.Prefix{}, Timeout: 2 * time.Second, Policy: herald.Policy{Schedule: []time.Duration{}}}, eps...)
	msg := b.publish(t, message("a", `{}`))
	for id, u := range urls {
		for _, r := range b.waitFinal(t, msg.ID, id) {
			if r.Attempt.EndpointID != id {
				continue
			}
			if r.Outcome.Status != herald.StatusFail || r.Attempt.StatusCode != 0 {
				t.Errorf("%s: got status %v, code %d; want a failure without a response", u, r.Outcome.Status, r.Attempt.StatusCode)
			}
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the loopback server got %d requests, want 0", n)
	}
}
