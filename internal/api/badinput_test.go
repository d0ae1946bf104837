package api

import (
	"encoding/json"
	"strings"
	"testing"
)

// nested returns n arrays nested around a number: [[[1]]].
func nested(n int) string {
	return strings.Repeat("[", n) + "1" + strings.Repeat("]", n)
}

// TestBadInputRefusedWithReason sends malformed, hostile or oversized
// input to the writing routes. Each must get the listed 4xx with a reason
// in the body, and nothing may be stored: the application's endpoints and
// messages, the applications and the event types read the same after.
func TestBadInputRefusedWithReason(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.MaxBodyBytes = 64 << 10 })
	app := b.createApp(t, "Acme", "acme")
	ep := b.createEndpoint(t, app, map[string]any{})
	b.sendMessage(t, app, map[string]any{})
	b.createEventType(t, "user.signup", nil)

	const (
		appPath = "/api/v1/app"
		msgPath = "/api/v1/app/acme/msg"
		epsPath = "/api/v1/app/acme/endpoint"
		etPath  = "/api/v1/event-type"
	)
	epPath := epsPath + "/" + ep
	tests := []struct {
		name, method, path, body string
		status                   int
		reason                   string // in the response body
	}{
		{"deep payload", "POST", msgPath, `{"eventType":"a","payload":{"x":` + nested(10000) + `}}`, 422, "deeper than 128"},
		{"payload one level too deep", "POST", msgPath, `{"eventType":"a","payload":{"x":` + nested(127) + `}}`, 422, "deeper than 128"},
		{"deep endpoint field", "POST", epsPath, `{"url":"https://example.com","metadata":` + nested(10000) + `}`, 422, "deeper than 128"},
		{"deep patch", "PATCH", epPath, `{"description":` + nested(200) + `}`, 422, "deeper than 128"},
		{"deep application", "POST", appPath, `{"name":"x","metadata":{"a":` + nested(129) + `}}`, 422, "deeper than 128"},
		{"invalid UTF-8 in a field", "POST", appPath, "{\"name\":\"bad \xff\xfe name\"}", 422, "not valid UTF-8"},
		{"invalid UTF-8 in a payload", "POST", msgPath, "{\"eventType\":\"a\",\"payload\":{\"k\":\"\xc3\x28\"}}", 422, "not valid UTF-8"},
		{"invalid UTF-8 in a key", "POST", epsPath, "{\"url\":\"https://example.com\",\"metadata\":{\"\xed\xa0\x80\":\"v\"}}", 422, "not valid UTF-8"},
		{"invalid UTF-8 in an event type", "POST", etPath, "{\"name\":\"a.b\",\"description\":\"\x80\"}", 422, "not valid UTF-8"},
		{"unknown message field", "POST", msgPath, `{"eventType":"a","payload":{},"deliverNow":true}`, 422, `Unknown field \"deliverNow\"`},
		{"unknown endpoint field", "POST", epsPath, `{"url":"https://example.com","sekret":"whsec_x"}`, 422, `Unknown field \"sekret\"`},
		{"unknown patch field", "PATCH", epPath, `{"urll":"https://evil.example"}`, 422, `Unknown field \"urll\"`},
		{"unknown nested field", "POST", msgPath, `{"eventType":"a","payload":{},"application":{"name":"n","bogus":1}}`, 422, `Unknown field \"bogus\"`},
		{"unknown application field", "POST", appPath, `{"name":"x","owner":"me"}`, 422, `Unknown field \"owner\"`},
		{"unknown event type field", "POST", etPath, `{"name":"a.c","description":"d","color":"red"}`, 422, `Unknown field \"color\"`},
		{"trailing data", "POST", appPath, `{"name":"x"} {"name":"y"}`, 400, "after the JSON value"},
		{"not an object", "POST", epsPath, `["https://example.com"]`, 422, "must be an object, got array"},
		{"wrong type", "POST", epsPath, `{"url":42}`, 422, "url"},
		{"truncated", "POST", msgPath, `{"eventType":"a","payload":{`, 400, "Invalid JSON"},
		{"empty", "POST", appPath, ``, 422, "empty"},
		{"oversized body", "POST", msgPath, `{"eventType":"a","payload":{"x":"` + strings.Repeat("a", 70<<10) + `"}}`, 413, "exceeds the limit"},
		{"oversized payload in a patch", "PATCH", epPath, `{"description":"` + strings.Repeat("d", 70<<10) + `"}`, 413, "exceeds the limit"},
		{"absurd limit", "GET", msgPath + "?limit=1000000000", ``, 422, "limit must be"},
		{"negative limit", "GET", epsPath + "?limit=-5", ``, 422, "limit must be"},
		{"limit overflow", "GET", appPath + "?limit=99999999999999999999999", ``, 422, "limit must be"},
	}
	before := b.snapshot(t, app)
	for _, tt := range tests {
		var body any
		if tt.body != "" {
			body = tt.body
		}
		r := b.call(t, tt.method, tt.path, body)
		if r.status != tt.status {
			t.Errorf("%s: got %d %.300s, want %d", tt.name, r.status, r.raw, tt.status)
			continue
		}
		if !strings.Contains(string(r.raw), tt.reason) {
			t.Errorf("%s: got body %.300s, want a reason containing %q", tt.name, r.raw, tt.reason)
		}
	}
	if after := b.snapshot(t, app); after != before {
		t.Errorf("the store changed:\nbefore %s\nafter  %s", before, after)
	}
}

// TestInputAliasesAndBoundsAccepted keeps what Svix SDKs and clients send
// working under the strict rules: the aliases Herald accepts, fields it
// ignores, payloads nested up to the limit and any valid UTF-8.
func TestInputAliasesAndBoundsAccepted(t *testing.T) {
	t.Parallel()
	b := setup(t)
	app := b.createApp(t, "Acme", "acme")
	b.createEventType(t, "a", nil)
	b.call(t, "POST", "/api/v1/app/"+app+"/endpoint", `{"url":"https://example.com","filterTypes":["a"],"rateLimit":5,"version":1}`).want(t, 201)
	b.call(t, "POST", "/api/v1/app", `{"name":"Globex ✓ 日本","rateLimit":3,"uid":"globex"}`).want(t, 201)
	// The payload sits at depth 2; nested(126) fills the rest to exactly 128.
	r := b.call(t, "POST", "/api/v1/app/"+app+"/msg",
		`{"eventType":"a","payload":{"x":`+nested(126)+`,"s":"é \ud83d\ude00 [{"},"tags":["t"],"transformationsParams":{"k":1}}`).want(t, 202)
	var out struct {
		Payload json.RawMessage `json:"payload"`
	}
	if err := json.Unmarshal(r.raw, &out); err != nil || !strings.Contains(string(out.Payload), nested(126)) {
		t.Errorf("payload: got %.200s (%v), want it stored as sent", out.Payload, err)
	}
}

// snapshot lists the IDs of everything the bad-input tests could create.
func (b *bundle) snapshot(t *testing.T, app string) string {
	t.Helper()
	var out []string
	for _, p := range []string{"/api/v1/app", "/api/v1/event-type", "/api/v1/app/" + app + "/endpoint", "/api/v1/app/" + app + "/msg"} {
		var page struct {
			Data []map[string]any `json:"data"`
		}
		r := b.call(t, "GET", p+"?limit=250", nil).want(t, 200)
		if err := json.Unmarshal(r.raw, &page); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		out = append(out, p+":")
		for _, d := range page.Data {
			raw, _ := json.Marshal(d)
			out = append(out, string(raw))
		}
	}
	return strings.Join(out, "\n")
}
