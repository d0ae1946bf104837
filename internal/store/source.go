package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/heraldhq/herald/internal/herald"
)

// Sources are the receiving side: the sources providers post to and the
// inbound events they posted.
type Sources interface {
	// CreateSource inserts src; ErrConflict if its UID is taken.
	CreateSource(ctx context.Context, src *Source) error
	// GetSource finds a source by ID or UID.
	GetSource(ctx context.Context, idOrUID string) (*Source, error)
	ListSources(ctx context.Context, page Page) ([]Source, error)
	// UpdateSource replaces every field but ID and CreatedAt.
	UpdateSource(ctx context.Context, src *Source) error
	// DeleteSource deletes the source and its inbound events; the messages
	// they became stay.
	DeleteSource(ctx context.Context, id string) error

	// Ingest durably stores a verified inbound event and returns only after
	// the commit; concurrent calls are group-committed. In one transaction
	// it checks whether an accepted event of the same source with the same
	// DedupeKey is still within its window (DedupeUntil after ev.ReceivedAt):
	// if so, ev is stored as a duplicate (Status, DuplicateOf set, MsgID
	// cleared) and msg is not; otherwise ev is stored as accepted with MsgID
	// msg.ID, and msg with its deliveries exactly as Publish stores them.
	// An empty DedupeKey is never a duplicate.
	Ingest(ctx context.Context, ev *InboundEvent, msg *herald.Message, deliveries []herald.Delivery, leaseOwner string, leaseUntil time.Time) (duplicate bool, err error)
	// GetInboundEvent finds one event of a source by its ID.
	GetInboundEvent(ctx context.Context, sourceID, eventID string) (*InboundEvent, error)
	// ListInboundEvents lists a source's events, newest first (page.Desc
	// is ignored).
	ListInboundEvents(ctx context.Context, sourceID string, page Page) ([]InboundEvent, error)
}

// Source is where a provider posts webhooks: Herald verifies them with the
// source's verifier and forwards them to the endpoints of AppID.
type Source struct {
	ID    string
	UID   string // optional, unique
	AppID string
	Name  string
	// Verifier is the verifier configuration as JSON, secrets included:
	// they are needed to verify requests. Never log or show it as is.
	Verifier json.RawMessage
	// EventType, when set, is the event type of every forwarded message.
	EventType string
	// DedupeWindow is how long a provider's event id keeps later requests
	// with the same id from being forwarded again.
	DedupeWindow time.Duration
	// AllowedIPs are CIDRs requests must come from; empty allows any.
	AllowedIPs []string
	// MaxBodyBytes bounds a request body.
	MaxBodyBytes int64
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// InboundStatus is what became of an inbound event.
type InboundStatus string

// Inbound event statuses.
const (
	// InboundAccepted events became a message.
	InboundAccepted InboundStatus = "accepted"
	// InboundDuplicate events repeated an accepted one within its window
	// and were not forwarded again.
	InboundDuplicate InboundStatus = "duplicate"
)

// InboundEvent is one verified request a source received, kept byte for
// byte so it can be replayed.
type InboundEvent struct {
	ID         string // in_...
	SourceID   string
	ReceivedAt time.Time
	// DedupeKey is the provider's id of the event; empty when it has none.
	DedupeKey string
	// DedupeUntil ends the window in which the key makes later requests
	// duplicates of this one.
	DedupeUntil time.Time
	EventType   string
	Status      InboundStatus
	// MsgID is the message the event became (accepted events only).
	MsgID string
	// DuplicateOf is the accepted event a duplicate repeats.
	DuplicateOf string
	Body        []byte
	// Headers are the request headers as received.
	Headers    map[string][]string
	RemoteAddr string
}
