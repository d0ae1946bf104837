package delivery

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// dnsServer is a loopback DNS server for tests: it answers A and AAAA
// queries from answer, which sees the name and how many A or AAAA queries
// for it came before (so an answer can change between lookups, as in DNS
// rebinding). Only the handful of bytes Go's resolver sends are parsed.
type dnsServer struct {
	conn   net.PacketConn
	answer func(name string, qtype uint16, n int) []netip.Addr

	mu      sync.Mutex
	queries map[string]int // "name/type" to count
}

const (
	dnsTypeA    = 1
	dnsTypeAAAA = 28
)

// startDNS serves answer on a loopback UDP port until the test ends.
func startDNS(t *testing.T, answer func(name string, qtype uint16, n int) []netip.Addr) *dnsServer {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen dns: %v", err)
	}
	d := &dnsServer{conn: conn, answer: answer, queries: map[string]int{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			n, from, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			if resp := d.respond(buf[:n]); resp != nil {
				_, _ = conn.WriteTo(resp, from)
			}
		}
	}()
	t.Cleanup(func() { _ = conn.Close(); <-done })
	return d
}

// resolver returns a pure-Go resolver that asks only this server.
func (d *dnsServer) resolver() *net.Resolver {
	addr := d.conn.LocalAddr().String()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, "udp", addr)
	}}
}

// count is how many queries of qtype name got.
func (d *dnsServer) count(name string, qtype uint16) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.queries[key(name, qtype)]
}

func key(name string, qtype uint16) string {
	return name + "/" + strconv.Itoa(int(qtype))
}

// respond builds the answer to one query, or nil for a malformed one.
func (d *dnsServer) respond(q []byte) []byte {
	if len(q) < 12 || binary.BigEndian.Uint16(q[4:]) != 1 {
		return nil
	}
	// The question: length-prefixed labels up to a zero byte, then type
	// and class.
	i := 12
	var labels []string
	for i < len(q) && q[i] != 0 {
		l := int(q[i])
		if i+1+l > len(q) {
			return nil
		}
		labels = append(labels, string(q[i+1:i+1+l]))
		i += 1 + l
	}
	if i+5 > len(q) {
		return nil
	}
	qEnd := i + 5
	qtype := binary.BigEndian.Uint16(q[i+1:])
	name := strings.ToLower(strings.Join(labels, "."))

	d.mu.Lock()
	n := d.queries[key(name, qtype)]
	d.queries[key(name, qtype)] = n + 1
	d.mu.Unlock()

	var rdata [][]byte
	if qtype == dnsTypeA || qtype == dnsTypeAAAA {
		for _, a := range d.answer(name, qtype, n) {
			switch {
			case qtype == dnsTypeA && a.Is4():
				b := a.As4()
				rdata = append(rdata, b[:])
			case qtype == dnsTypeAAAA && a.Is6():
				b := a.As16()
				rdata = append(rdata, b[:])
			}
		}
	}
	out := make([]byte, 0, 512)
	out = append(out, q[0], q[1]) // the query's ID
	out = append(out, 0x81, 0x80) // a response, recursion desired and available, no error
	out = binary.BigEndian.AppendUint16(out, 1)
	out = binary.BigEndian.AppendUint16(out, uint16(len(rdata)))
	out = append(out, 0, 0, 0, 0) // no authority or additional records
	out = append(out, q[12:qEnd]...)
	for _, r := range rdata {
		out = append(out, 0xc0, 12) // the name: a pointer to the question's
		out = binary.BigEndian.AppendUint16(out, qtype)
		out = binary.BigEndian.AppendUint16(out, 1) // class IN
		out = binary.BigEndian.AppendUint32(out, 0) // TTL 0: nothing may cache it
		out = binary.BigEndian.AppendUint16(out, uint16(len(r)))
		out = append(out, r...)
	}
	return out
}

// TestDNSServerAnswers checks the test server itself against Go's
// resolver, so the SSRF tests built on it fail for the right reason.
func TestDNSServerAnswers(t *testing.T) {
	t.Parallel()
	d := startDNS(t, func(name string, qtype uint16, n int) []netip.Addr {
		if name != "flip.test" {
			return nil
		}
		if qtype == dnsTypeAAAA {
			return []netip.Addr{netip.MustParseAddr("fd00::1")}
		}
		if n == 0 {
			return []netip.Addr{netip.MustParseAddr("192.0.2.1")}
		}
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	})
	r := d.resolver()
	for i, want := range []string{"192.0.2.1", "127.0.0.1"} {
		got, err := r.LookupNetIP(t.Context(), "ip4", "flip.test")
		if err != nil || len(got) != 1 || got[0].String() != want {
			t.Fatalf("lookup %d: got %v, %v; want %s", i+1, got, err, want)
		}
	}
	got, err := r.LookupNetIP(t.Context(), "ip6", "flip.test")
	if err != nil || len(got) != 1 || got[0].String() != "fd00::1" {
		t.Fatalf("AAAA lookup: got %v, %v; want fd00::1", got, err)
	}
	if n := d.count("flip.test", dnsTypeA); n != 2 {
		t.Errorf("got %d A queries, want 2", n)
	}
}
