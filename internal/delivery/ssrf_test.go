package delivery

import (
	"errors"
	"net/netip"
	"testing"
)

func TestAddrGuardDefault(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr string
		want bool
	}{
		{"93.184.215.14", true},
		{"8.8.8.8", true},
		{"2606:4700:4700::1111", true},
		{"127.0.0.1", false},
		{"127.1.2.3", false},
		{"0.0.0.0", false},
		{"10.1.2.3", false},
		{"172.16.0.1", false},
		{"172.31.255.255", false},
		{"172.32.0.1", true},
		{"192.168.1.1", false},
		{"169.254.169.254", false},
		{"169.254.1.1", false},
		{"100.64.0.1", false},
		{"100.127.255.255", false},
		{"100.128.0.1", true},
		{"224.0.0.1", false},
		{"239.255.255.250", false},
		{"255.255.255.255", false},
		{"198.18.0.1", false},
		{"192.0.2.1", false},
		{"::", false},
		{"::1", false},
		{"fe80::1", false},
		{"fe80::1%eth0", false},
		{"fc00::1", false},
		{"fd12:3456::1", false},
		{"ff02::1", false},
		{"2001:db8::1", false},
		{"::ffff:127.0.0.1", false},
		{"::ffff:169.254.169.254", false},
		{"::ffff:10.0.0.1", false},
		{"::ffff:8.8.8.8", true},
		{"::127.0.0.1", false},
		{"64:ff9b::7f00:1", false},     // NAT64 of 127.0.0.1
		{"::ffff:0:7f00:1", false},     // SIIT IPv4-translated 127.0.0.1
		{"::ffff:0:a9fe:a9fe", false},  // SIIT IPv4-translated 169.254.169.254
		{"64:ff9b::808:808", true},     // NAT64 of 8.8.8.8
		{"2002:7f00:1::1", false},      // 6to4 of 127.0.0.1
		{"2002:808:808::1", true},      // 6to4 of 8.8.8.8
		{"2001:0:4136:e378::1", false}, // Teredo
		{"0.1.2.3", false},
		{"fdff:ffff::1", false}, // top of fc00::/7
		{"febf:ffff::1", false}, // top of fe80::/10
		{"fec0::1", false},
		{"::ffff:0.0.0.0", false},
		{"::ffff:192.168.0.1", false},
		{"::ffff:172.16.0.1", false},
		{"::ffff:100.64.0.1", false},
		{"::ffff:7f00:1", false},
		{"::ffff:0:0", false},
	}
	var g addrGuard
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			t.Parallel()
			ip := netip.MustParseAddr(tt.addr)
			if got := g.permitted(ip); got != tt.want {
				t.Errorf("permitted(%s) = %v, want %v", tt.addr, got, tt.want)
			}
		})
	}
}

func TestAddrGuardAllowNetworks(t *testing.T) {
	t.Parallel()
	g := addrGuard{allow: []netip.Prefix{
		netip.MustParsePrefix("127.0.0.0/8"),
		netip.MustParsePrefix("::1/128"),
		netip.MustParsePrefix("10.20.0.0/16"),
	}}
	tests := []struct {
		addr string
		want bool
	}{
		{"127.0.0.1", true},
		{"::1", true},
		{"::ffff:127.0.0.1", true},
		{"10.20.3.4", true},
		{"10.21.3.4", false},
		{"169.254.169.254", false},
		{"8.8.8.8", true},
	}
	for _, tt := range tests {
		if got := g.permitted(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("permitted(%s) = %v, want %v", tt.addr, got, tt.want)
		}
	}
}

func TestAddrGuardControl(t *testing.T) {
	t.Parallel()
	var g addrGuard
	tests := []struct {
		address   string
		forbidden bool
	}{
		{"127.0.0.1:80", true},
		{"[::1]:443", true},
		{"169.254.169.254:80", true},
		{"8.8.8.8:443", false},
		{"[2606:4700:4700::1111]:443", false},
		{"not-an-address", true},
	}
	for _, tt := range tests {
		err := g.control("tcp", tt.address, nil)
		var fe *forbiddenAddrError
		if got := errors.As(err, &fe); got != tt.forbidden {
			t.Errorf("control(%q) = %v, want forbidden %v", tt.address, err, tt.forbidden)
		}
	}
}
