package inbound

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/heraldhq/herald/internal/delivery"
	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/postgres"
	"github.com/heraldhq/herald/internal/store/sqlite"
)

// TestHandlerStoresNUL checks that a signed event whose extracted fields
// hold text PostgreSQL cannot store (a NUL character, invalid UTF-8) is
// stored and acknowledged on both stores, with those fields made storable
// (the dedupe key by digest) and the body kept byte for byte; a 500 would
// make the provider retry it forever.
func TestHandlerStoresNUL(t *testing.T) {
	t.Parallel()
	stores := map[string]func(t *testing.T) store.Store{
		"sqlite": func(t *testing.T) store.Store {
			db, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(t.TempDir(), "herald.db")})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = db.Close() })
			return db
		},
		"postgres": func(t *testing.T) store.Store {
			db, err := postgres.Open(context.Background(), postgres.Config{URL: pgtest.URL(), Schema: pgtest.NewSchema(t), MaxConns: 4})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = db.Close() })
			return db
		},
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := open(t)
			now := time.Now()
			if err := st.CreateApplication(ctx, &herald.Application{ID: "app_1", Name: "acme", CreatedAt: now, UpdatedAt: now}); err != nil {
				t.Fatal(err)
			}
			if err := st.CreateSource(ctx, &store.Source{ID: "src_1", UID: "stripe", AppID: "app_1", Name: "Stripe",
				Verifier:     json.RawMessage(`{"type":"stripe","secrets":["` + stripeSecret + `"]}`),
				DedupeWindow: DefaultDedupeWindow, CreatedAt: now, UpdatedAt: now}); err != nil {
				t.Fatal(err)
			}
			e, err := delivery.New(delivery.Config{Store: st, PollInterval: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			if err := e.Start(ctx); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_ = e.Stop(ctx)
			})
			h, err := NewHandler(HandlerConfig{Sources: st, Publisher: e, SourceCacheTTL: -1})
			if err != nil {
				t.Fatal(err)
			}

			const body = `{"id":"evt_\u0000\ud800","type":"invoice.paid\u0000x","data":{"object":{}}}`
			post := func() (string, bool) {
				t.Helper()
				r := stripeRequest("stripe", time.Now(), body)
				r.Header.Set("Content-Type", "application/json; charset=\xff")
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					t.Fatalf("status: got %d %s, want 200", w.Code, w.Body)
				}
				var out struct {
					ID        string
					Duplicate bool
				}
				if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
					t.Fatal(err)
				}
				return out.ID, out.Duplicate
			}
			id, dup := post()
			if dup {
				t.Fatal("first request: got duplicate, want accepted")
			}
			ev, err := st.GetInboundEvent(ctx, "src_1", id)
			if err != nil {
				t.Fatal(err)
			}
			if string(ev.Body) != body {
				t.Errorf("body: got %q, want the raw body %q", ev.Body, body)
			}
			for what, s := range map[string]string{"event type": ev.EventType, "dedupe key": ev.DedupeKey} {
				if strings.ContainsRune(s, 0) || !utf8.ValidString(s) {
					t.Errorf("%s %q: want valid UTF-8 without NUL", what, s)
				}
			}
			// The id holds NUL, so its key is its digest (see dedupeKey).
			if !strings.HasPrefix(ev.EventType, "invoice.paid") || !strings.HasSuffix(ev.EventType, "x") ||
				!strings.HasPrefix(ev.DedupeKey, "sha256:") || len(ev.DedupeKey) != len("sha256:")+64 {
				t.Errorf("event: got type %q, key %q; want the provider's type with NUL replaced and the id's digest", ev.EventType, ev.DedupeKey)
			}
			msg, err := st.GetMessage(ctx, "app_1", ev.MsgID)
			if err != nil {
				t.Fatal(err)
			}
			if string(msg.Payload) != body || msg.EventType != ev.EventType || !utf8.ValidString(msg.ContentType) {
				t.Errorf("message: got type %q, content type %q, payload %q; want the event's type and the raw body",
					msg.EventType, msg.ContentType, msg.Payload)
			}
			if _, dup := post(); !dup {
				t.Error("repeat: got accepted, want a duplicate of the same dedupe key")
			}
		})
	}
}

func TestStorable(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                  "",
		"invoice.paid":      "invoice.paid",
		"caf\u00e9 ✓":       "caf\u00e9 ✓",
		"invoice.paid\x00x": "invoice.paid\uFFFDx",
		"\x00\x00":          "\uFFFD\uFFFD",
		"a\xffb":            "a\uFFFDb",
		"a\xed\xa0\x80b":    "a\uFFFDb", // an encoded surrogate is not UTF-8
	} {
		if got := storable(in); got != want {
			t.Errorf("storable(%q): got %q, want %q", in, got, want)
		}
	}
}
