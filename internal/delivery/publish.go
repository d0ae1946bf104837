package delivery

import (
	"context"
	"fmt"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// Publish stores msg with one delivery per active endpoint of its
// application whose filters accept it, and returns once they are durable.
// The deliveries are stored leased to this node and sent from memory; a
// message no endpoint accepts is still stored. msg.ID and msg.CreatedAt
// are filled in when empty. The error is the store's (herald.ErrConflict
// for a reused event ID).
func (e *Engine) Publish(ctx context.Context, msg *herald.Message) error {
	targets, err := e.subscribers(ctx, msg)
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	return e.publish(ctx, msg, targets)
}

// subscribers returns the enabled endpoints of msg's application whose
// filters accept it. Polling endpoints are left out: their consumers pull
// messages instead.
func (e *Engine) subscribers(ctx context.Context, msg *herald.Message) ([]*herald.Endpoint, error) {
	eps, err := e.endpts.get(ctx, msg.AppID)
	if err != nil {
		return nil, err
	}
	targets := make([]*herald.Endpoint, 0, len(eps))
	for i := range eps {
		if !eps[i].Disabled && !IsPollURL(eps[i].URL) && eps[i].Accepts(msg.EventType, msg.Channels) {
			targets = append(targets, &eps[i])
		}
	}
	return targets, nil
}

// PublishTo stores msg with a single delivery to one endpoint of its
// application (given by ID or UID), whatever the endpoint's filters; it is
// how an example event is sent. herald.ErrNotFound if the endpoint does
// not exist or is disabled. Sent to a push endpoint, the message is direct
// (herald.Message.Direct): the application's pollers do not see it. A
// polling endpoint gets no delivery: the message is stored for its
// consumers to pull, and the application's other pollers see it too.
func (e *Engine) PublishTo(ctx context.Context, msg *herald.Message, endpointID string) error {
	ep, err := e.findEndpoint(ctx, msg.AppID, endpointID)
	if err != nil {
		return fmt.Errorf("publish to endpoint: %w", err)
	}
	if IsPollURL(ep.URL) {
		// Stored for its consumers to pull, which is also how the
		// application's other pollers would see it.
		return e.publish(ctx, msg, nil)
	}
	msg.Direct = true
	return e.publish(ctx, msg, []*herald.Endpoint{ep})
}

func (e *Engine) findEndpoint(ctx context.Context, appID, idOrUID string) (*herald.Endpoint, error) {
	find := func(eps []herald.Endpoint) *herald.Endpoint {
		for i := range eps {
			if eps[i].ID == idOrUID || (eps[i].UID != "" && eps[i].UID == idOrUID) {
				return &eps[i]
			}
		}
		return nil
	}
	eps, err := e.endpts.get(ctx, appID)
	if err != nil {
		return nil, err
	}
	if ep := find(eps); ep != nil {
		return ep, nil
	}
	// It may be newer than the cached list.
	if eps, err = e.endpts.reload(ctx, appID); err != nil {
		return nil, err
	}
	if ep := find(eps); ep != nil && !ep.Disabled {
		return ep, nil
	}
	return nil, herald.ErrNotFound
}

// publish stores msg with a delivery to each target and dispatches them.
func (e *Engine) publish(ctx context.Context, msg *herald.Message, targets []*herald.Endpoint) error {
	now := e.now()
	deliveries, leaseUntil := e.fresh(msg, targets, now)
	if err := e.store.Publish(ctx, msg, deliveries, e.cfg.NodeID, leaseUntil); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	e.metrics.published.Inc()
	e.dispatchFresh(ctx, msg, targets, deliveries)
	return nil
}

// fresh fills in msg's ID and creation time when empty and returns its
// deliveries to targets, leased to this node until leaseUntil.
func (e *Engine) fresh(msg *herald.Message, targets []*herald.Endpoint, now time.Time) (deliveries []herald.Delivery, leaseUntil time.Time) {
	if msg.CreatedAt.IsZero() {
		msg.CreatedAt = now
	}
	if msg.ID == "" {
		msg.ID = herald.NewID(herald.PrefixMessage, now)
	}
	leaseUntil = now.Add(e.cfg.LeaseDuration)
	deliveries = make([]herald.Delivery, len(targets))
	for i, ep := range targets {
		deliveries[i] = herald.Delivery{
			MsgID:         msg.ID,
			EndpointID:    ep.ID,
			AppID:         msg.AppID,
			Status:        herald.StatusPending,
			NextAttemptAt: leaseUntil,
			Trigger:       herald.TriggerScheduled,
			LeaseOwner:    e.cfg.NodeID,
			CreatedAt:     now,
			UpdatedAt:     now,
		}
	}
	return deliveries, leaseUntil
}

// dispatchFresh hands just-committed deliveries to the dispatcher, and
// releases to the database those it cannot hold. Deliveries to ordered
// endpoints always go back to the database: only a claim can tell whether
// an earlier delivery, perhaps held by another node, is still unfinished
// (fifo.go).
func (e *Engine) dispatchFresh(ctx context.Context, msg *herald.Message, targets []*herald.Endpoint, deliveries []herald.Delivery) {
	if len(targets) == 0 {
		return
	}

	jobs := make([]store.Job, 0, len(targets))
	var spilled givenBack
	for i, ep := range targets {
		if ep.Ordered {
			spilled.add(store.Job{Delivery: deliveries[i]}, time.Time{})
			continue
		}
		jobs = append(jobs, store.Job{Delivery: deliveries[i], Message: msg, Endpoint: ep})
	}
	claim := spilled.len() > 0 // the poller claims them at once
	if e.running() {
		more := e.disp.enqueue(jobs)
		spilled.released = append(spilled.released, more.released...)
		spilled.deferred = append(spilled.deferred, more.deferred...)
	} else {
		for _, j := range jobs {
			spilled.add(j, time.Time{})
		}
	}
	// The message is durable; these deliveries go back to the database
	// for the poller (or another node) to claim.
	e.giveBack(context.WithoutCancel(ctx), spilled, "spilled deliveries")
	if claim {
		e.poll.wake()
	}
}
