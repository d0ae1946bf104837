package api

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/internal/store/postgres"
)

// TestNULOnPostgres checks that a NUL character (\u0000) in text that
// PostgreSQL stores is answered 422 with a reason, not 500: SQLite takes
// it, PostgreSQL cannot store it.
func TestNULOnPostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := postgres.Open(ctx, postgres.Config{URL: pgtest.URL(), Schema: pgtest.NewSchema(t), MaxConns: 4})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	srv := httptest.NewServer(New(Config{Store: st, Publisher: &fakePublisher{store: st}, AdminToken: adminToken}).Handler())
	t.Cleanup(srv.Close)
	b := &bundle{url: srv.URL, token: adminToken, store: st, http: srv.Client()}

	app := b.createApp(t, "acme", "acme")
	for _, c := range []struct{ path, body string }{
		{"/api/v1/app", `{"name":"a\u0000b"}`},
		{"/api/v1/event-type", `{"name":"user.created","description":"a\u0000b"}`},
		{"/api/v1/app/" + app + "/endpoint", `{"url":"https://example.com/hook","description":"a\u0000b"}`},
	} {
		r := b.call(t, "POST", c.path, c.body)
		if r.status != 422 || !strings.Contains(string(r.raw), "NUL") {
			t.Errorf("POST %s %s: got %d %s, want 422 naming the NUL character", c.path, c.body, r.status, r.raw)
		}
	}
}
