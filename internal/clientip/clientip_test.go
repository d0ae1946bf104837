package clientip

import (
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

// testProxies trusts an IPv4 network, one IPv4 address, an IPv6 network
// and the IPv6 loopback, the last written as a bare /128.
func testProxies() Proxies {
	return NewProxies([]netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("192.0.2.1/32"),
		netip.MustParsePrefix("2001:db8:ffff::/48"),
		netip.MustParsePrefix("::1/128"),
	})
}

func TestClientAddr(t *testing.T) {
	t.Parallel()
	const attacker, user = "198.51.100.7", "203.0.113.9"
	for _, tt := range []struct {
		name   string
		none   bool // trust no proxy at all
		remote string
		xff    []string
		want   string // "" for an invalid address
	}{
		{name: "no proxies trusted: the peer, header ignored", none: true, remote: "10.0.0.1:80", xff: []string{user}, want: "10.0.0.1"},
		{name: "untrusted peer: the peer", remote: attacker + ":4000", want: attacker},
		{name: "untrusted peer spoofing the header: the peer", remote: attacker + ":4000", xff: []string{user}, want: attacker},
		{name: "untrusted peer spoofing a trusted hop: the peer", remote: attacker + ":4000", xff: []string{user + ", 10.0.0.2"}, want: attacker},
		{name: "trusted peer without a header: the peer", remote: "10.0.0.1:80", want: "10.0.0.1"},
		{name: "trusted peer with an empty header: the peer", remote: "10.0.0.1:80", xff: []string{""}, want: "10.0.0.1"},
		{name: "trusted peer: the client it forwards", remote: "10.0.0.1:80", xff: []string{user}, want: user},
		{name: "trusted single address", remote: "192.0.2.1:80", xff: []string{user}, want: user},
		{name: "the address next to the trusted one is not trusted", remote: "192.0.2.2:80", xff: []string{user}, want: "192.0.2.2"},
		{name: "spoofed leftmost value: the rightmost untrusted", remote: "10.0.0.1:80", xff: []string{user + ", " + attacker}, want: attacker},
		{name: "chain of trusted proxies skipped", remote: "10.0.0.1:80", xff: []string{"192.0.2.99, " + user + ", 10.0.0.3, 10.0.0.2"}, want: user},
		{name: "every hop trusted: the leftmost", remote: "10.0.0.1:80", xff: []string{"10.0.0.9, 10.0.0.3, 10.0.0.2"}, want: "10.0.0.9"},
		{name: "several header lines read as one list", remote: "10.0.0.1:80", xff: []string{"192.0.2.99, " + user, "10.0.0.3", "10.0.0.2"}, want: user},
		{name: "the last header line is the nearest", remote: "10.0.0.1:80", xff: []string{user, attacker}, want: attacker},
		{name: "empty elements skipped", remote: "10.0.0.1:80", xff: []string{" , " + user + ",, ,\t", ""}, want: user},
		{name: "no spaces", remote: "10.0.0.1:80", xff: []string{"192.0.2.99," + user + ",10.0.0.2"}, want: user},
		{name: "malformed rightmost: the trusted peer", remote: "10.0.0.1:80", xff: []string{user + ", unknown"}, want: "10.0.0.1"},
		{name: "malformed behind a trusted hop: that hop", remote: "10.0.0.1:80", xff: []string{user + ", _hidden, 10.0.0.2"}, want: "10.0.0.2"},
		{name: "malformed left of the client: the client", remote: "10.0.0.1:80", xff: []string{"garbage, " + user}, want: user},
		{name: "two addresses in one element: malformed", remote: "10.0.0.1:80", xff: []string{attacker + " " + user}, want: "10.0.0.1"},
		{name: "a CIDR is not an address", remote: "10.0.0.1:80", xff: []string{"203.0.113.0/24"}, want: "10.0.0.1"},
		{name: "IPv4 with a port", remote: "10.0.0.1:80", xff: []string{user + ":4711"}, want: user},
		{name: "IPv6 client", remote: "10.0.0.1:80", xff: []string{"2001:db8:1:2::5"}, want: "2001:db8:1:2::5"},
		{name: "IPv6 client in brackets", remote: "10.0.0.1:80", xff: []string{"[2001:db8:1:2::5]"}, want: "2001:db8:1:2::5"},
		{name: "IPv6 client with a port", remote: "10.0.0.1:80", xff: []string{"[2001:db8:1:2::5]:443"}, want: "2001:db8:1:2::5"},
		{name: "unclosed bracket: malformed", remote: "10.0.0.1:80", xff: []string{"[2001:db8:1:2::5"}, want: "10.0.0.1"},
		{name: "IPv6 client with a zone: the zone dropped", remote: "10.0.0.1:80", xff: []string{"fe80::1%eth0"}, want: "fe80::1"},
		{name: "IPv4-mapped client unmapped", remote: "10.0.0.1:80", xff: []string{"::ffff:" + user}, want: user},
		{name: "IPv4-mapped hop trusted as IPv4", remote: "10.0.0.1:80", xff: []string{user + ", ::ffff:10.0.0.2"}, want: user},
		{name: "IPv4-mapped peer trusted as IPv4", remote: "[::ffff:10.0.0.1]:80", xff: []string{user}, want: user},
		{name: "IPv6 trusted peer", remote: "[2001:db8:ffff:1::1]:80", xff: []string{user}, want: user},
		{name: "IPv6 loopback peer", remote: "[::1]:80", xff: []string{"2001:db8:1:2::5"}, want: "2001:db8:1:2::5"},
		{name: "IPv6 peer with a zone", remote: "[fe80::1%eth0]:80", xff: []string{user}, want: "fe80::1"},
		{name: "bare peer address", remote: "10.0.0.1", xff: []string{user}, want: user},
		{name: "unparsable peer: invalid, header ignored", remote: "pipe", xff: []string{user}, want: ""},
		{name: "empty peer: invalid", remote: "", xff: []string{user}, want: ""},
	} {
		p := testProxies()
		if tt.none {
			p = Proxies{}
		}
		got := p.clientAddr(tt.remote, tt.xff)
		if want := addrOrInvalid(tt.want); got != want {
			t.Errorf("%s: clientAddr(%q, %q): got %v, want %v", tt.name, tt.remote, tt.xff, got, want)
		}
	}
}

