package api

import (
	"bytes"
	"context"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store/sqlite"
)

// FuzzDecodeInputs feeds arbitrary bodies to the decoding and validation
// of MessageIn and EndpointIn: they must never panic, and every rejection
// must be a client error, never a 5xx.
func FuzzDecodeInputs(f *testing.F) {
	for _, seed := range []string{
		`{"eventType":"user.signup","payload":{"a":1},"channels":["c"],"eventId":"e1"}`,
		`{"eventType":"a","payload":[],"payloadRetentionPeriod":5}`,
		`{"url":"https://example.com","filterTypes":["a"],"rateLimit":3,"secret":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}`,
		`{"url":"http://[::1]:80/x","channels":null,"uid":"u"}`,
		`{"payload":{"x":` + "\"\\ud800\"" + `}}`,
		`[1,2]`, `null`, `{"a":1} x`, `{"eventType":1e400}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		check := func(err error) {
			if err == nil {
				return
			}
			if status, _ := errorResponse(err); status >= 500 {
				t.Fatalf("body %q: got status %d (%v), want a 4xx", body, status, err)
			}
		}
		var msg messageIn
		err := decodeJSON(body, &msg)
		if err == nil {
			_, err = msg.validate()
		}
		check(err)

		var ep endpointIn
		err = decodeJSON(body, &ep)
		if err == nil {
			err = checkURL("url", ep.URL)
		}
		if err == nil && ep.Secret != nil {
			_, err = checkSecret("secret", *ep.Secret)
		}
		if err == nil && ep.Channels != nil {
			err = checkNames("channels", ep.Channels, 128, 1, 10)
		}
		check(err)

		var patch endpointPatch
		check(decodeJSON(body, &patch))
	})
}

// FuzzHandlers sends arbitrary bodies through the real handler (SQLite
// store, a publisher that accepts everything) to the message, endpoint
// and application routes: no input may cause a 5xx.
func FuzzHandlers(f *testing.F) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(f.TempDir(), "herald.db")})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = st.Close() })
	now := time.Now()
	app := &herald.Application{ID: herald.NewID(herald.PrefixApp, now), UID: "acme", Name: "Acme", CreatedAt: now, UpdatedAt: now}
	ep := &herald.Endpoint{ID: herald.NewID(herald.PrefixEndpoint, now), AppID: app.ID, URL: "https://example.com",
		Secrets: []herald.Secret{{Key: newSecret()}}, CreatedAt: now, UpdatedAt: now}
	if err := st.CreateApplication(ctx, app); err != nil {
		f.Fatal(err)
	}
	if err := st.CreateEndpoint(ctx, ep); err != nil {
		f.Fatal(err)
	}
	h := New(Config{Store: st, Publisher: nopPublisher{}, AdminToken: adminToken}).Handler()
	routes := []struct{ method, path string }{
		{"POST", "/api/v1/app/acme/msg"},
		{"POST", "/api/v1/app/acme/endpoint"},
		{"PATCH", "/api/v1/app/acme/endpoint/" + ep.ID},
		{"PUT", "/api/v1/app/acme/endpoint/" + ep.ID + "/headers"},
		{"PATCH", "/api/v1/app/acme"},
		{"POST", "/api/v1/event-type"},
	}
	for _, seed := range []string{
		`{"eventType":"user.signup","payload":{"a":1}}`,
		`{"url":"https://example.com","filterTypes":null,"rateLimit":3}`,
		`{"uid":null,"channels":["a"],"disabled":false}`,
		`{"headers":{"X-A":"b"}}`,
		`{"name":"x","description":"y","schemas":{"1":{}}}`,
	} {
		for i := range routes {
			f.Add(uint8(i), []byte(seed))
		}
	}
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		rt := routes[int(route)%len(routes)]
		req := httptest.NewRequest(rt.method, rt.path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+adminToken)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("%s %s %q: got %d %s, want no 5xx", rt.method, rt.path, body, w.Code, w.Body)
		}
	})
}
