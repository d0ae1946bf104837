package inbound

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// TestHandlerTwilioUnparseableHost checks that a Host header Go's server
// accepts but url.Parse does not ("[") is refused like a bad signature:
// 401, counted, logged rate-limited, not 500 with an error line per
// request that anyone who knows the ingest URL could flood the log with.
func TestHandlerTwilioUnparseableHost(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	src := &store.Source{ID: "src_tw", UID: "tw", AppID: "app_1", Name: "Twilio", DedupeWindow: DefaultDedupeWindow,
		Verifier: json.RawMessage(`{"type":"twilio","secrets":["twilio-token"]}`)}
	h, err := NewHandler(HandlerConfig{
		Sources: fakeSources{get: func(string) (*store.Source, error) { return src, nil }},
		Publisher: fakePublisher{publish: func(*store.InboundEvent, *herald.Message) (bool, error) {
			t.Error("an unverifiable request was published")
			return false, nil
		}},
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:    clock(t0),
	})
	if err != nil {
		t.Fatal(err)
	}
	const n = 20
	for i := range n {
		r := httptest.NewRequest(http.MethodPost, "/in/tw", strings.NewReader("a=b"))
		r.Host = "["
		// One client each: a client's repeated failures are limited
		// (429), which is not what this test is about.
		r.RemoteAddr = "192.0.2." + strconv.Itoa(i+1) + ":40000"
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("X-Twilio-Signature", "AAAA")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusUnauthorized {
			t.Fatalf("request %d: got %d %s, want 401", i, w.Code, w.Body)
		}
	}
	if got := h.Refusals("src_tw"); len(got) != 1 || got[0].Reason != reasonBad || got[0].Count != n {
		t.Errorf("Refusals: got %+v, want %d %q", got, n, reasonBad)
	}
	if lines := strings.Count(logs.String(), "\n"); lines > 1 || strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("log: got %d lines, want at most one refusal line and no error:\n%s", lines, logs.String())
	}
}