// An IPv4-mapped prefix means the IPv4 network it maps, since addresses
// are compared unmapped; an invalid prefix trusts nothing.
func TestNewProxiesUnmapsPrefixes(t *testing.T) {
	t.Parallel()
	p := NewProxies([]netip.Prefix{netip.MustParsePrefix("::ffff:10.0.0.0/104"), {}})
	if got, want := p.clientAddr("10.1.2.3:80", []string{"203.0.113.9"}), netip.MustParseAddr("203.0.113.9"); got != want {
		t.Errorf("peer 10.1.2.3 trusting ::ffff:10.0.0.0/104: got %v, want %v", got, want)
	}
	if len(p.prefixes) != 1 || p.prefixes[0] != netip.MustParsePrefix("10.0.0.0/8") {
		t.Errorf("proxies: got %v, want [10.0.0.0/8]", p.prefixes)
	}
}

// FuzzClientAddr feeds the header parser any peer and header. Whatever
// they are, it must not panic, an untrusted peer must be the client, the
// client must be the peer or an address the header holds, and an
// untrusted address a trusted proxy appends must win over anything the
// client put in front of it.
func FuzzClientAddr(f *testing.F) {
	for _, seed := range [][2]string{
		{"10.0.0.1:80", "203.0.113.9"},
		{"10.0.0.1:80", "203.0.113.9, 198.51.100.7"},
		{"10.0.0.1:80", "10.0.0.9, 10.0.0.3, 10.0.0.2"},
		{"10.0.0.1:80", " , 203.0.113.9,, ,\t"},
		{"10.0.0.1:80", "203.0.113.9, unknown"},
		{"10.0.0.1:80", "[2001:db8::5]:443, ::ffff:10.0.0.2, fe80::1%eth0"},
		{"[::ffff:10.0.0.1]:80", "[2001:db8::5"},
		{"198.51.100.7:4000", "203.0.113.9"},
		{"pipe", "203.0.113.9"},
		{"", ""},
	} {
		f.Add(seed[0], seed[1])
	}
	p := testProxies()
	appended := netip.MustParseAddr("198.51.100.77")
	f.Fuzz(func(t *testing.T, remote, xff string) {
		peer := parseHop(remote)
		got := p.clientAddr(remote, []string{xff})
		if got.IsValid() != peer.IsValid() {
			t.Fatalf("clientAddr(%q, %q) = %v: valid %v, want %v as the peer", remote, xff, got, got.IsValid(), peer.IsValid())
		}
		if got.Zone() != "" || got.Is4In6() {
			t.Errorf("clientAddr(%q, %q) = %v: want no zone and no IPv4 mapping", remote, xff, got)
		}
		if !p.trusts(peer) && got != peer {
			t.Errorf("clientAddr(%q, %q) from an untrusted peer: got %v, want the peer %v", remote, xff, got, peer)
		}
		if got != peer && !holds(xff, got) {
			t.Errorf("clientAddr(%q, %q) = %v: neither the peer nor in the header", remote, xff, got)
		}
		// What a trusted proxy does: append the address it saw, to the
		// line or as a line of its own.
		for _, lines := range [][]string{{xff + ", " + appended.String()}, {xff, appended.String()}} {
			if got := p.clientAddr("10.0.0.1:80", lines); got != appended {
				t.Errorf("clientAddr via a trusted proxy of %q: got %v, want the appended %v", lines, got, appended)
			}
		}
	})
}

