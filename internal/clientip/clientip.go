// Package clientip tells the client of an HTTP request from the reverse
// proxies it came through: behind a proxy Herald is told to trust, the
// client is the address the proxy vouches for in X-Forwarded-For; from any
// other peer it is the peer, whatever headers it sends. The dashboard's
// login limit and the inbound handler's address allow-list both key on
// it, so it is standard library only.
package clientip

import (
	"net/http"
	"net/netip"
	"strings"
)

// Proxies are the reverse proxies whose X-Forwarded-For is believed. The
// zero value trusts none, so every request's client is its peer, whatever
// headers it sends.
//
// Only X-Forwarded-For is read. Forwarded (RFC 7239) and X-Real-IP are
// ignored: a proxy that sets one header usually passes the others through
// from the client untouched, so reading more than the one the proxy is
// configured to write would let a client pick its own address.
type Proxies struct {
	prefixes []netip.Prefix
}

// NewProxies returns the proxies in prefixes, masked, with IPv4-mapped
// IPv6 prefixes (::ffff:10.0.0.0/104) turned into the IPv4 ones they mean,
// since addresses are compared unmapped. Invalid prefixes trust nothing.
func NewProxies(prefixes []netip.Prefix) Proxies {
	out := make([]netip.Prefix, 0, len(prefixes))
	for _, p := range prefixes {
		if !p.IsValid() {
			continue
		}
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return Proxies{prefixes: out}
}

// Trusts reports whether a is a trusted proxy. a is compared unmapped and
// without its zone; an invalid address is never trusted.
func (p Proxies) Trusts(a netip.Addr) bool {
	return p.trusts(normalAddr(a))
}

// Client returns r's client address: r.RemoteAddr, or behind a trusted
// proxy the client its X-Forwarded-For vouches for. The result is
// unmapped and has no zone; it is invalid only when r.RemoteAddr cannot be
// parsed. See clientAddr for how the header is read.
func (p Proxies) Client(r *http.Request) netip.Addr {
	return p.clientAddr(r.RemoteAddr, r.Header.Values("X-Forwarded-For"))
}

// trusts reports whether a, unmapped and without a zone, is a trusted
// proxy.
func (p Proxies) trusts(a netip.Addr) bool {
	for _, prefix := range p.prefixes {
		if prefix.Contains(a) {
			return true
		}
	}
	return false
}

// clientAddr returns the address of the client behind a request from
// remoteAddr (the peer: host:port, or a bare address) carrying the given
// X-Forwarded-For header lines, in the order received. The result is
// unmapped and has no zone; it is invalid only when remoteAddr cannot be
// parsed.
//
// A peer that is not a trusted proxy is the client, and its header is
// ignored. Behind a trusted one, the hops are walked from the right (the
// nearest first, since each proxy appends the address it saw), past
// trusted proxies, to the first untrusted address: the client, as far as
// the proxies can vouch. What lies left of it was written by the client
// or a proxy of its own, and is never believed. If every hop is a trusted
// proxy, the leftmost is the client. Empty list elements are skipped; a
// malformed one ("unknown", an obfuscated name, garbage) ends the walk,
// and the last trusted hop before it is the client, since nothing
// further left can be vouched for.
func (p Proxies) clientAddr(remoteAddr string, forwardedFor []string) netip.Addr {
	client := parseHop(remoteAddr)
	if !client.IsValid() || !p.trusts(client) {
		return client
	}
	for i := len(forwardedFor) - 1; i >= 0; i-- {
		hops := forwardedFor[i]
		for hops != "" {
			var hop string
			if j := strings.LastIndexByte(hops, ','); j >= 0 {
				hops, hop = hops[:j], hops[j+1:]
			} else {
				hops, hop = "", hops
			}
			hop = strings.Trim(hop, " \t")
			if hop == "" {
				continue // an empty list element says nothing (RFC 9110, 5.6.1)
			}
			addr := parseHop(hop)
			if !addr.IsValid() {
				return client
			}
			client = addr
			if !p.trusts(addr) {
				return client
			}
		}
	}
	return client
}

// parseHop parses one address as peers and proxies write it: 192.0.2.1,
// 192.0.2.1:4711, 2001:db8::1, [2001:db8::1] or [2001:db8::1]:4711. It
// returns the address unmapped and without a zone, or an invalid one.
func parseHop(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return normalAddr(ap.Addr())
	}
	if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
		s = s[1 : len(s)-1]
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}
	}
	return normalAddr(a)
}

// normalAddr drops a's zone and unmaps an IPv4-mapped address, so that it
// compares with prefixes and keys one client one way.
func normalAddr(a netip.Addr) netip.Addr {
	return a.Unmap().WithZone("")
}
