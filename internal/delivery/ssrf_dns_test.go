package delivery

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// twinServers listens on 127.0.0.1 and 127.0.0.2 at the same port, so one
// URL reaches either depending on what its name resolves to. 127.0.0.2
// plays a public receiver (the engine is allowed to reach only it) and
// 127.0.0.1 an internal service. Each counts its requests.
type twinServers struct {
	port             string
	public, internal atomic.Int64
}

func startTwins(t *testing.T, respond http.HandlerFunc) *twinServers {
	t.Helper()
	tw := &twinServers{}
	internal := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { tw.internal.Add(1) }))
	t.Cleanup(internal.Close)
	_, tw.port, _ = net.SplitHostPort(internal.Listener.Addr().String())
	ln, err := net.Listen("tcp4", "127.0.0.2:"+tw.port)
	if err != nil {
		t.Skipf("cannot listen on 127.0.0.2:%s: %v", tw.port, err)
	}
	public := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tw.public.Add(1)
		respond(w, r)
	}))
	public.Listener = ln
	public.Start()
	t.Cleanup(public.Close)
	return tw
}

// publicOnly lets the engine reach 127.0.0.2 and nothing else special.
var publicOnly = []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

// TestSSRFRebindingRefusedAtConnect serves a name that resolves to the
// permitted address for the first lookup and to loopback afterwards. The
// first attempt reaches the permitted server; the retry, after the name
// rebinds, must be refused at connect time and never reach loopback.
func TestSSRFRebindingRefusedAtConnect(t *testing.T) {
	t.Parallel()
	tw := startTwins(t, func(w http.ResponseWriter, _ *http.Request) {
		// A fresh connection per attempt, so the retry resolves again.
		w.Header().Set("Connection", "close")
		w.WriteHeader(http.StatusInternalServerError)
	})
	dns := startDNS(t, func(name string, qtype uint16, n int) []netip.Addr {
		if name != "rebind.test" || qtype != dnsTypeA {
			return nil
		}
		if n == 0 {
			return addrs("127.0.0.2")
		}
		return addrs("127.0.0.1")
	})
	ep := endpoint("ep_rebind", "http://rebind.test:"+tw.port+"/hook")
	b := setup(t, Config{
		AllowNetworks: publicOnly,
		Resolver:      dns.resolver(),
		Policy:        herald.Policy{Schedule: []time.Duration{10 * time.Millisecond}, Jitter: -1},
	}, ep)
	msg := b.publish(t, message("a", `{}`))
	res := b.waitFinal(t, msg.ID, ep.ID)
	if len(res) != 2 {
		t.Fatalf("got %d attempts, want 2", len(res))
	}
	if res[0].Attempt.StatusCode != 500 {
		t.Errorf("first attempt: got code %d (%s), want 500 from the permitted server", res[0].Attempt.StatusCode, res[0].Attempt.ErrorClass)
	}
	if res[1].Attempt.ErrorClass != herald.ErrClassForbidden || res[1].Attempt.StatusCode != 0 {
		t.Errorf("attempt after rebinding: got class %q, code %d; want %q and no response",
			res[1].Attempt.ErrorClass, res[1].Attempt.StatusCode, herald.ErrClassForbidden)
	}
	if n := dns.count("rebind.test", dnsTypeA); n < 2 {
		t.Errorf("got %d A lookups, want the retry to resolve again", n)
	}
	if got, want := tw.public.Load(), int64(1); got != want {
		t.Errorf("the permitted server got %d requests, want %d", got, want)
	}
	if n := tw.internal.Load(); n != 0 {
		t.Errorf("the loopback server got %d requests after rebinding, want 0", n)
	}
}

