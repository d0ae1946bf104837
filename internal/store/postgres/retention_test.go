package postgres

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/herald"
)

// Retention's statements run one-shot, each planned for its arguments:
// on tables where few messages have expired and many deliveries are open,
// they must read messages by expiry, and deliveries and attempts by
// message, not whole, nor all the open deliveries.
func TestExpireMessagesUsesIndexes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openTest(t)
	for _, q := range []string{
		`INSERT INTO messages (id, app_id, event_type, payload, created_at, expires_at)
		SELECT 'msg_' || g, 'app', 'x', '\x7b7d', g, CASE WHEN g <= 200 THEN g ELSE 1000000 + g END
		FROM generate_series(1, 20000) AS g`,
		`INSERT INTO deliveries (msg_id, endpoint_id, app_id, status, created_at, updated_at)
		SELECT m.id, 'ep_' || e, 'app', CASE WHEN m.created_at > 15000 THEN 1 ELSE 0 END, 0, 0
		FROM messages m, generate_series(1, 2) AS e`,
		`INSERT INTO attempts (id, msg_id, endpoint_id, app_id, url, status, created_at)
		SELECT 'atmpt_' || d.msg_id || d.endpoint_id, d.msg_id, d.endpoint_id, 'app', 'https://example.com/', 0, 0
		FROM deliveries d`,
		`ANALYZE messages, deliveries, attempts`,
	} {
		if _, err := db.pool.Exec(ctx, q); err != nil {
			t.Fatalf("fill: %v", err)
		}
	}
	ids := []string{"msg_1", "msg_2", "msg_3", "msg_4", "msg_5", "msg_6", "msg_7", "msg_8"}
	plans := map[string]struct {
		sql   string
		args  []any
		index string
	}{
		"expired page":      {lockExpiredPage, []any{int64(1000), eventIDWindow.Milliseconds(), 64}, "messages_expires"},
		"hold event IDs":    {holdEventIDs, []any{ids, eventIDWindow.Milliseconds()}, "messages_pkey"},
		"expire attempts":   {deleteExpiredAttempts, []any{ids, 1000}, "attempts_msg"},
		"expire deliveries": {deleteExpiredDeliveries, []any{ids, 1000}, "deliveries_pkey"},
		"expire messages":   {deleteExpiredMessages, []any{ids}, "messages_pkey"},
	}
	byMessage := map[string]bool{"messages_expires": true, "messages_pkey": true, "deliveries_pkey": true,
		"attempts_msg": true, "attempts_pkey": true}
	for name, p := range plans {
		rows, err := db.pool.Query(ctx, "EXPLAIN "+p.sql, append([]any{oneShot}, p.args...)...)
		if err != nil {
			t.Fatalf("explain %s: %v", name, err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatalf("explain %s: %v", name, err)
		}
		plan := strings.Join(lines, "\n")
		if growingScan.MatchString(plan) {
			t.Errorf("%s: the plan scans a growing table:\n%s", name, plan)
		}
		if !strings.Contains(plan, p.index) {
			t.Errorf("%s: the plan does not use %s:\n%s", name, p.index, plan)
		}
		// Any other index of deliveries (those of open deliveries,
		// say) reads rows of messages that have not expired.
		for _, m := range indexUsed.FindAllStringSubmatch(plan, -1) {
			if !byMessage[m[1]] {
				t.Errorf("%s: the plan reads %s, not an index by message or expiry:\n%s", name, m[1], plan)
			}
		}
	}
}

// indexUsed matches the index each step of a plan reads.
var indexUsed = regexp.MustCompile(`(?:Scan using|Bitmap Index Scan on) (\w+)`)

// TestResendWaitsForAMessageBeingDeleted: retention deletes a message it
// holds FOR UPDATE, and no foreign key ties a delivery to its message. A
// resend of that message, to an endpoint it never went to, must wait for
// the delete and then find no message, not leave a pending delivery of a
// message that is gone (never sent, and never deleted by retention).
func TestResendWaitsForAMessageBeingDeleted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openTest(t, func(c *Config) { c.MaxConns = 10 })
	w := newWorld(t, db, 2)
	m, ds := w.message(w.t0)
	if err := db.Publish(ctx, m, ds[:1], "", time.Time{}); err != nil {
		t.Fatal(err)
	}

	// Retention's delete, in progress.
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	for _, q := range []string{`SELECT id FROM messages WHERE id = $1 FOR UPDATE`,
		`DELETE FROM deliveries WHERE msg_id = $1`, `DELETE FROM messages WHERE id = $1`} {
		if _, err := tx.Exec(ctx, q, m.ID); err != nil {
			t.Fatal(err)
		}
	}
	var xid string
	if err := tx.QueryRow(ctx, `SELECT pg_current_xact_id()::text`).Scan(&xid); err != nil {
		t.Fatal(err)
	}

	returned := make(chan error, 1)
	go func() { returned <- db.Resend(ctx, w.app.ID, m.ID, w.eps[1].ID, w.t0.Add(time.Minute)) }()
	waitBlocked(t, db, returned, "the resend, with the message's delete in flight,", `SELECT count(*) FROM pg_locks
		WHERE locktype = 'transactionid' AND NOT granted AND transactionid::text = $1`, xid)
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-returned; !errors.Is(err, herald.ErrNotFound) {
		t.Errorf("resend of a message deleted meanwhile: got %v, want ErrNotFound", err)
	}
	var left int
	if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM deliveries WHERE msg_id = $1`, m.ID).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Errorf("%d deliveries of the deleted message are left, want none", left)
	}
}
