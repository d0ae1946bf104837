package delivery

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// ErrClassInterrupted is the error class of an attempt cut off by the
// sending node's stop. The request may have reached the endpoint, so the
// attempt is logged; the delivery is due again at once, without counting
// it among its attempts, and the endpoint's health is left as it was.
const ErrClassInterrupted herald.ErrorClass = "interrupted"

// attempt makes one attempt of job as planned. It returns the result to
// record, how long the endpoint's queue should pause (0: no throttling),
// and, when it asked the store when the endpoint began failing, the answer
// (stored), for the queue to adopt.
func (e *Engine) attempt(job store.Job, plan sendPlan) (res store.Result, pause time.Duration, stored *time.Time) {
	d, ep := &job.Delivery, plan.ep
	now := e.now()
	if plan.signerErr != nil && e.errLimit.allow("signer:"+ep.ID, now) {
		e.log.Error("endpoint secret cannot be decoded; sending unsigned",
			slog.String("app_id", d.AppID), slog.String("endpoint_id", ep.ID))
	}

	e.metrics.inflight.Inc()
	resp := e.sender.send(e.sendCtx, &request{
		url:     ep.URL,
		msgID:   d.MsgID,
		payload: job.Message.Payload,
		headers: ep.Headers,
		forward: forwarding(job.Message),
		signer:  plan.signer,
		now:     now,
		listen:  ListenInfo{MsgID: d.MsgID, EventType: job.Message.EventType, Attempt: d.Attempts + 1},
	})
	e.metrics.inflight.Dec()

	attempts := d.Attempts + 1
	r := herald.Response{StatusCode: resp.statusCode, RetryAfter: resp.retryAfter}
	done, rnd := e.now(), e.cfg.Rand()
	var out herald.Outcome
	if resp.interrupted {
		// Not the endpoint's doing: the delivery is due again at once,
		// with the attempts it had.
		attempts--
		resp.errClass = ErrClassInterrupted
		out = herald.Outcome{Status: herald.StatusSending, NextAttemptAt: done}
	} else {
		out = e.policy.Decide(attempts, r, done, plan.failingSince, rnd)
	}
	if out.DisableEndpoint && r.StatusCode != http.StatusGone {
		// Failing for too long, as this node saw it. Another node may
		// have seen a success since, or an operator re-enabled the
		// endpoint: disabling is rare, so ask the store first.
		if since, ok := e.storedFailingSince(d.AppID, ep.ID); ok {
			out = e.policy.Decide(attempts, r, done, since, rnd)
			stored = &since
		}
	}
	if r.StatusCode == http.StatusGone && IsListenURL(ep.URL) {
		// The developer's local app is done with this message, not the
		// session with the endpoint: disabled, it would silently stop
		// receiving while `herald listen` still shows it connected.
		out.DisableEndpoint = false
	}
	status := herald.StatusFail
	if r.Succeeded() {
		status = herald.StatusSuccess
	}
	res = store.Result{
		Attempt: herald.Attempt{
			ID:              herald.NewID(herald.PrefixAttempt, now),
			MsgID:           d.MsgID,
			EndpointID:      d.EndpointID,
			AppID:           d.AppID,
			URL:             ep.URL,
			Status:          status,
			StatusCode:      resp.statusCode,
			ResponseBody:    resp.body,
			ResponseHeaders: resp.headers,
			RequestHeaders:  resp.reqHeaders,
			Duration:        resp.duration,
			ErrorClass:      resp.errClass,
			Trigger:         d.Trigger,
			CreatedAt:       now,
		},
		Outcome:  out,
		Attempts: attempts,
		Owner:    e.cfg.NodeID,
		// The job's own snapshot too: the queue's may be older, if the
		// node that last changed the endpoint has a clock ahead of ours.
		Ordered:     ep.Ordered || job.Endpoint != nil && job.Endpoint.Ordered,
		Interrupted: resp.interrupted,
	}
	e.observe(job, ep, resp, out, attempts, done)
	if out.Throttled {
		pause = max(e.cfg.ThrottleBackoff, min(resp.retryAfter, maxThrottleBackoff))
	}
	return res, pause, stored
}

// storedFailingSince is when the store says the endpoint began failing:
// zero if it has not, or is no longer active. ok is false if the store
// could not say.
func (e *Engine) storedFailingSince(appID, endpointID string) (since time.Time, ok bool) {
	ctx, cancel := context.WithTimeout(e.sendCtx, 5*time.Second)
	defer cancel()
	eps, err := e.endpts.reload(ctx, appID)
	if err != nil {
		return time.Time{}, false
	}
	for i := range eps {
		if eps[i].ID == endpointID {
			return eps[i].FailingSince, true
		}
	}
	return time.Time{}, true
}

// observe updates metrics and logs one attempt.
func (e *Engine) observe(job store.Job, ep *herald.Endpoint, resp response, out herald.Outcome, attempts int, now time.Time) {
	switch {
	case resp.errClass != "":
		e.metrics.attempts.WithLabelValues(string(resp.errClass)).Inc()
	case out.Status == herald.StatusSuccess:
		e.metrics.attempts.WithLabelValues("success").Inc()
		if !job.Message.CreatedAt.IsZero() {
			e.metrics.latency.Observe(now.Sub(job.Message.CreatedAt).Seconds())
		}
		return
	case out.Throttled:
		e.metrics.attempts.WithLabelValues("throttled").Inc()
	default:
		e.metrics.attempts.WithLabelValues("failure").Inc()
	}
	if e.log.Enabled(context.Background(), slog.LevelDebug) {
		e.log.Debug("attempt failed",
			slog.String("app_id", job.Delivery.AppID),
			slog.String("endpoint_id", ep.ID),
			slog.String("msg_id", job.Delivery.MsgID),
			slog.Int("attempt", attempts),
			slog.Int("status_code", resp.statusCode),
			slog.String("error_class", string(resp.errClass)),
			slog.String("next_status", out.Status.String()))
	}
}
