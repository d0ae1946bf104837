package ui

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/herald"
)

func TestSessionCookieCannotBeForged(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 5, 1, 10, 0, 0, 0, time.UTC)
	s := &Server{secret: []byte("k1"), now: func() time.Time { return now }}
	other := &Server{secret: []byte("k2"), now: s.now}
	sess := session{Kind: kindPortal, AppID: "app_1", TokenHash: "abcd", Expires: now.Add(time.Hour), Nonce: "n1"}
	v := s.encode(sess)
	if got, ok := s.decode(v); !ok || got.AppID != "app_1" || got.Kind != kindPortal || !got.Expires.Equal(sess.Expires) {
		t.Fatalf("decode own cookie: got %+v, %v; want the session back", got, ok)
	}
	payload, sig, _ := strings.Cut(v, ".")
	swapped := s.encode(session{Kind: kindPortal, AppID: "app_2", TokenHash: "abcd", Expires: sess.Expires, Nonce: "n1"})
	otherPayload, _, _ := strings.Cut(swapped, ".")
	for _, tc := range []struct {
		name, value string
	}{
		{"other secret", other.encode(sess)},
		{"payload of another session", otherPayload + "." + sig},
		{"no signature", payload},
		{"empty", ""},
		{"garbage", "!!!.???"},
	} {
		if _, ok := s.decode(tc.value); ok {
			t.Errorf("%s: got a valid session, want rejection", tc.name)
		}
	}
	now = now.Add(2 * time.Hour)
	if _, ok := s.decode(v); ok {
		t.Errorf("expired session: got valid, want rejection")
	}
	if s.csrfToken(sess) == other.csrfToken(sess) || s.csrfToken(sess) == s.csrfToken(session{Kind: kindPortal, Nonce: "n2"}) {
		t.Errorf("CSRF tokens: want them bound to the secret and the session")
	}
}

func TestLocalPath(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"/ui/failed", true},
		{"/ui/apps/app_1/messages/msg_1?x=1", true},
		{"/ui", false},
		{"//evil.example/ui/", false},
		{"https://evil.example/ui/", false},
		{"/ui/\\evil", false},
		{"/ui/\r\nSet-Cookie: x", false},
		{"", false},
	} {
		if got := localPath(tc.in); got != tc.want {
			t.Errorf("localPath(%q): got %v, want %v", tc.in, got, tc.want)
		}
	}
}

// manyHeaders writes n distinct header lines, and manyHeaderMap is what
// they parse to.
func manyHeaders(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "X-H%d: v\n", i)
	}
	return b.String()
}

func manyHeaderMap(n int) map[string]string {
	m := map[string]string{}
	for i := range n {
		m[fmt.Sprintf("X-H%d", i)] = "v"
	}
	return m
}

func TestParseHeaders(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in      string
		want    map[string]string
		problem string
	}{
		{"", map[string]string{}, ""},
		{"X-Api-Key: abc\n\n x-tenant :  42 \n", map[string]string{"X-Api-Key": "abc", "X-Tenant": "42"}, ""},
		{"Authorization: Bearer a:b", map[string]string{"Authorization": "Bearer a:b"}, ""},
		{"no colon here", nil, "one header per line"},
		{": x", nil, "one header per line"},
		{"Bad Name: x", nil, "not a valid HTTP header name"},
		{"Webhook-Signature: v1,x", nil, "set by Herald"},
		{"content-type: text/plain", nil, "set by Herald"},
		{"X-Token: a\x01b", nil, "control character"},
		{"X-Token: a\rb", nil, "control character"},
		{"X-Token: a\tb", map[string]string{"X-Token": "a\tb"}, ""},
		// The API's rules (herald.CheckHeader), not a list of the form's own.
		{"X-Forwarded-For: 6.6.6.6", nil, "set by Herald"},
		{"Webhook-Version: 2", nil, "set by Herald"},
		{"Svix-Foo: x", nil, "set by Herald"},
		{"Expect: 100-continue", nil, "set by Herald"},
		{"Upgrade: h2c", nil, "set by Herald"},
		{"Keep-Alive: 5", nil, "set by Herald"},
		{"X-Big: " + strings.Repeat("a", 4097), nil, "at most 4096 characters"},
		{"X-Big: " + strings.Repeat("a", 4096), map[string]string{"X-Big": strings.Repeat("a", 4096)}, ""},
		{strings.Repeat("a", 257) + ": x", nil, "1 to 256 characters"},
		{"X-Odd!#$%&'*+.^_`|~: v", map[string]string{"X-Odd!#$%&'*+.^_`|~": "v"}, ""},
		{manyHeaders(64), manyHeaderMap(64), ""},
		{manyHeaders(65), nil, "at most 64 custom headers"},
		{manyHeaders(64) + "x-h0: v", manyHeaderMap(64), ""}, // one header, spelled twice
	} {
		got, err := parseHeaders(tc.in)
		if tc.problem != "" {
			if err == nil || !strings.Contains(herald.ErrorDetail(err), tc.problem) {
				t.Errorf("parseHeaders(%q): got error %v, want one saying %q", tc.in, err, tc.problem)
			}
			continue
		}
		if err != nil || len(got) != len(tc.want) {
			t.Errorf("parseHeaders(%q): got %v, %v; want %v", tc.in, got, err, tc.want)
			continue
		}
		for k, v := range tc.want {
			if got[k] != v {
				t.Errorf("parseHeaders(%q)[%s]: got %q, want %q", tc.in, k, got[k], v)
			}
		}
	}
	if text := headerText(map[string]string{"B": "2", "A": "1"}); text != "A: 1\nB: 2\n" {
		t.Errorf("headerText: got %q, want sorted lines", text)
	}
}

