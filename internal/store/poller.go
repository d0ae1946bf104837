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
	// number above f.After that match f, in sequence order, and the
	// position the next poll continues from (see PollPage.Position).
	PollMessages(ctx context.Context, appID string, f PollFilter) (PollPage, error)
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

// Filtered reports whether f may leave messages out. Without filters a
// page holds every message after f.After, so a page that is not full ends
// at the highest number committed and a store need not look it up.
func (f PollFilter) Filtered() bool {
	return len(f.EventTypes) > 0 || len(f.AnyChannel) > 0 || f.Channel != ""
}

// PollPage is one poll's answer.
type PollPage struct {
	Messages []PolledMessage
	// Position is how far the poll read: polling after it continues with
	// the first message not in this page. A full page (Limit messages)
	// ends at its last message. A shorter one read all the application's
	// committed messages after f.After, so Position is the highest
	// sequence number among them, matching or not (and never below
	// f.After): a filtered poller then does not read the same non-matching
	// messages again on each poll. That number is read in the same
	// snapshot as the page, and numbers grow in commit order, so no
	// message committed later gets a number at or below it.
	Position int64
}

// PolledMessage is a message and its sequence number.
type PolledMessage struct {
	Seq     int64
	Message herald.Message
}

// NewPollPage returns the page of msgs that a poll after `after` read with
// limit (the limit the store applied), where top is the highest sequence
// number of the application's messages visible in the snapshot msgs were
// read in (0 if none). It sets Position as PollPage describes: the last
// message of a full page, else the highest of after, the last message and
// top, so a position never moves back (retention may have deleted the
// application's newest messages since a previous poll).
func NewPollPage(msgs []PolledMessage, after int64, limit int, top int64) PollPage {
	pos := after
	if len(msgs) > 0 {
		pos = max(pos, msgs[len(msgs)-1].Seq)
	}
	if len(msgs) < limit {
		pos = max(pos, top)
	}
	return PollPage{Messages: msgs, Position: pos}
}
