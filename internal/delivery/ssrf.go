package delivery

import (
	"net/netip"
	"syscall"
)

// addrGuard refuses connections to addresses a webhook has no business
// reaching: loopback, private, link-local (cloud metadata), multicast and
// other special-purpose ranges. It runs as the dialer's Control function,
// so it sees the IP actually being connected to after DNS resolution, and
// a name that resolves to a public address once and a private one later
// (DNS rebinding) is still refused.
type addrGuard struct {
	allow []netip.Prefix // let through even if special
}

// forbiddenAddrError is returned by the dialer for a refused address.
type forbiddenAddrError struct {
	addr string
}

func (e *forbiddenAddrError) Error() string {
	return "connection to " + e.addr + " refused: address is not public (see --allow-network)"
}

// control is a net.Dialer Control function.
func (g addrGuard) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &forbiddenAddrError{addr: address}
	}
	if !g.permitted(ap.Addr()) {
		return &forbiddenAddrError{addr: ap.Addr().String()}
	}
	return nil
}

// permitted reports whether ip may be connected to.
func (g addrGuard) permitted(ip netip.Addr) bool {
	ip = ip.WithZone("")
	unmapped := ip.Unmap()
	for _, p := range g.allow {
		if p.Contains(ip) || p.Contains(unmapped) {
			return true
		}
	}
	return isPublic(unmapped)
}

// isPublic reports whether ip is a globally routable unicast address.
// IPv4-mapped addresses must be unmapped first.
func isPublic(ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	if ip.Is4() {
		return !inAny(ip, specialV4)
	}
	if inAny(ip, specialV6) {
		return false
	}
	// Prefixes that embed an IPv4 address a gateway would forward to: judge
	// the embedded address.
	b := ip.As16()
	switch {
	case nat64.Contains(ip): // 64:ff9b::a.b.c.d
		return isPublic(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}))
	case sixToFour.Contains(ip): // 2002:aabb:ccdd::
		return isPublic(netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}))
	}
	return true
}

func inAny(ip netip.Addr, set []netip.Prefix) bool {
	for _, p := range set {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
)

// specialV4 is the IANA IPv4 special-purpose registry, minus nothing: none
// of these is a webhook receiver.
var specialV4 = prefixes(
	"0.0.0.0/8",          // "this network", includes the unspecified address
	"10.0.0.0/8",         // private
	"100.64.0.0/10",      // carrier-grade NAT
	"127.0.0.0/8",        // loopback
	"169.254.0.0/16",     // link-local, includes 169.254.169.254 metadata
	"172.16.0.0/12",      // private
	"192.0.0.0/24",       // IETF protocol assignments
	"192.0.2.0/24",       // documentation
	"192.31.196.0/24",    // AS112
	"192.52.193.0/24",    // AMT
	"192.88.99.0/24",     // 6to4 relay anycast
	"192.168.0.0/16",     // private
	"192.175.48.0/24",    // AS112 direct delegation
	"198.18.0.0/15",      // benchmarking
	"198.51.100.0/24",    // documentation
	"203.0.113.0/24",     // documentation
	"224.0.0.0/4",        // multicast
	"240.0.0.0/4",        // reserved
	"255.255.255.255/32", // broadcast
)

// specialV6 is the IANA IPv6 special-purpose registry plus multicast and
// the deprecated site-local range.
var specialV6 = prefixes(
	"::/96",           // unspecified, loopback and IPv4-compatible addresses
	"::ffff:0:0/96",   // IPv4-mapped (callers unmap first; kept as a backstop)
	"::ffff:0:0:0/96", // IPv4-translated (SIIT), which a translator would forward
	"64:ff9b:1::/48",  // local-use NAT64
	"100::/64",        // discard-only
	"2001::/23",       // IETF protocol assignments, includes Teredo
	"2001:db8::/32",   // documentation
	"3fff::/20",       // documentation
	"5f00::/16",       // segment routing SIDs
	"fc00::/7",        // unique local
	"fe80::/10",       // link-local
	"fec0::/10",       // site-local (deprecated)
	"ff00::/8",        // multicast
)

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}
