package opevent

import (
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// The methods here are the hooks the sources call once their change is
// committed. None blocks, and none emits about the operational
// application itself.

// EndpointCreated emits endpoint.created.
func (e *Emitter) EndpointCreated(app *herald.Application, ep *herald.Endpoint) {
	e.endpointEvent(EndpointCreated, app, ep)
}

// EndpointUpdated emits endpoint.updated and, when the update disabled an
// enabled endpoint, endpoint.disabled with the manual trigger.
func (e *Emitter) EndpointUpdated(app *herald.Application, ep *herald.Endpoint, disabled bool) {
	e.endpointEvent(EndpointUpdated, app, ep)
	if disabled {
		e.endpointEvent(EndpointDisabled, app, ep)
	}
}

// disabledSince is the failSince of a manual endpoint.disabled, which Svix
// requires: when the endpoint began failing or, if it was not failing,
// when it was disabled.
func (e *Emitter) disabledSince(ep *herald.Endpoint) time.Time {
	switch {
	case !ep.FailingSince.IsZero():
		return ep.FailingSince
	case !ep.UpdatedAt.IsZero():
		return ep.UpdatedAt
	}
	return e.cfg.Now()
}

// EndpointDeleted emits endpoint.deleted.
func (e *Emitter) EndpointDeleted(app *herald.Application, ep *herald.Endpoint) {
	e.endpointEvent(EndpointDeleted, app, ep)
}

func (e *Emitter) endpointEvent(typ string, app *herald.Application, ep *herald.Endpoint) {
	if app.ID == e.cfg.AppID {
		return
	}
	ev := event{
		typ:         typ,
		appID:       app.ID,
		appUID:      app.UID,
		endpointID:  ep.ID,
		endpointUID: ep.UID,
		trigger:     TriggerManual,
		resolved:    true,
	}
	if typ == EndpointDisabled {
		ev.failSince = e.disabledSince(ep)
	}
	e.emit(ev)
}

// Recorded implements delivery.Events: from a committed batch of attempt
// results it emits message.attempt.failing on a delivery's fourth failed
// attempt when a retry follows, message.attempt.exhausted when a delivery
// failed for good, message.attempt.recovered when a delivery succeeded
// after a failing event, and endpoint.disabled for each endpoint the batch
// disabled.
func (e *Emitter) Recorded(batch []store.Result, disabled []string) {
	for i := range batch {
		r := &batch[i]
		// A send cut off by a node's stop says nothing of the endpoint.
		if r.Attempt.AppID == e.cfg.AppID || r.Interrupted {
			continue
		}
		var typ string
		switch {
		case r.Outcome.Status == herald.StatusSuccess && r.Attempts > FailingAfter:
			typ = AttemptRecovered
		case r.Outcome.Status == herald.StatusFail:
			typ = AttemptExhausted
		case r.Outcome.Status == herald.StatusSending && r.Attempts == FailingAfter:
			typ = AttemptFailing
		default:
			continue
		}
		a := &r.Attempt
		e.emit(event{
			typ:        typ,
			appID:      a.AppID,
			endpointID: a.EndpointID,
			msgID:      a.MsgID,
			// The store keeps milliseconds: report the time the API shows.
			attempt: lastAttempt{ID: a.ID, Timestamp: a.CreatedAt.UTC().Truncate(time.Millisecond), ResponseStatusCode: a.StatusCode},
		})
	}
	for _, id := range disabled {
		// The attempt that disabled the endpoint names its application, and
		// its time stands in for failSince if the endpoint has none.
		var at *herald.Attempt
		for i := range batch {
			if batch[i].Attempt.EndpointID == id {
				at = &batch[i].Attempt
				break
			}
		}
		if at == nil || at.AppID == e.cfg.AppID {
			continue
		}
		e.emit(event{
			typ:        EndpointDisabled,
			appID:      at.AppID,
			endpointID: id,
			failSince:  at.CreatedAt.Truncate(time.Millisecond),
			trigger:    TriggerAutomatic,
		})
	}
}
