package ui_test

import (
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

type storeResult = store.Result

// seedResult is the recorded attempt of job j at at.
func seedResult(j store.Job, at time.Time, code int, out herald.Outcome) store.Result {
	st := herald.StatusFail
	body := `{"error":"service unavailable"}`
	if out.Status == herald.StatusSuccess {
		st, body = herald.StatusSuccess, `{"ok":true}`
	}
	return store.Result{Attempt: herald.Attempt{
		ID: herald.NewID(herald.PrefixAttempt, at), MsgID: j.Delivery.MsgID, EndpointID: j.Delivery.EndpointID,
		AppID: j.Delivery.AppID, URL: j.Endpoint.URL, Status: st, StatusCode: code, ResponseBody: body,
		ResponseHeaders: map[string]string{"Content-Type": "application/json"},
		RequestHeaders:  map[string]string{"webhook-id": j.Delivery.MsgID, "content-type": "application/json"},
		Duration:        time.Duration(40+len(j.Delivery.MsgID)%60) * time.Millisecond, CreatedAt: at,
	}, Outcome: out, Attempts: j.Delivery.Attempts + 1, Owner: j.Delivery.LeaseOwner}
}
