package ui

import (
	"bytes"
	"fmt"
	"html"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// postRaw posts body with contentType to path on b's server.
func (c *client) postRaw(t *testing.T, path, contentType string, body []byte) resp {
	t.Helper()
	req, err := http.NewRequestWithContext(c.b.ctx, http.MethodPost, c.b.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	req.Header.Set("Content-Type", contentType)
	return c.do(t, req)
}

// multipartForm encodes fields as multipart/form-data.
func multipartForm(t *testing.T, fields url.Values) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for name, vs := range fields {
		for _, v := range vs {
			must(t, "write multipart field", mw.WriteField(name, v))
		}
	}
	must(t, "close multipart", mw.Close())
	return mw.FormDataContentType(), buf.Bytes()
}

// TestUnauthenticatedFormsAreSmall: the login form and the portal's key
// exchange are open to anyone, so what they read is capped well below
// what net/http would parse (10 MiB in memory, multipart spooled to
// disk without a cap): a 9 MiB form is refused with 413 and a message,
// and a multipart body, which no dashboard form sends, with 415.
func TestUnauthenticatedFormsAreSmall(t *testing.T) {
	t.Parallel()
	b := setup(t)
	huge := strings.Repeat("a", 9<<20)
	for _, path := range []string{"/ui/login", "/ui/portal/session"} {
		c := b.client(t)
		login := csrf(t, c.get(t, "/ui/login")) // sets the login cookie
		form := url.Values{csrfField: {login}, "token": {huge}}
		if path == "/ui/portal/session" {
			form = url.Values{"key": {portalTokenPrefix + huge}}
		}
		r := c.post(t, path, form)
		if r.status != http.StatusRequestEntityTooLarge || !strings.Contains(html.UnescapeString(r.body), "too large") {
			t.Errorf("POST %s with a 9 MiB form: got %d %.200q, want 413 saying the form is too large", path, r.status, r.body)
		}

		typ, body := multipartForm(t, url.Values{csrfField: {login}, "token": {testAdminToken}, "key": {portalTokenPrefix + "x"}})
		r = c.postRaw(t, path, typ, body)
		if r.status != http.StatusUnsupportedMediaType || !strings.Contains(r.body, "application/x-www-form-urlencoded") {
			t.Errorf("POST %s as multipart/form-data: got %d %.200q, want 415 naming the form encoding", path, r.status, r.body)
		}
		typ, body = multipartForm(t, url.Values{"file": {huge}})
		if r = c.postRaw(t, path, typ, body); r.status != http.StatusUnsupportedMediaType {
			t.Errorf("POST %s with a 9 MiB multipart body: got %d, want 415", path, r.status)
		}
		if r = c.postRaw(t, path, "text/plain", []byte("token="+testAdminToken)); r.status != http.StatusUnsupportedMediaType {
			t.Errorf("POST %s as text/plain: got %d, want 415", path, r.status)
		}
	}
	// The right token still logs in with the form the page sends.
	b.login(t)
}

// TestSessionFormsAreLimited: forms behind a session are refused as
// multipart, and past the dashboard's limit with 413, while the largest
// form a session can legitimately send (an endpoint's 64 custom headers
// at their longest, every byte percent-encoded) still saves.
func TestSessionFormsAreLimited(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c, token := b.login(t)
	path := "/ui/apps/" + b.a.ID + "/endpoints/" + b.a1.ID + "/headers"

	typ, body := multipartForm(t, url.Values{csrfField: {token}, "headers": {"X-Team: billing"}})
	if r := c.postRaw(t, path, typ, body); r.status != http.StatusUnsupportedMediaType {
		t.Errorf("headers form as multipart/form-data: got %d, want 415", r.status)
	}
	ep, err := b.db.GetEndpoint(b.ctx, b.a.ID, b.a1.ID)
	must(t, "get endpoint", err)
	if len(ep.Headers) != 0 {
		t.Errorf("headers after a refused multipart form: got %v, want none", ep.Headers)
	}

	if r := c.post(t, path, url.Values{csrfField: {token}, "headers": {"X-Big: " + strings.Repeat("a", 2<<20)}}); r.status != http.StatusRequestEntityTooLarge ||
		!strings.Contains(html.UnescapeString(r.body), "too large") {
		t.Errorf("a 2 MiB headers form: got %d %.200q, want 413 saying the form is too large", r.status, r.body)
	}

	// 64 headers, each a 256-byte name and a 4096-byte value, with
	// characters that form encoding triples.
	var text strings.Builder
	for i := range 64 {
		fmt.Fprintf(&text, "X%02d%s: %s\n", i, strings.Repeat("*", 253), strings.Repeat("é", 2048))
	}
	form := url.Values{csrfField: {token}, "headers": {text.String()}}
	if n := len(form.Encode()); n < 800<<10 {
		t.Fatalf("largest headers form: %d bytes encoded, want the worst case (over 800 KiB)", n)
	}
	if r := c.post(t, path, form); r.status != http.StatusSeeOther {
		t.Fatalf("largest headers form: got %d %.300q, want 303 (saved)", r.status, r.body)
	}
	ep, err = b.db.GetEndpoint(b.ctx, b.a.ID, b.a1.ID)
	must(t, "get endpoint", err)
	if len(ep.Headers) != 64 {
		t.Errorf("headers after the largest form: got %d, want 64", len(ep.Headers))
	}
}
