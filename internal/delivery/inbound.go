package delivery

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// Ingester is the store method PublishInbound needs beyond Store: both
// engines implement it (see store.Sources).
type Ingester interface {
	Ingest(ctx context.Context, ev *store.InboundEvent, msg *herald.Message, deliveries []herald.Delivery, leaseOwner string, leaseUntil time.Time) (duplicate bool, err error)
}

// errNoIngest means the engine's store cannot store inbound events.
var errNoIngest = errors.New("store does not store inbound events")

// PublishInbound stores a verified inbound event and, unless it repeats an
// accepted one within its dedupe window, msg with one delivery per active
// endpoint of msg.AppID whose filters accept it, all in one transaction,
// and returns once they are durable. The new deliveries are sent from
// memory, as Publish does. duplicate reports that ev was recorded as a
// duplicate and nothing was forwarded.
func (e *Engine) PublishInbound(ctx context.Context, ev *store.InboundEvent, msg *herald.Message) (duplicate bool, err error) {
	ing, ok := e.store.(Ingester)
	if !ok {
		return false, fmt.Errorf("publish inbound: %w", errNoIngest)
	}
	targets, err := e.subscribers(ctx, msg)
	if err != nil {
		return false, fmt.Errorf("publish inbound: %w", err)
	}
	now := e.now()
	deliveries, leaseUntil := e.fresh(msg, targets, now)
	duplicate, err = ing.Ingest(ctx, ev, msg, deliveries, e.cfg.NodeID, leaseUntil)
	if err != nil {
		return false, fmt.Errorf("publish inbound: %w", err)
	}
	if duplicate {
		return true, nil
	}
	e.metrics.published.Inc()
	e.dispatchFresh(ctx, msg, targets, deliveries)
	return false, nil
}
