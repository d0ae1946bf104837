package storetest

import (
	"slices"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

var recordTests = []test{
	{"SuccessIsFinal", func(f *fixture) {
		a := f.app()
		e := f.endpoint(a.ID)
		m := f.publish(a.ID, f.t0, e.ID)
		j := f.claimOne("node", f.t0)
		r := result(j, f.at(time.Second), 200, herald.Outcome{Status: herald.StatusSuccess})
		if disabled := f.record(r); len(disabled) != 0 {
			f.Errorf("disabled: got %v, want none", disabled)
		}
		f.claimNone("node-b", f.at(time.Hour))
		wantDelivery(f, a.ID, e.ID, m.ID, herald.StatusSuccess, time.Time{})
		got, err := f.s.GetAttempt(f.ctx, a.ID, m.ID, r.Attempt.ID)
		f.noErr("get attempt", err)
		want := r.Attempt
		if got.ID != want.ID || got.EndpointID != e.ID || got.URL != e.URL || got.Status != herald.StatusSuccess ||
			got.StatusCode != 200 || got.ResponseBody != want.ResponseBody || got.Duration != want.Duration ||
			got.Trigger != want.Trigger || !got.CreatedAt.Equal(want.CreatedAt) ||
			got.ResponseHeaders["Content-Type"] != "application/json" || got.RequestHeaders["webhook-id"] != m.ID {
			f.Errorf("attempt: got %+v, want %+v", got, want)
		}
	}},
	// A batch recorded again (the client could not confirm a commit that
	// happened, and retried) keeps one attempt per result, without error.
	{"RecordingABatchAgainChangesNothing", func(f *fixture) {
		a := f.app()
		e := f.endpoint(a.ID)
		m := f.publish(a.ID, f.t0, e.ID)
		j := f.claimOne("node", f.t0)
		r := result(j, f.at(time.Second), 200, herald.Outcome{Status: herald.StatusSuccess})
		f.record(r)
		f.record(r)
		atts, err := f.s.ListAttempts(f.ctx, a.ID, store.AttemptFilter{Page: page(10, ""), MsgID: m.ID})
		f.noErr("list attempts", err)
		if len(atts) != 1 {
			f.Errorf("attempts after recording the same result twice: %d, want 1", len(atts))
		}
		wantDelivery(f, a.ID, e.ID, m.ID, herald.StatusSuccess, time.Time{})
	}},
	// A node whose lease lapsed, and was claimed by another, records its
	// attempt late: the attempt is logged, but the delivery stays with the
	// node holding it now, which no third node may claim meanwhile.
	{"ALateResultLeavesTheNewHoldersLease", func(f *fixture) {
		a := f.app()
		e := f.endpoint(a.ID)
		m := f.publishLeased(a.ID, f.t0, "node-a", f.at(time.Minute), e.ID)
		late := store.Job{Delivery: herald.Delivery{MsgID: m.ID, EndpointID: e.ID, AppID: a.ID, LeaseOwner: "node-a"}, Message: m, Endpoint: e}
		b := f.claimOne("node-b", f.at(2*time.Minute))
		f.record(result(late, f.at(2*time.Minute+time.Second), 500,
			herald.Outcome{Status: herald.StatusSending, NextAttemptAt: f.at(2*time.Minute + 5*time.Second)}))
		f.claimNone("node-c", f.at(2*time.Minute+10*time.Second))
		atts, err := f.s.ListAttempts(f.ctx, a.ID, store.AttemptFilter{Page: page(10, ""), MsgID: m.ID})
		f.noErr("list attempts", err)
		if len(atts) != 1 {
			f.Errorf("attempts after the late result: %d, want it logged", len(atts))
		}
		// node-b's own result applies.
		f.record(result(b, f.at(2*time.Minute+20*time.Second), 200, herald.Outcome{Status: herald.StatusSuccess}))
		wantDelivery(f, a.ID, e.ID, m.ID, herald.StatusSuccess, time.Time{})
		// The late one, recorded again (a retried batch), changes nothing.
		f.record(result(late, f.at(2*time.Minute+time.Second), 500,
			herald.Outcome{Status: herald.StatusSending, NextAttemptAt: f.at(2*time.Minute + 5*time.Second)}))
		wantDelivery(f, a.ID, e.ID, m.ID, herald.StatusSuccess, time.Time{})
	}},
	// A batch retried after its commit had gone through, once the node has
	// claimed the delivery again, leaves the new lease alone.
	{"ARetriedBatchLeavesTheNextLease", func(f *fixture) {
		a := f.app()
		e := f.endpoint(a.ID)
		m := f.publish(a.ID, f.t0, e.ID)
		j := f.claimOne("node", f.t0)
		r := result(j, f.at(time.Second), 503, herald.Outcome{Status: herald.StatusSending, NextAttemptAt: f.at(5 * time.Second)})
		f.record(r)
		again := f.claimOne("node", f.at(5*time.Second))
		f.record(r)
		if again.Delivery.Attempts != 1 {
			f.Fatalf("second claim: %d attempts, want 1", again.Delivery.Attempts)
		}
		f.claimNone("other", f.at(6*time.Second))
		wantDelivery(f, a.ID, e.ID, m.ID, herald.StatusSending, f.at(5*time.Second+lease))
	}},
	// A delivery canceled while its attempt was out (its endpoint was
	// disabled) takes a final result, which is what happened, but not a
	// retry, even once the endpoint is enabled again.
	{"ACanceledDeliveryTakesNoRetry", func(f *fixture) {
		a := f.app()
		e := f.endpoint(a.ID)
		retried, done := f.publish(a.ID, f.t0, e.ID), f.publish(a.ID, f.t0, e.ID)
		jobs := f.claim("node", f.t0, 10)
		f.update(a.ID, e.ID, func(e *herald.Endpoint) { e.Disabled, e.UpdatedAt = true, f.at(time.Second) })
		f.update(a.ID, e.ID, func(e *herald.Endpoint) { e.Disabled, e.UpdatedAt = false, f.at(2*time.Second) })
		for _, j := range jobs {
			out := herald.Outcome{Status: herald.StatusSuccess}
			if j.Delivery.MsgID == retried.ID {
				out = herald.Outcome{Status: herald.StatusSending, NextAttemptAt: f.at(time.Minute)}
			}
			f.record(result(j, f.at(3*time.Second), 200, out))
		}
		wantDelivery(f, a.ID, e.ID, retried.ID, herald.StatusCanceled, time.Time{})
		wantDelivery(f, a.ID, e.ID, done.ID, herald.StatusSuccess, time.Time{})
		f.claimNone("node", f.at(2*time.Minute))
	}},
	// Results are recorded as they finish: a slow failure recorded after a
	// quick success sent after it does not mark the endpoint failing,
	// whether they come in one call or two. A failure begun after the
	// success does.
	{"ASlowFailureAfterAQuickSuccessLeavesTheEndpointHealthy", func(f *fixture) {
		a := f.app()
		for _, oneCall := range []bool{false, true} {
			e := f.endpoint(a.ID)
			f.publish(a.ID, f.t0, e.ID)
			f.publish(a.ID, f.t0, e.ID)
			jobs := f.claim("node", f.t0, 10)
			if len(jobs) != 2 {
				f.Fatalf("claim: %d jobs, want 2", len(jobs))
			}
			ok := result(jobs[1], f.at(2*time.Second), 200, herald.Outcome{Status: herald.StatusSuccess})
			slow := result(jobs[0], f.at(time.Second), 0, herald.Outcome{Status: herald.StatusSending, NextAttemptAt: f.at(time.Minute)})
			if oneCall {
				f.record(ok, slow)
			} else {
				f.record(ok)
				f.record(slow)
			}
			if ep := f.getEndpoint(a.ID, e.ID); !ep.FailingSince.IsZero() {
				f.Errorf("one call %v: failing since %v after a failure begun before a success, want healthy", oneCall, ep.FailingSince)
			}
			// A failure begun after the success starts a failing spell.
			again := f.claimOne("node", f.at(time.Minute))
			f.record(result(again, f.at(time.Minute), 500, herald.Outcome{Status: herald.StatusFail}))
			if ep := f.getEndpoint(a.ID, e.ID); !ep.FailingSince.Equal(f.at(time.Minute)) {
				f.Errorf("one call %v: failing since %v, want %v", oneCall, ep.FailingSince, f.at(time.Minute))
			}
		}
	}},
	// A send cut off by its node's stop is logged and due again, but it
	// neither starts a failing spell nor ends one.
	{"AnInterruptedAttemptLeavesTheEndpointsHealth", func(f *fixture) {
		a := f.app()
		for _, failing := range []bool{false, true} {
			e := f.endpoint(a.ID)
			m := f.publish(a.ID, f.t0, e.ID)
			var since time.Time
			if failing {
				j := f.claimOne("node", f.t0)
				f.record(result(j, f.t0, 500, herald.Outcome{Status: herald.StatusSending, NextAttemptAt: f.at(time.Second)}))
				since = f.t0
			}
			j := f.claimOne("node", f.at(time.Second))
			cut := result(j, f.at(2*time.Second), 0, herald.Outcome{Status: herald.StatusSending, NextAttemptAt: f.at(3 * time.Second)})
			cut.Attempt.Status, cut.Attempt.ErrorClass, cut.Interrupted = herald.StatusFail, "interrupted", true
			cut.Attempts = j.Delivery.Attempts // it takes none of the delivery's attempts
			f.record(cut)
			f.record(cut) // a retried batch changes nothing
			if ep := f.getEndpoint(a.ID, e.ID); !ep.FailingSince.Equal(since) {
				f.Errorf("failing %v: failing since %v after an interrupted attempt, want %v", failing, ep.FailingSince, since)
			}
			wantDelivery(f, a.ID, e.ID, m.ID, herald.StatusSending, f.at(3*time.Second))
			got, err := f.s.GetAttempt(f.ctx, a.ID, m.ID, cut.Attempt.ID)
			f.noErr("get attempt", err)
			if got.ErrorClass != "interrupted" {
				f.Errorf("failing %v: attempt error class %q, want interrupted", failing, got.ErrorClass)
			}
			again := f.claimOne("node", f.at(3*time.Second))
			if again.Delivery.Attempts != j.Delivery.Attempts {
				f.Errorf("failing %v: claimed with %d attempts made, want %d as before the cut", failing, again.Delivery.Attempts, j.Delivery.Attempts)
			}
			f.record(result(again, f.at(4*time.Second), 200, herald.Outcome{Status: herald.StatusSuccess}))
		}
	}},
	// A manual resend cut off by its node's stop is still a manual resend
	// when it is claimed again.
	{"AnInterruptedResendStaysManual", func(f *fixture) {
		a := f.app()
		e := f.endpoint(a.ID)
		m := f.publish(a.ID, f.t0, e.ID)
		j := f.claimOne("node", f.t0)
		f.record(result(j, f.at(time.Second), 500, herald.Outcome{Status: herald.StatusFail}))
		f.noErr("resend", f.s.Resend(f.ctx, a.ID, m.ID, e.ID, f.at(2*time.Second)))
		manual := f.claimOne("node", f.at(2*time.Second))
		cut := result(manual, f.at(3*time.Second), 0, herald.Outcome{Status: herald.StatusSending, NextAttemptAt: f.at(3 * time.Second)})
		cut.Interrupted, cut.Attempts = true, manual.Delivery.Attempts
		f.record(cut)
		again := f.claimOne("node", f.at(3*time.Second))
		if again.Delivery.Trigger != herald.TriggerManual || again.Delivery.Attempts != manual.Delivery.Attempts {
			f.Errorf("claimed after an interrupted resend: trigger %v with %d attempts, want manual with %d",
				again.Delivery.Trigger, again.Delivery.Attempts, manual.Delivery.Attempts)
		}
	}},
	// A retried batch and the next attempt's result, recorded in one call
	// (a group commit may join them), in either order: the next attempt's
	// result wins.
	{"ARetriedBatchBesideTheNextResult", func(f *fixture) {
		a := f.app()
		e := f.endpoint(a.ID)
		for _, retriedFirst := range []bool{true, false} {
			m := f.publish(a.ID, f.t0, e.ID)
			j := f.claimOne("node", f.t0)
			r1 := result(j, f.at(time.Second), 503, herald.Outcome{Status: herald.StatusSending, NextAttemptAt: f.at(5 * time.Second)})
			f.record(r1)
			again := f.claimOne("node", f.at(5*time.Second))
			r2 := result(again, f.at(6*time.Second), 200, herald.Outcome{Status: herald.StatusSuccess})
			if retriedFirst {
				f.record(r1, r2)
			} else {
				f.record(r2, r1)
			}
			wantDelivery(f, a.ID, e.ID, m.ID, herald.StatusSuccess, time.Time{})
		}
	}},
	// A result that would schedule another attempt, for an endpoint
	// disabled meanwhile, cancels the delivery: no next attempt is shown.
	{"DisabledEndpointCancelsWithNoNextAttempt", func(f *fixture) {
		a := f.app()
		e := f.endpoint(a.ID)
		m := f.publish(a.ID, f.t0, e.ID)
		j := f.claimOne("node", f.t0)
		f.update(a.ID, e.ID, func(e *herald.Endpoint) { e.Disabled, e.UpdatedAt = true, f.at(time.Second) })
		f.record(result(j, f.at(2*time.Second), 500, herald.Outcome{Status: herald.StatusSending, NextAttemptAt: f.at(time.Minute)}))
		wantDelivery(f, a.ID, e.ID, m.ID, herald.StatusCanceled, time.Time{})
	}},
	{"RetryComesBackWhenDue", func(f *fixture) {
		a := f.app()
		e := f.endpoint(a.ID)
		m := f.publish(a.ID, f.t0, e.ID)
		j := f.claimOne("node", f.t0)
		next := f.at(5 * time.Second)
		f.record(result(j, f.at(time.Second), 503, herald.Outcome{Status: herald.StatusSending, NextAttemptAt: next, Throttled: true}))
		wantDelivery(f, a.ID, e.ID, m.ID, herald.StatusSending, next)
		f.claimNone("node", next.Add(-time.Millisecond))
		j = f.claimOne("node", next)
		if j.Delivery.Status != herald.StatusSending || j.Delivery.Attempts != 1 || j.Delivery.Trigger != herald.TriggerScheduled {
			f.Errorf("retry: got status %d attempts %d trigger %d, want sending, 1, scheduled", j.Delivery.Status, j.Delivery.Attempts, j.Delivery.Trigger)
		}
		f.record(result(j, next, 200, herald.Outcome{Status: herald.StatusSuccess}))
		wantDelivery(f, a.ID, e.ID, m.ID, herald.StatusSuccess, time.Time{})
		atts, err := f.s.ListAttempts(f.ctx, a.ID, store.AttemptFilter{Page: page(10, ""), MsgID: m.ID})
		f.noErr("list attempts", err)
		if len(atts) != 2 || atts[0].StatusCode != 200 || atts[1].StatusCode != 503 {
			f.Errorf("attempts: got %d, want 2 newest first (200 then 503)", len(atts))
		}
	}},
	{"FinalFailureIsNotClaimed", func(f *fixture) {
		a := f.app()
		e := f.endpoint(a.ID)
		m := f.publish(a.ID, f.t0, e.ID)
		j := f.claimOne("node", f.t0)
		f.record(result(j, f.at(time.Second), 500, herald.Outcome{Status: herald.StatusFail}))
		f.claimNone("node", f.at(48*time.Hour))
		wantDelivery(f, a.ID, e.ID, m.ID, herald.StatusFail, time.Time{})
		wantBacklog(f, 0)
	}},
	{"FailingSinceSetOnFirstFailureClearedBySuccess", func(f *fixture) {
		a := f.app()
		e := f.endpoint(a.ID)
		for range 3 {
			f.publish(a.ID, f.t0, e.ID)
		}
		jobs := f.claim("node", f.t0, 3)
		fail := herald.Outcome{Status: herald.StatusSending, NextAttemptAt: f.at(time.Hour)}
		f.record(result(jobs[0], f.at(time.Second), 500, fail))
		wantFailingSince(f, e, f.at(time.Second))
		f.record(result(jobs[1], f.at(2*time.Second), 0, fail))
		wantFailingSince(f, e, f.at(time.Second))
		f.record(result(jobs[2], f.at(3*time.Second), 204, herald.Outcome{Status: herald.StatusSuccess}))
		wantFailingSince(f, e, time.Time{})
	}},
	{"FailingSinceFollowsTheOrderOfOneCall", func(f *fixture) {
		// Several results for one endpoint in one call apply in order: the
		// last success clears failing_since, the first failure after it sets
		// it, and a failure before any success keeps an earlier value.
		a := f.app()
		e := f.endpoint(a.ID)
		for range 6 {
			f.publish(a.ID, f.t0, e.ID)
		}
		jobs := f.claim("node", f.t0, 6)
		fail := herald.Outcome{Status: herald.StatusSending, NextAttemptAt: f.at(time.Hour)}
		ok := herald.Outcome{Status: herald.StatusSuccess}
		f.record(result(jobs[0], f.at(time.Second), 500, fail), result(jobs[1], f.at(2*time.Second), 500, fail))
		wantFailingSince(f, e, f.at(time.Second))
		f.record(result(jobs[2], f.at(3*time.Second), 500, fail), result(jobs[3], f.at(4*time.Second), 200, ok),
			result(jobs[4], f.at(5*time.Second), 500, fail))
		wantFailingSince(f, e, f.at(5*time.Second))
		f.record(result(jobs[5], f.at(6*time.Second), 200, ok))
		wantFailingSince(f, e, time.Time{})
	}},
	{"DisableIsReportedOnceAndCancelsTheRest", func(f *fixture) {
		a := f.app()
		gone, healthy := f.endpoint(a.ID), f.endpoint(a.ID)
		var msgs []*herald.Message
		for i := range 4 {
			msgs = append(msgs, f.publish(a.ID, f.at(time.Duration(i)*time.Millisecond), gone.ID))
		}
		f.publish(a.ID, f.t0, healthy.ID)
		jobs := f.claim("node", f.at(time.Second), 10)
		var mine []store.Job
		for _, j := range jobs {
			switch {
			case j.Delivery.EndpointID == healthy.ID:
				f.record(result(j, f.at(time.Second), 200, herald.Outcome{Status: herald.StatusSuccess}))
			case j.Delivery.MsgID != msgs[3].ID:
				mine = append(mine, j)
			}
		}
		if len(jobs) != 5 || len(mine) != 3 {
			f.Fatalf("claim: got %d jobs, want 5", len(jobs))
		}
		off := herald.Outcome{Status: herald.StatusFail, DisableEndpoint: true}
		disabled := f.record(result(mine[0], f.at(2*time.Second), 410, off), result(mine[1], f.at(2*time.Second), 410, off))
		if !slices.Equal(disabled, []string{gone.ID}) {
			f.Errorf("first record: got disabled %v, want [%s] once", disabled, gone.ID)
		}
		if disabled := f.record(result(mine[2], f.at(3*time.Second), 410, off)); len(disabled) != 0 {
			f.Errorf("second record: got disabled %v, want none (already disabled)", disabled)
		}
		ep, err := f.s.GetEndpoint(f.ctx, a.ID, gone.ID)
		f.noErr("get endpoint", err)
		if !ep.Disabled {
			f.Errorf("endpoint after 410: got enabled, want disabled")
		}
		// msgs[3] was leased but not yet attempted when the endpoint died.
		wantDelivery(f, a.ID, gone.ID, msgs[3].ID, herald.StatusCanceled, time.Time{})
		st, err := f.s.EndpointStats(f.ctx, a.ID, gone.ID, time.Time{}, time.Time{})
		f.noErr("stats", err)
		if st != (store.Stats{Fail: 3, Canceled: 1}) {
			f.Errorf("stats: got %+v, want 3 fail, 1 canceled", st)
		}
		f.claimNone("node-b", f.at(time.Hour))
		active, err := f.s.ActiveEndpoints(f.ctx, a.ID)
		f.noErr("active endpoints", err)
		if got := endpointIDs(active); !slices.Equal(got, []string{healthy.ID}) {
			f.Errorf("active endpoints: got %v, want [%s]", got, healthy.ID)
		}
	}},
	{"DeletedEndpointCancelsItsDeliveries", func(f *fixture) {
		a := f.app()
		e := f.endpoint(a.ID)
		waiting := f.publish(a.ID, f.at(time.Hour), e.ID)
		inFlight := f.publish(a.ID, f.t0, e.ID)
		j := f.claimOne("node", f.t0)
		f.noErr("delete endpoint", f.s.DeleteEndpoint(f.ctx, a.ID, e.ID))
		f.record(result(j, f.at(time.Second), 500, herald.Outcome{Status: herald.StatusSending, NextAttemptAt: f.at(time.Minute)}))
		f.claimNone("node", f.at(2*time.Hour))
		wantBacklog(f, 0)
		for _, m := range []*herald.Message{waiting, inFlight} {
			if _, err := f.s.GetMessage(f.ctx, a.ID, m.ID); err != nil {
				f.Errorf("message %s after its endpoint was deleted: %v", m.ID, err)
			}
		}
	}},
	// Results apply in order however many one call carries: a big batch
	// (as the recorder sends under load) records every attempt and moves
	// every delivery, skips the result of a message that is gone, and lets
	// the later of two results for one delivery win.
	{"ALargeBatchAppliesEveryResultInOrder", func(f *fixture) {
		a := f.app()
		e := f.endpoint(a.ID)
		const n = 40
		msgs := make([]*herald.Message, n)
		for i := range msgs {
			msgs[i] = f.publish(a.ID, f.at(time.Duration(i)*time.Millisecond), e.ID)
		}
		jobs := f.claim("node", f.at(time.Second), 2*n)
		if len(jobs) != n {
			f.Fatalf("claim: got %d jobs, want %d", len(jobs), n)
		}
		at, retryAt := f.at(2*time.Second), f.at(time.Hour)
		want := map[string]herald.MessageStatus{}
		var results []store.Result
		for i, j := range jobs {
			switch i % 3 {
			case 0:
				results = append(results, result(j, at, 200, herald.Outcome{Status: herald.StatusSuccess}))
				want[j.Delivery.MsgID] = herald.StatusSuccess
			case 1:
				results = append(results, result(j, at, 503, herald.Outcome{Status: herald.StatusSending, NextAttemptAt: retryAt}))
				want[j.Delivery.MsgID] = herald.StatusSending
			case 2:
				results = append(results, result(j, at, 400, herald.Outcome{Status: herald.StatusFail}))
				want[j.Delivery.MsgID] = herald.StatusFail
			}
			if i == 5 {
				gone := j
				gone.Delivery.MsgID = herald.NewID(herald.PrefixMessage, at)
				results = append(results, result(gone, at, 200, herald.Outcome{Status: herald.StatusSuccess}))
			}
		}
		// The first delivery fails, then succeeds, in the same call: its
		// second attempt follows on the first, which released the lease.
		first := jobs[0]
		results[0].Attempts, results[0].Owner = 2, ""
		results = slices.Insert(results, 0, result(first, at, 500, herald.Outcome{Status: herald.StatusSending, NextAttemptAt: retryAt}))
		f.record(results...)

		for _, m := range msgs {
			next := time.Time{}
			if want[m.ID] == herald.StatusSending {
				next = retryAt
			}
			wantDelivery(f, a.ID, e.ID, m.ID, want[m.ID], next)
		}
		atts, err := f.s.ListAttempts(f.ctx, a.ID, store.AttemptFilter{Page: page(250, ""), EndpointID: e.ID})
		f.noErr("list attempts", err)
		if len(atts) != n+1 {
			f.Errorf("attempts: got %d, want %d (one per result, none for the missing message)", len(atts), n+1)
		}
	}},
}

// wantDelivery checks one delivery through the endpoint's message list.
func wantDelivery(f *fixture, appID, endpointID, msgID string, status herald.MessageStatus, next time.Time) {
	f.Helper()
	ems, err := f.s.ListEndpointMessages(f.ctx, appID, endpointID, store.MessageFilter{Page: page(250, "")})
	f.noErr("list endpoint messages", err)
	for _, em := range ems {
		if em.Message.ID != msgID {
			continue
		}
		if em.Status != status || !em.NextAttemptAt.Equal(next) {
			f.Errorf("delivery of %s: got status %d next %v, want %d next %v", msgID, em.Status, em.NextAttemptAt, status, next)
		}
		return
	}
	f.Errorf("delivery of %s to %s: not listed", msgID, endpointID)
}

func wantFailingSince(f *fixture, e *herald.Endpoint, want time.Time) {
	f.Helper()
	got, err := f.s.GetEndpoint(f.ctx, e.AppID, e.ID)
	f.noErr("get endpoint", err)
	if !got.FailingSince.Equal(want) {
		f.Errorf("failing since: got %v, want %v", got.FailingSince, want)
	}
}
