package postgres

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// TestIngestGroupIsolatesOversizedKey commits a group of ingests, one with
// a dedupe key too large for a btree index row (SQLSTATE 54000, which the
// verifier's digest prevents but a caller could still pass): that ingest
// fails alone and the others in the same transaction are stored. The group
// is passed to runIngest directly, so it is one batch every time.
func TestIngestGroupIsolatesOversizedKey(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	t0 := time.Now()
	app := &herald.Application{ID: herald.NewID(herald.PrefixApp, t0), Name: "a", CreatedAt: t0, UpdatedAt: t0}
	if err := db.CreateApplication(ctx, app); err != nil {
		t.Fatal(err)
	}
	src := &store.Source{ID: herald.NewID(herald.PrefixSource, t0), AppID: app.ID, Name: "gh",
		Verifier: json.RawMessage(`{"type":"github","secrets":["s"]}`), DedupeWindow: 72 * time.Hour,
		MaxBodyBytes: 1 << 20, CreatedAt: t0, UpdatedAt: t0}
	if err := db.CreateSource(ctx, src); err != nil {
		t.Fatal(err)
	}
	// Random, so PostgreSQL cannot compress the index row under its limit.
	raw := make([]byte, 6000)
	_, _ = rand.Read(raw)
	huge := base64.StdEncoding.EncodeToString(raw) // 8000 bytes

	const n, bad = 4, 1
	ops := make([]*ingestOp, n)
	for i := range ops {
		at := t0.Add(time.Duration(i) * time.Millisecond)
		key := fmt.Sprintf("delivery-%d", i)
		if i == bad {
			key = huge
		}
		ev := &store.InboundEvent{ID: herald.NewID(herald.PrefixInbound, at), SourceID: src.ID, ReceivedAt: at,
			DedupeKey: key, DedupeUntil: at.Add(src.DedupeWindow), EventType: "push", Body: []byte(`{}`)}
		msg := &herald.Message{ID: herald.NewID(herald.PrefixMessage, at), AppID: app.ID, EventType: "push",
			Payload: []byte(`{}`), CreatedAt: at, ExpiresAt: at.Add(time.Hour)}
		ops[i] = &ingestOp{ev: ev, headers: "{}", pub: publishOp{msg: msg}}
	}
	errs := db.runIngest(ctx, ops)
	for i, err := range errs {
		if i == bad {
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) || pgErr.Code != "54000" {
				t.Errorf("ingest with a %d-byte key: got %v, want SQLSTATE 54000", len(huge), err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ingest %d, sharing the group with the oversized key: %v", i, err)
			continue
		}
		if _, err := db.GetInboundEvent(ctx, src.ID, ops[i].ev.ID); err != nil {
			t.Errorf("ingest %d: stored event: %v", i, err)
		}
	}
}