func TestChartScale(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want float64 }{
		{0, 1}, {0.4, 1}, {1, 1}, {1.2, 2}, {3, 5}, {7.5, 10}, {10, 10}, {11, 20}, {4200, 5000},
	} {
		if got := niceCeil(tc.in); got != tc.want {
			t.Errorf("niceCeil(%v): got %v, want %v", tc.in, got, tc.want)
		}
	}
	for _, tc := range []struct {
		code  int
		class herald.ErrorClass
		want  string
	}{
		{200, "", "200 OK"},
		{503, "", "503 Service Unavailable"},
		{0, herald.ErrClassTimeout, "timeout"},
		{0, herald.ErrClassForbidden, "forbidden address"},
		{0, "", "no response"},
	} {
		if got := codeText(tc.code, tc.class); got != tc.want {
			t.Errorf("codeText(%d, %q): got %q, want %q", tc.code, tc.class, got, tc.want)
		}
	}
}

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	b := setup(t)
	s, err := New(Config{Store: b.db, Engine: fakeEngine{wake: func() {}, invalidate: func(string) {}}, AdminToken: "x"})
	if err != nil {
		t.Fatalf("new: %v", err)
	}
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/ui/login", nil))
	for name, want := range map[string]string{
		"X-Frame-Options":        "DENY",
		"X-Content-Type-Options": "nosniff",
		"Cache-Control":          "no-store",
	} {
		if got := w.Header().Get(name); got != want {
			t.Errorf("%s: got %q, want %q", name, got, want)
		}
	}
	if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("Content-Security-Policy: got %q, want scripts from this site only and no framing", csp)
	}
}

func TestFailedLoginsAreLimited(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := b.client(t)
	limited := false
	for i := 0; i < 20 && !limited; i++ {
		page := c.get(t, "/ui/login")
		r := c.post(t, "/ui/login", map[string][]string{"_csrf": {csrf(t, page)}, "token": {guess()}})
		limited = r.status == 429
	}
	if !limited {
		t.Fatalf("20 wrong tokens in a row: got no 429, want the login limited")
	}
	page := c.get(t, "/ui/login")
	if r := c.post(t, "/ui/login", map[string][]string{"_csrf": {csrf(t, page)}, "token": {testAdminToken}}); r.status != 429 {
		t.Errorf("right token while limited: got %d, want 429", r.status)
	}
}

func TestSameOrigin(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, origin, referer, forwarded string
		want                             bool
	}{
		{"no origin or referer", "", "", "", true},
		{"same host", "http://herald.local:8080", "", "", true},
		{"referer of the same host", "", "http://herald.local:8080/ui/", "", true},
		{"other host", "https://evil.example", "", "", false},
		{"opaque origin", "null", "", "", false},
		{"the proxy's public host", "https://hooks.example.com", "", "hooks.example.com", true},
		{"other host behind a proxy", "https://evil.example", "", "hooks.example.com", false},
	} {
		r := httptest.NewRequest("POST", "http://herald.local:8080/ui/login", nil)
		if tc.origin != "" {
			r.Header.Set("Origin", tc.origin)
		}
		if tc.referer != "" {
			r.Header.Set("Referer", tc.referer)
		}
		if tc.forwarded != "" {
			r.Header.Set("X-Forwarded-Host", tc.forwarded)
		}
		if got := sameOrigin(r); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestSecureCookies(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, secure := range []bool{false, true} {
		s, err := New(Config{Store: b.db, Engine: fakeEngine{wake: func() {}, invalidate: func(string) {}}, AdminToken: "x", SecureCookies: secure})
		if err != nil {
			t.Fatalf("new: %v", err)
		}
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/ui/login", nil))
		c := w.Header().Get("Set-Cookie")
		if got := strings.Contains(c, "; Secure"); got != secure {
			t.Errorf("SecureCookies %v: got cookie %q, want Secure %v", secure, c, secure)
		}
		if !strings.Contains(c, "HttpOnly") || !strings.Contains(c, "SameSite=Lax") {
			t.Errorf("login cookie: got %q, want HttpOnly and SameSite=Lax", c)
		}
	}
}
