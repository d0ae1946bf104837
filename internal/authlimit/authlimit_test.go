package authlimit

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

// A client spends its burst, then gets one attempt per Every, and is told
// how long to wait; a refund gives an attempt back; other clients and
// other scopes keep their own budgets.
func TestBurstThenRate(t *testing.T) {
	t.Parallel()
	l := New(Config{Every: time.Second, Burst: 3})
	a := ClientKey("", addr("192.0.2.1"))
	for i := range 3 {
		if _, ok := l.Take(a, t0); !ok {
			t.Fatalf("attempt %d of the burst: refused", i+1)
		}
	}
	wait, ok := l.Take(a, t0)
	if ok || wait != time.Second {
		t.Fatalf("attempt past the burst: got ok=%v wait %s, want refused for 1s", ok, wait)
	}
	if wait, ok := l.Take(a, t0.Add(400*time.Millisecond)); ok || wait != 600*time.Millisecond {
		t.Errorf("0.4s later: got ok=%v wait %s, want refused for 0.6s", ok, wait)
	}
	if _, ok := l.Take(a, t0.Add(time.Second)); !ok {
		t.Errorf("a second later: refused, want one attempt")
	}
	if _, ok := l.Take(a, t0.Add(time.Second)); ok {
		t.Errorf("a second later, twice: let through, want one attempt only")
	}
	l.Refund(a, t0.Add(time.Second))
	if _, ok := l.Take(a, t0.Add(time.Second)); !ok {
		t.Errorf("after a refund: refused, want the attempt back")
	}
	for _, other := range []Key{ClientKey("", addr("192.0.2.2")), ClientKey("src_1", addr("192.0.2.1"))} {
		if _, ok := l.Take(other, t0); !ok {
			t.Errorf("%v while another budget is empty: refused", other)
		}
	}
}

// IPv6 clients are their /64; IPv4-mapped addresses are the IPv4 client.
func TestClientKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{"2001:db8:1:2::1", "2001:db8:1:2:ffff::9", true},
		{"2001:db8:1:2::1", "2001:db8:1:3::1", false},
		{"::ffff:192.0.2.1", "192.0.2.1", true},
		{"192.0.2.1", "192.0.2.2", false},
	} {
		if got := ClientKey("", addr(tc.a)) == ClientKey("", addr(tc.b)); got != tc.same {
			t.Errorf("ClientKey(%s) == ClientKey(%s): got %v, want %v", tc.a, tc.b, got, tc.same)
		}
	}
}

// However many clients fail, at most MaxClients are kept, and a client
// that cannot be tracked is let through; clients whose budget refilled
// are forgotten.
func TestBounded(t *testing.T) {
	t.Parallel()
	l := New(Config{Every: time.Second, Burst: 10, MaxClients: 100})
	for i := range 1000 {
		key := ClientKey("", netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}))
		if _, ok := l.Take(key, t0); !ok {
			t.Fatalf("first attempt of client %d: refused", i)
		}
	}
	if n := l.Len(); n > 100 {
		t.Errorf("clients tracked: got %d, want at most 100", n)
	}
	if _, ok := l.Take(ClientKey("", addr("192.0.2.1")), t0); !ok {
		t.Errorf("a new client while the limiter is full: refused, want let through")
	}
	if _, ok := l.Take(ClientKey("", addr("192.0.2.1")), t0.Add(time.Minute)); !ok {
		t.Errorf("a client a minute later: refused")
	}
	if n := l.Len(); n != 1 {
		t.Errorf("clients tracked after a minute: got %d, want 1 (the newest)", n)
	}
}

// Log lets one line per client through per LogEvery.
func TestLog(t *testing.T) {
	t.Parallel()
	l := New(Config{LogEvery: 10 * time.Second})
	a, b := ClientKey("", addr("192.0.2.1")), ClientKey("", addr("192.0.2.2"))
	l.Take(a, t0)
	l.Take(b, t0)
	if !l.Log(a, t0) || l.Log(a, t0.Add(time.Second)) {
		t.Errorf("two lines about a within 10s: want the first only")
	}
	if !l.Log(b, t0.Add(time.Second)) {
		t.Errorf("a line about b: refused because of a")
	}
	if !l.Log(a, t0.Add(10*time.Second)) {
		t.Errorf("a line about a 10s later: refused")
	}
}

