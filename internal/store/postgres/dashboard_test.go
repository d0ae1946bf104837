package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

func TestDashboardViews(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rec := &statementRecorder{}
	db := openTest(t, rec.attach)
	w := newWorld(t, db, 2)
	ok := w.publish(w.t0)
	failed := w.publish(w.t0.Add(time.Second))
	jobs, err := db.Claim(ctx, "node", w.t0.Add(time.Minute), time.Minute, 10)
	if err != nil || len(jobs) != 4 {
		t.Fatalf("claim: got %d jobs, %v; want 4", len(jobs), err)
	}
	var results []store.Result
	for i, j := range jobs {
		at := w.t0.Add(time.Minute + time.Duration(i)*time.Second)
		r := store.Result{Attempt: herald.Attempt{ID: herald.NewID(herald.PrefixAttempt, at), MsgID: j.Delivery.MsgID,
			EndpointID: j.Delivery.EndpointID, AppID: w.app.ID, URL: j.Endpoint.URL, Status: herald.StatusSuccess,
			StatusCode: 200, CreatedAt: at}, Outcome: herald.Outcome{Status: herald.StatusSuccess}, Attempts: 1, Owner: j.Delivery.LeaseOwner}
		if j.Delivery.MsgID == failed.ID {
			r.Attempt.Status, r.Attempt.StatusCode, r.Outcome.Status = herald.StatusFail, 500, herald.StatusFail
		}
		results = append(results, r)
	}
	if _, err := db.Record(ctx, results); err != nil {
		t.Fatalf("record: %v", err)
	}

	n, err := db.CountMessages(ctx, w.t0, w.t0.Add(time.Hour))
	if err != nil || n != 2 {
		t.Errorf("count messages: got %d, %v; want 2", n, err)
	}
	st, err := db.DeliveryStats(ctx, w.t0, w.t0.Add(time.Hour))
	if err != nil || st.Success != 2 || st.Fail != 2 {
		t.Errorf("delivery stats: got %+v, %v; want 2 success and 2 fail", st, err)
	}
	buckets, err := db.AttemptBuckets(ctx, w.t0, w.t0.Add(2*time.Minute), time.Minute)
	if err != nil || len(buckets) != 2 || buckets[0].Success+buckets[0].Fail != 0 || buckets[1].Success != 2 || buckets[1].Fail != 2 {
		t.Errorf("attempt buckets: got %+v, %v; want an empty minute, then 2 successes and 2 failures", buckets, err)
	}
	rows, err := db.ListAllMessages(ctx, store.DashboardMessageFilter{Page: store.Page{Limit: 10}})
	if err != nil || len(rows) != 2 || rows[0].Message.ID != failed.ID || rows[0].Stats.Fail != 2 || rows[1].Stats.Success != 2 {
		t.Errorf("all messages: got %+v, %v; want the failed message first with 2 fails, then %s with 2 successes", rows, err, ok.ID)
	}
	failStatus := herald.StatusFail
	rows, err = db.ListAllMessages(ctx, store.DashboardMessageFilter{Page: store.Page{Limit: 10}, Status: &failStatus})
	if err != nil || len(rows) != 1 || rows[0].Message.ID != failed.ID {
		t.Errorf("messages with a failed delivery: got %d rows, %v; want only %s", len(rows), err, failed.ID)
	}
	fails, err := db.ListFailed(ctx, store.FailedFilter{Limit: 1})
	if err != nil || len(fails) != 1 || fails[0].LastStatusCode != 500 || fails[0].AppName != "acme" {
		t.Fatalf("failed deliveries: got %+v, %v; want one row with code 500 of app acme", fails, err)
	}
	more, err := db.ListFailed(ctx, store.FailedFilter{Limit: 10, Iterator: fails[0].Cursor()})
	if err != nil || len(more) != 1 || more[0].Cursor() == fails[0].Cursor() {
		t.Errorf("failed deliveries after the cursor: got %+v, %v; want the other one", more, err)
	}
	keys, err := db.FailedEndpoints(ctx, w.t0)
	if err != nil || len(keys) != 2 {
		t.Errorf("failed endpoints: got %v, %v; want both endpoints", keys, err)
	}
	unhealthy, err := db.UnhealthyEndpoints(ctx, 10)
	if err != nil || len(unhealthy) != 2 || unhealthy[0].Endpoint.FailingSince.IsZero() {
		t.Errorf("unhealthy endpoints: got %+v, %v; want both, failing", unhealthy, err)
	}
	checkGenericPlans(t, rec, 10)
}
