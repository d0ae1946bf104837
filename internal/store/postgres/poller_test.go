package postgres

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// TestPollSequenceFollowsCommitOrder holds a publish's numbering open in a
// transaction that has not committed, and checks that a concurrent publish
// waits for it, whether it publishes or ingests from a source: otherwise
// the later message could commit first with a higher number, a poller
// would move past it, and the earlier message, committed afterwards with a
// lower number, would never be polled.
func TestPollSequenceFollowsCommitOrder(t *testing.T) {
	t.Parallel()
	writers := []struct {
		name  string
		write func(ctx context.Context, db *DB, msg *herald.Message) error
	}{
		{"publish", func(ctx context.Context, db *DB, msg *herald.Message) error {
			return db.Publish(ctx, msg, nil, "", time.Time{})
		}},
		{"ingest", func(ctx context.Context, db *DB, msg *herald.Message) error {
			src := &store.Source{ID: herald.NewID(herald.PrefixSource, msg.CreatedAt), AppID: msg.AppID, Name: "s",
				Verifier: json.RawMessage(`{"type":"github","secrets":["x"]}`), DedupeWindow: time.Hour,
				MaxBodyBytes: 1 << 20, CreatedAt: msg.CreatedAt, UpdatedAt: msg.CreatedAt}
			if err := db.CreateSource(ctx, src); err != nil {
				return err
			}
			ev := &store.InboundEvent{ID: herald.NewID(herald.PrefixInbound, msg.CreatedAt), SourceID: src.ID,
				ReceivedAt: msg.CreatedAt, EventType: "a", Body: []byte(`{}`), Headers: map[string][]string{}}
			_, err := db.Ingest(ctx, ev, msg, nil, "", time.Time{})
			return err
		}},
	}
	for _, w := range writers {
		t.Run(w.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			db := openTest(t)
			now := time.Now().UTC().Truncate(time.Millisecond)
			app := &herald.Application{ID: herald.NewID(herald.PrefixApp, now), Name: "seq", CreatedAt: now, UpdatedAt: now}
			if err := db.CreateApplication(ctx, app); err != nil {
				t.Fatal(err)
			}
			msg := func() *herald.Message {
				return &herald.Message{ID: herald.NewID(herald.PrefixMessage, now), AppID: app.ID, EventType: "a",
					Payload: []byte(`{}`), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
			}

			// The first publish, stopped between numbering and commit.
			first := msg()
			tx, err := db.pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = tx.Rollback(context.Background()) }()
			if _, err := tx.Exec(ctx, lockSeq); err != nil {
				t.Fatal(err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO messages (id, app_id, event_type, payload, created_at, seq)
				VALUES ($1, $2, 'a', '{}', $3, nextval('messages_seq_seq'))`, first.ID, app.ID, ms(now)); err != nil {
				t.Fatal(err)
			}

			// The second message must wait for the first's commit.
			second := msg()
			written := make(chan error, 1)
			go func() { written <- w.write(ctx, db, second) }()
			waitBlocked(t, db, written, "the second message, while the first held the numbering,", `SELECT count(*) FROM pg_locks
				WHERE locktype = 'advisory' AND NOT granted AND classid = $1
				AND objid::bigint = (hashtext(current_schema())::bigint & 4294967295)`, seqLockKey)
			if got := pollIDs(t, db, app.ID); len(got) != 0 {
				t.Errorf("before the first commit: got %v, want none", got)
			}

			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			if err := <-written; err != nil {
				t.Fatalf("second message: %v", err)
			}
			if got, want := pollIDs(t, db, app.ID), []string{first.ID, second.ID}; !slices.Equal(got, want) {
				t.Errorf("after both commits: got %v, want %v (commit order)", got, want)
			}
		})
	}
}

func pollIDs(t *testing.T, db *DB, appID string) []string {
	t.Helper()
	page, err := db.PollMessages(t.Context(), appID, store.PollFilter{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{}
	for _, m := range page.Messages {
		ids = append(ids, m.Message.ID)
	}
	return ids
}