// TestSSRFNamesResolvingToSpecialAddresses refuses names whose A or AAAA
// records point at loopback, private, link-local or metadata addresses,
// and lets one through when --allow-network covers it.
func TestSSRFNamesResolvingToSpecialAddresses(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	records := map[string][]netip.Addr{
		"loop.test":      addrs("127.0.0.1"),
		"loop6.test":     addrs("::1"),
		"mapped6.test":   addrs("::ffff:127.0.0.1"),
		"metadata.test":  addrs("169.254.169.254"),
		"private.test":   addrs("10.0.0.1"),
		"private6.test":  addrs("fd00::1"),
		"link6.test":     addrs("fe80::1"),
		"zero.test":      addrs("0.0.0.0"),
		"unspec6.test":   addrs("::"),
		"mixed.test":     addrs("127.0.0.1", "192.168.0.1"),
		"nat64loop.test": addrs("64:ff9b::7f00:1"),
	}
	dns := startDNS(t, func(name string, qtype uint16, _ int) []netip.Addr {
		var out []netip.Addr
		for _, a := range records[name] {
			if a.Is4() == (qtype == dnsTypeA) {
				out = append(out, a)
			}
		}
		return out
	})
	eps := []herald.Endpoint{endpoint("ep_localhost", "http://localhost:"+port+"/")}
	for name := range records {
		eps = append(eps, endpoint("ep_"+name, "http://"+name+":"+port+"/"))
	}
	b := setup(t, Config{AllowNetworks: []netip.Prefix{}, Resolver: dns.resolver(), Timeout: 2 * time.Second,
		Policy: herald.Policy{Schedule: []time.Duration{}}}, eps...)
	msg := b.publish(t, message("a", `{}`))
	for _, ep := range eps {
		r := resultOf(t, b.waitFinal(t, msg.ID, ep.ID), ep.ID)
		if r.Attempt.ErrorClass != herald.ErrClassForbidden || r.Outcome.Status != herald.StatusFail {
			t.Errorf("%s: got class %q, status %v; want %q, fail", ep.URL, r.Attempt.ErrorClass, r.Outcome.Status, herald.ErrClassForbidden)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the loopback server got %d requests, want 0", n)
	}

	// The same name, allowed by the operator, is delivered.
	allowed := endpoint("ep_allowed", "http://loop.test:"+port+"/")
	b2 := setup(t, Config{AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, Resolver: dns.resolver()}, allowed)
	msg2 := b2.publish(t, message("a", `{}`))
	if r := resultOf(t, b2.waitFinal(t, msg2.ID, allowed.ID), allowed.ID); r.Outcome.Status != herald.StatusSuccess {
		t.Errorf("allowed name: got %v (%s), want success", r.Outcome.Status, r.Attempt.ErrorClass)
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("the allowed server got %d requests, want 1", n)
	}
}

// TestSSRFRedirectToInternalNotFollowed has a permitted endpoint answer
// with a redirect to loopback: the 302 is the attempt's answer and nothing
// reaches the internal server.
func TestSSRFRedirectToInternalNotFollowed(t *testing.T) {
	t.Parallel()
	var tw *twinServers
	tw = startTwins(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "http://127.0.0.1:"+tw.port+"/latest/meta-data/")
		w.WriteHeader(http.StatusFound)
	})
	ep := endpoint("ep_redirect", "http://127.0.0.2:"+tw.port+"/hook")
	b := setup(t, Config{AllowNetworks: publicOnly, Policy: herald.Policy{Schedule: []time.Duration{}}}, ep)
	msg := b.publish(t, message("a", `{}`))
	r := resultOf(t, b.waitFinal(t, msg.ID, ep.ID), ep.ID)
	if r.Attempt.StatusCode != http.StatusFound || r.Outcome.Status != herald.StatusFail {
		t.Errorf("got code %d (%s), status %v; want the 302 recorded as a failure", r.Attempt.StatusCode, r.Attempt.ErrorClass, r.Outcome.Status)
	}
	if n := tw.public.Load(); n != 1 {
		t.Errorf("the endpoint got %d requests, want 1", n)
	}
	if n := tw.internal.Load(); n != 0 {
		t.Errorf("the internal server got %d requests, want 0", n)
	}
}

// resultOf returns the last result of endpointID among res.
func resultOf(t *testing.T, res []store.Result, endpointID string) store.Result {
	t.Helper()
	var out store.Result
	found := false
	for _, r := range res {
		if r.Attempt.EndpointID == endpointID {
			out, found = r, true
		}
	}
	if !found {
		t.Fatalf("%s: no attempt recorded", endpointID)
	}
	return out
}
