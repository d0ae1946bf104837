package sqlite

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// setOrdered turns ordering of endpoint id on or off as of at.
func setOrdered(ctx context.Context, db *DB, appID, id string, ordered bool, at time.Time) error {
	_, err := db.UpdateEndpoint(ctx, appID, id, func(ep *herald.Endpoint) error {
		ep.Ordered, ep.UpdatedAt = ordered, at
		return nil
	})
	return err
}

func TestParkedIsTheStoreConstant(t *testing.T) {
	if parked != strconv.FormatInt(store.ParkedMS, 10) {
		t.Fatalf("parked = %s, want store.ParkedMS %d", parked, store.ParkedMS)
	}
}

// An ordered endpoint's waiting deliveries stay out of what a claim walks,
// whichever way they came to wait, and each comes due when its turn does.
func TestOrderedBacklogWaitsOutOfTheDueHead(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := openTest(t, filepath.Join(t.TempDir(), "herald.db"))
	base := time.Now().UTC().Truncate(time.Millisecond)
	n := 2000
	fillBacklog(t, ctx, db, n, base)
	now := base.Add(time.Duration(n+1) * time.Millisecond)
	addDeliverable(t, ctx, db, 1, now)
	due := func() int {
		return countDeliveries(t, ctx, db, `status IN (1, 3) AND next_attempt_at <= ?`, ms(now))
	}

	must(t, setOrdered(ctx, db, "app_bulk", "ep_bulk", true, now))
	if got := due(); got != 2 {
		t.Fatalf("after ordering: %d rows due, want 2 (the ordered head and ep_up's)", got)
	}

	jobs, err := db.Claim(ctx, "node", now, time.Minute, 10)
	must(t, err)
	if len(jobs) != 2 {
		t.Fatalf("claim: %d jobs, want 2", len(jobs))
	}
	head := jobs[0]
	if head.Delivery.EndpointID != "ep_bulk" {
		head = jobs[1]
	}
	for i := 2; i <= 4; i++ {
		_, err := db.Record(ctx, []store.Result{success(head, now)})
		must(t, err)
		jobs, err = db.Claim(ctx, "node", now, time.Minute, 10)
		must(t, err)
		if want := "msg_" + pad(i); len(jobs) != 1 || jobs[0].Delivery.MsgID != want {
			t.Fatalf("claim after a success: %v, want only %s", jobIDs(jobs), want)
		}
		head = jobs[0]
		if got := due(); got != 0 {
			t.Fatalf("while %s is in flight: %d rows due, want 0", head.Delivery.MsgID, got)
		}
	}

	// A fresh delivery the engine hands back to the database is parked.
	msg := &herald.Message{ID: "msg_zzz", AppID: "app_bulk", EventType: "late", Payload: []byte(`{}`), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	must(t, db.Publish(ctx, msg, []herald.Delivery{{MsgID: msg.ID, EndpointID: "ep_bulk", AppID: "app_bulk", Status: herald.StatusPending, CreatedAt: now}}, "node", now.Add(time.Minute)))
	must(t, db.ReleaseLeases(ctx, "node", []store.DeliveryKey{{MsgID: msg.ID, EndpointID: "ep_bulk"}}))
	waiting := n - 4 + 1
	if got := countDeliveries(t, ctx, db, `next_attempt_at = ?`, store.ParkedMS); got != waiting {
		t.Fatalf("parked: %d, want %d", got, waiting)
	}
	// Their next attempt reads as unknown, not as the year 9999.
	msgs, err := db.ListEndpointMessages(ctx, "app_bulk", "ep_bulk", store.MessageFilter{Page: store.Page{Limit: 2}})
	must(t, err)
	for _, m := range msgs {
		if m.Status == herald.StatusPending && !m.NextAttemptAt.IsZero() && m.NextAttemptAt.Year() > 9000 {
			t.Errorf("%s: next attempt %v", m.Message.ID, m.NextAttemptAt)
		}
	}

	// Without ordering they all go.
	must(t, setOrdered(ctx, db, "app_bulk", "ep_bulk", false, now))
	if got := due(); got != waiting {
		t.Fatalf("after unordering: %d rows due, want %d", got, waiting)
	}
}

// A turn that comes without a final result for an ordered endpoint (here:
// ordering turned on while the head was in flight) waits for the claims'
// sweep of ordered heads, at most store.UnparkSweep.
func TestClaimsSweepParkedHeads(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := openTest(t, filepath.Join(t.TempDir(), "herald.db"))
	base := time.Now().UTC().Truncate(time.Millisecond)
	fillBacklog(t, ctx, db, 3, base)
	now := base.Add(time.Second)
	jobs, err := db.Claim(ctx, "node", now, time.Minute, 1)
	must(t, err)
	must(t, setOrdered(ctx, db, "app_bulk", "ep_bulk", true, now))
	_, err = db.Record(ctx, []store.Result{success(jobs[0], now)}) // claimed unordered
	must(t, err)

	if got, err := db.Claim(ctx, "node", now.Add(store.UnparkSweep-time.Millisecond), time.Minute, 10); err != nil || len(got) != 0 {
		t.Fatalf("claim before the sweep is due: %v, %v; want none", jobIDs(got), err)
	}
	got, err := db.Claim(ctx, "node", now.Add(store.UnparkSweep), time.Minute, 10)
	must(t, err)
	if want := "msg_" + pad(2); len(got) != 1 || got[0].Delivery.MsgID != want {
		t.Fatalf("claim at the sweep: %v, want only %s", jobIDs(got), want)
	}
}

func TestOrderedHeadLookupsUseIndexes(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := openTest(t, filepath.Join(t.TempDir(), "herald.db"))
	fillBacklog(t, ctx, db, 1000, time.Now())
	for name, q := range map[string]string{
		"unpark heads": sqlUnparkHeads,
		"unpark next":  sqlUnparkNext,
		"park waiting": sqlParkWaiting,
		"release":      sqlReleaseLease,
	} {
		plan := explain(t, ctx, db, q, 0, "ep_bulk", "node")
		for _, line := range strings.Split(plan, "\n") {
			if strings.Contains(line, "SCAN") && !strings.Contains(line, "INDEX") {
				t.Errorf("%s: scans a table:\n%s", name, plan)
			}
		}
	}
}

func success(j store.Job, at time.Time) store.Result {
	return store.Result{
		Attempt: herald.Attempt{
			ID: herald.NewID(herald.PrefixAttempt, at), MsgID: j.Delivery.MsgID, EndpointID: j.Delivery.EndpointID,
			AppID: j.Delivery.AppID, URL: j.Endpoint.URL, Status: herald.StatusSuccess, StatusCode: 200, CreatedAt: at,
		},
		Outcome:  herald.Outcome{Status: herald.StatusSuccess},
		Attempts: j.Delivery.Attempts + 1,
		Ordered:  j.Endpoint.Ordered,
		Owner:    j.Delivery.LeaseOwner,
	}
}

func pad(i int) string { return strings.Repeat("0", 12-len(strconv.Itoa(i))) + strconv.Itoa(i) }

func jobIDs(jobs []store.Job) []string {
	var ids []string
	for _, j := range jobs {
		ids = append(ids, j.Delivery.MsgID)
	}
	return ids
}