// holds reports whether one of the elements of the header value xff is a.
func holds(xff string, a netip.Addr) bool {
	for hop := range strings.SplitSeq(xff, ",") {
		if parseHop(strings.Trim(hop, " \t")) == a {
			return true
		}
	}
	return false
}

func addrOrInvalid(s string) netip.Addr {
	if s == "" {
		return netip.Addr{}
	}
	return netip.MustParseAddr(s)
}

// Trusts compares an address as the walk does, unmapped and without its
// zone, and never trusts an invalid one.
func TestTrusts(t *testing.T) {
	t.Parallel()
	p := testProxies()
	for _, tt := range []struct {
		addr netip.Addr
		want bool
	}{
		{netip.MustParseAddr("10.1.2.3"), true},
		{netip.MustParseAddr("::ffff:10.1.2.3"), true},
		{netip.MustParseAddr("2001:db8:ffff::1%eth0"), true},
		{netip.MustParseAddr("192.0.2.2"), false},
		{netip.Addr{}, false},
	} {
		if got := p.Trusts(tt.addr); got != tt.want {
			t.Errorf("Trusts(%v): got %v, want %v", tt.addr, got, tt.want)
		}
	}
	if (Proxies{}).Trusts(netip.MustParseAddr("10.1.2.3")) {
		t.Errorf("the zero Proxies trusts 10.1.2.3, want nothing trusted")
	}
}

// Client reads the request's peer and every X-Forwarded-For line.
func TestClient(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest("POST", "http://herald.local/in/src_1", nil)
	r.RemoteAddr = "10.0.0.1:443"
	r.Header.Add("X-Forwarded-For", "198.51.100.7")
	r.Header.Add("X-Forwarded-For", "203.0.113.9, 10.0.0.2")
	if got, want := testProxies().Client(r), netip.MustParseAddr("203.0.113.9"); got != want {
		t.Errorf("Client via trusted proxies: got %v, want %v", got, want)
	}
	if got, want := (Proxies{}).Client(r), netip.MustParseAddr("10.0.0.1"); got != want {
		t.Errorf("Client trusting no proxy: got %v, want the peer %v", got, want)
	}
}
