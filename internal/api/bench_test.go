package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/sqlite"
)

// nopPublisher accepts every message without storing it, so the benchmark
// measures the API's own cost on the publish path.
type nopPublisher struct{}

func (nopPublisher) Publish(context.Context, *herald.Message) error           { return nil }
func (nopPublisher) PublishTo(context.Context, *herald.Message, string) error { return nil }
func (nopPublisher) Wake()                                                    {}
func (nopPublisher) InvalidateEndpoints(string)                               {}
func (nopPublisher) InvalidateApplication(string)                             {}

// BenchmarkMessageCreate measures POST /api/v1/app/{app_id}/msg in process,
// from request to encoded 202, with the publish itself left out.
func BenchmarkMessageCreate(b *testing.B) {
	testNow := time.Now()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(b.TempDir(), "herald.db")})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	app := &herald.Application{ID: herald.NewID(herald.PrefixApp, testNow), UID: "bench", Name: "bench", CreatedAt: testNow, UpdatedAt: testNow}
	if err := st.CreateApplication(ctx, app); err != nil {
		b.Fatal(err)
	}
	h := New(Config{Store: st, Publisher: nopPublisher{}, AdminToken: adminToken}).Handler()
	body := []byte(`{"eventType":"user.signup","eventId":null,"payload":{"id":"usr_123","email":"ada@example.com","plan":"pro","seats":12}}`)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		req := httptest.NewRequest("POST", "/api/v1/app/bench/msg", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+adminToken)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusAccepted {
			b.Fatalf("got %d: %s", w.Code, w.Body)
		}
	}
}

// BenchmarkEndpointMessageEncode measures encoding a page of 50 of an
// endpoint's attempted messages, the hand-written encoder's list.
func BenchmarkEndpointMessageEncode(b *testing.B) {
	now := time.Now()
	page := make([]endpointMessageOut, 50)
	for i := range page {
		m := &store.EndpointMessage{
			Message: herald.Message{
				ID: herald.NewID(herald.PrefixMessage, now), EventID: "evt-1", EventType: "user.signup",
				Channels: []string{"project_1"}, Payload: []byte(`{"id":"usr_123","email":"ada@example.com","plan":"pro","seats":12}`),
				CreatedAt: now,
			},
			Status:        herald.StatusSending,
			NextAttemptAt: now.Add(time.Minute),
		}
		page[i] = endpointMessageOut{m: m, withContent: true}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(listOut[endpointMessageOut]{Data: page, Done: true}); err != nil {
			b.Fatal(err)
		}
	}
}