// Allow spends nothing; Fail charges after the fact, so failures that
// passed Allow together drive the budget below zero, and are paid back
// before the next attempt; the debt is capped at two minutes.
func TestAllowAndFail(t *testing.T) {
	t.Parallel()
	l := New(Config{Every: time.Second, Burst: 3})
	a := ClientKey("", addr("192.0.2.1"))
	for range 100 {
		if _, ok := l.Allow(a, t0); !ok {
			t.Fatalf("Allow without failures: refused")
		}
	}
	if n := l.Len(); n != 0 {
		t.Errorf("clients tracked after Allow alone: got %d, want 0", n)
	}
	for i := range 5 { // five guesses that all passed Allow at once
		l.Fail(a, guess(i), t0)
	}
	if wait, ok := l.Allow(a, t0); ok || wait != 3*time.Second {
		t.Errorf("after 5 failures with a burst of 3: got ok=%v wait %s, want refused for 3s", ok, wait)
	}
	if _, ok := l.Allow(a, t0.Add(3*time.Second)); !ok {
		t.Errorf("once the debt is paid: refused")
	}
	later := t0.Add(3 * time.Second)
	for i := range 100_000 {
		l.Fail(a, guess(i), later)
	}
	if wait, _ := l.Allow(a, later); wait != maxDebt+time.Second {
		t.Errorf("after 100000 failures: wait %s, want %s (the debt's cap, and one attempt)", wait, maxDebt+time.Second)
	}
}

// A caller that read the clock before another, and reaches the limiter
// after it, refills nothing twice.
func TestEarlierTimeRefillsNothing(t *testing.T) {
	t.Parallel()
	l := New(Config{Every: time.Second, Burst: 3})
	a := ClientKey("", addr("192.0.2.1"))
	for i := range 3 {
		l.Fail(a, guess(i), t0.Add(10*time.Second))
	}
	l.Fail(a, guess(3), t0) // read the clock 10 s before the others
	if wait, ok := l.Allow(a, t0.Add(10*time.Second)); ok || wait != 2*time.Second {
		t.Errorf("after 4 failures with a burst of 3: got ok=%v wait %s, want refused for 2s", ok, wait)
	}
}

// guess is the i-th of distinct wrong credentials.
func guess(i int) string { return fmt.Sprint("guess-", i) }

// A client repeating one wrong credential (a stale token in a script, a
// webhook left with an old secret) is charged for it once, so it does not
// lock out the clients that share its address; new guesses are charged
// as ever, and one the bucket no longer remembers is charged again.
func TestRepeatedCredentialIsChargedOnce(t *testing.T) {
	t.Parallel()
	l := New(Config{Every: time.Second, Burst: 3})
	a := ClientKey("", addr("192.0.2.1"))
	for range 1000 {
		l.Fail(a, "stale-token", t0)
	}
	if _, ok := l.Allow(a, t0); !ok {
		t.Fatalf("after one wrong credential repeated: refused")
	}
	for i := range 2 {
		l.Fail(a, guess(i), t0)
	}
	if wait, ok := l.Allow(a, t0); ok || wait != time.Second {
		t.Errorf("after the repeated one and two guesses with a burst of 3: got ok=%v wait %s, want refused for 1s", ok, wait)
	}
	// Four newer failures push it out of the bucket's memory.
	for i := range recentFailures {
		l.Fail(a, guess(10+i), t0.Add(10*time.Second))
	}
	before, _ := l.Allow(a, t0.Add(10*time.Second))
	l.Fail(a, "stale-token", t0.Add(10*time.Second))
	if after, _ := l.Allow(a, t0.Add(10*time.Second)); after != before+time.Second {
		t.Errorf("a forgotten credential: wait %s after it, want %s", after, before+time.Second)
	}
}

// Take and Failed, the login's way: a wrong credential repeated gets its
// attempt back, a new one does not.
func TestFailedRefundsARepeat(t *testing.T) {
	t.Parallel()
	l := New(Config{Every: time.Second, Burst: 3})
	a := ClientKey("", addr("192.0.2.1"))
	for range 100 {
		if _, ok := l.Take(a, t0); !ok {
			t.Fatalf("the same wrong credential, taken again: refused")
		}
		l.Failed(a, "typo", t0)
	}
	for i := range 2 {
		if _, ok := l.Take(a, t0); !ok {
			t.Fatalf("guess %d: refused", i)
		}
		l.Failed(a, guess(i), t0)
	}
	if wait, ok := l.Take(a, t0); ok || wait != time.Second {
		t.Errorf("after the repeated one and two guesses with a burst of 3: got ok=%v wait %s, want refused for 1s", ok, wait)
	}
}
