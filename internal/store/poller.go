package store

import (
	"context"
	"time"

	"github.com/heraldhq/herald/internal/herald"
)

// Poller serves pull delivery (the Svix message-poller API). Every message
// gets a sequence number when it commits; numbers grow in commit order, so
// reading the messages after a number never skips one committed later.
type Poller interface {
	// PollMessages returns up to f.Limit messages of appID with a sequence
	// number above f.After that match f, in sequence order.
	PollMessages(ctx context.Context, appID string, f PollFilter) ([]PolledMessage, error)
	// PollPosition returns the position just before the application's first
	// message created at or after at: polling from it returns that message
	// first.
	PollPosition(ctx context.Context, appID string, at time.Time) (int64, error)
	// ConsumerPosition returns the stored position of a polling endpoint's
	// consumer; ErrNotFound if the consumer never polled.
	ConsumerPosition(ctx context.Context, endpointID, consumerID string) (int64, error)
	// SetConsumerPosition stores the position of a polling endpoint's
	// consumer, creating the consumer if needed.
	SetConsumerPosition(ctx context.Context, appID, endpointID, consumerID string, position int64, now time.Time) error
}

// PollFilter selects messages for a poller.
type PollFilter struct {
	After      int64 // sequence number, exclusive; 0: from the start
	Limit      int   // > 0; callers bound it (the API asks one more than a page)
	EventTypes []string
	// AnyChannel keeps messages with at least one of these channels.
	AnyChannel []string
	// Channel keeps messages that have this channel.
	Channel string
}

// PolledMessage is a message and its sequence number.
type PolledMessage struct {
	Seq     int64
	Message herald.Message
}
