// Package store defines Herald's storage contract. The database is the
// queue: the deliveries table holds every pending delivery with its lease.
// Two engines implement Store (sqlite and postgres) and both must pass the
// one suite in storetest.
//
// Errors: lookups of missing rows return herald.ErrNotFound, unique
// violations return herald.ErrConflict, and a database that cannot be
// reached returns an error wrapping herald.ErrUnavailable.
package store

import (
	"context"
	"time"

	"github.com/heraldhq/herald/internal/herald"
)

// Store is everything Herald keeps. Methods that take an application ID
// expect the real ID (resolve UIDs first with GetApplication); methods that
// take idOrUID accept either.
type Store interface {
	Applications
	EventTypes
	Endpoints
	Messages
	Queue
	Attempts
	Auth
	Dashboard
	Sources
	Poller
	Retention
	Circuits

	// Ping reports whether the database answers.
	Ping(ctx context.Context) error
	// Close releases the store. Pending group commits finish first.
	Close() error
}

// Applications are tenants.
type Applications interface {
	// CreateApplication inserts app; ErrConflict if its UID is taken.
	CreateApplication(ctx context.Context, app *herald.Application) error
	GetApplication(ctx context.Context, idOrUID string) (*herald.Application, error)
	ListApplications(ctx context.Context, page Page) ([]herald.Application, error)
	// UpdateApplication replaces every field but ID and CreatedAt.
	UpdateApplication(ctx context.Context, app *herald.Application) error
	// DeleteApplication deletes the application and everything it owns.
	DeleteApplication(ctx context.Context, id string) error
}

// EventTypes are global, keyed by name.
type EventTypes interface {
	CreateEventType(ctx context.Context, et *herald.EventType) error
	GetEventType(ctx context.Context, name string) (*herald.EventType, error)
	ListEventTypes(ctx context.Context, page Page, includeArchived bool) ([]herald.EventType, error)
	UpdateEventType(ctx context.Context, et *herald.EventType) error
	DeleteEventType(ctx context.Context, name string) error
}

// Endpoints belong to one application.
type Endpoints interface {
	// CreateEndpoint inserts ep; ErrConflict if its UID is taken in the app.
	CreateEndpoint(ctx context.Context, ep *herald.Endpoint) error
	GetEndpoint(ctx context.Context, appID, idOrUID string) (*herald.Endpoint, error)
	ListEndpoints(ctx context.Context, appID string, page Page) ([]herald.Endpoint, error)
	// UpdateEndpoint changes endpoint id of the application in one
	// transaction: it reads the endpoint as it is now, calls change on it,
	// and writes every field but ID, AppID, CreatedAt and Circuit back. So
	// a change never undoes a concurrent one, such as the delivery engine
	// disabling the endpoint (Record). An error from change aborts the
	// update, writing nothing, and is returned as is. change runs inside
	// the write transaction (SQLite's single writer), so it must be quick
	// and do no I/O, and it may run more than once: it must only modify
	// ep. Re-enabling the endpoint closes its circuit, disabling it
	// cancels its unfinished deliveries, and turning ordering on or off
	// parks or unparks them. It returns the endpoint as written.
	UpdateEndpoint(ctx context.Context, appID, id string, change func(ep *herald.Endpoint) error) (*herald.Endpoint, error)
	// DeleteEndpoint deletes the endpoint; its unfinished deliveries are
	// canceled.
	DeleteEndpoint(ctx context.Context, appID, id string) error
	// ActiveEndpoints returns the application's enabled endpoints, for
	// fan-out at publish time.
	ActiveEndpoints(ctx context.Context, appID string) ([]herald.Endpoint, error)
}

// Messages are published events.
type Messages interface {
	// Publish durably stores msg and its deliveries in one transaction and
	// returns only after the commit. Concurrent publishes are group-committed.
	// When leaseOwner is set, the deliveries are stored already leased to it
	// until leaseUntil (their NextAttemptAt), so the caller can dispatch them
	// from memory without reading them back. ErrConflict if msg.EventID was
	// already used in the application within the last day.
	Publish(ctx context.Context, msg *herald.Message, deliveries []herald.Delivery, leaseOwner string, leaseUntil time.Time) error
	// GetMessage finds a message by ID or by its EventID.
	GetMessage(ctx context.Context, appID, idOrEventID string) (*herald.Message, error)
	ListMessages(ctx context.Context, appID string, f MessageFilter) ([]herald.Message, error)
	// ExpungeMessageContent removes the payload but keeps the message.
	ExpungeMessageContent(ctx context.Context, appID, msgID string) error
}

// Queue is the delivery queue and its leases.
type Queue interface {
	// Claim leases up to limit due deliveries (NextAttemptAt <= now, not
	// final) to owner until now+lease, oldest due first, and returns them
	// with their message and endpoint. Rows another node holds are skipped.
	Claim(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]Job, error)
	// Record applies attempt results: it inserts each attempt, moves each
	// delivery to its next state, clears its lease, and updates endpoint
	// health (FailingSince, Disabled). Concurrent calls are group-committed.
	// It returns the IDs of endpoints that this call disabled.
	Record(ctx context.Context, results []Result) (disabled []string, err error)
	// ExtendLeases pushes owner's leases on deliveries to until, so a live
	// node keeps what it holds in memory. A delivery not leased to owner
	// (finished, released, taken over) is left alone, and owner's other leases
	// are not extended: a lease the node holds only in the database runs out,
	// and any node then claims the delivery. Empty deliveries is a no-op.
	ExtendLeases(ctx context.Context, owner string, deliveries []DeliveryKey, until time.Time) error
	// ReleaseLeases makes owner's leased deliveries due at once (for another
	// node, or this one after a restart). Used at shutdown and when a node
	// sheds work it cannot hold in memory. Like Resend, Recover and
	// Expedite, it makes a delivery whose endpoint's circuit blocks due at
	// the circuit's RetryAt instead (see Circuits).
	ReleaseLeases(ctx context.Context, owner string, deliveries []DeliveryKey) error
	// DeferLeases gives up owner's leases as ReleaseLeases does, but each
	// delivery is due no earlier than its NotBefore: for an endpoint that
	// cannot take it sooner (its rate limit, or a Retry-After it sent), so
	// that claims until then pass it by. A deferred delivery stays marked
	// as such (ExpeditePaced) until an attempt of it is recorded.
	DeferLeases(ctx context.Context, owner string, deliveries []Deferral) error
	// Resend schedules a manual attempt of a message to an endpoint now,
	// creating the delivery if the message never went there. A leased
	// delivery is left alone: its holder is about to attempt it, and a
	// second copy would go out beside that attempt.
	Resend(ctx context.Context, appID, msgID, endpointID string, now time.Time) error
	// Recover schedules a new attempt for the endpoint's failed deliveries
	// created in [since, until), and returns how many.
	Recover(ctx context.Context, appID, endpointID string, since, until, now time.Time) (int, error)
	// Expedite makes the endpoint's unfinished deliveries that wait for a
	// later retry due at now, and returns how many. Leased rows are left to
	// their owner. A `herald listen` session calls it when it reconnects, so
	// its backlog flows at once instead of at the next retry.
	Expedite(ctx context.Context, appID, endpointID string, now time.Time) (int, error)
	// ExpeditePaced makes the endpoint's deliveries that wait where
	// DeferLeases put them due at now, and returns how many; its retries
	// keep their schedule. The engine calls it when the endpoint's rate,
	// or its application's, was raised past what they were paced at.
	ExpeditePaced(ctx context.Context, appID, endpointID string, now time.Time) (int, error)
	// Backlog counts deliveries that are not final.
	Backlog(ctx context.Context) (int64, error)
}

// Attempts is the attempt log and the views built on it.
type Attempts interface {
	GetAttempt(ctx context.Context, appID, msgID, attemptID string) (*herald.Attempt, error)
	ListAttempts(ctx context.Context, appID string, f AttemptFilter) ([]herald.Attempt, error)
	ExpungeAttemptContent(ctx context.Context, appID, msgID, attemptID string) error
	// ListEndpointMessages lists messages sent to an endpoint, with the
	// state of their delivery, newest first.
	ListEndpointMessages(ctx context.Context, appID, endpointID string, f MessageFilter) ([]EndpointMessage, error)
	// ListMessageDestinations lists the endpoints a message went to, with
	// the state of each delivery.
	ListMessageDestinations(ctx context.Context, appID, msgID string, page Page) ([]MessageDestination, error)
	// EndpointStats counts the endpoint's deliveries by status, for those
	// created in [since, until).
	EndpointStats(ctx context.Context, appID, endpointID string, since, until time.Time) (Stats, error)
}

// IdempotencyClaimTimeout is how long a claimed idempotency key without a
// saved response holds off other requests with the key. The API bounds
// idempotent requests well below it, so an older claim was left by a
// process that died mid-request.
const IdempotencyClaimTimeout = 5 * time.Minute

// Auth holds API tokens, idempotency records and the dashboard sessions
// ended at logout.
type Auth interface {
	// CreateToken stores a token by the SHA-256 of its secret.
	CreateToken(ctx context.Context, t *Token) error
	GetToken(ctx context.Context, hash []byte) (*Token, error)
	DeleteToken(ctx context.Context, hash []byte) error
	// BeginIdempotent claims key for a request. It returns the saved
	// response if one exists, ErrConflict if another request with the key
	// is still in flight, or nil to let the caller proceed. A key is free
	// again once expires has passed, and a claim with no saved response
	// is taken over (atomically, by one caller) once it is
	// IdempotencyClaimTimeout old, so a request whose process died does
	// not block its key until expires.
	//
	// note is kept with the claim, committed with it: what the request
	// will do (a publish's message ID). The claim's notes are returned,
	// separated by spaces, oldest first: note itself, or, when the claim
	// takes over one whose request died, that request's notes followed by
	// note, since each request that held the claim may have committed its
	// work before it died (the publish, but not the saved response).
	BeginIdempotent(ctx context.Context, key string, now, expires time.Time, note string) (saved *IdempotentResponse, claimed string, err error)
	// FinishIdempotent saves the response for key, or forgets the key when
	// resp is nil (the request failed and may be retried).
	FinishIdempotent(ctx context.Context, key string, resp *IdempotentResponse) error
	// RevokeSession records that the dashboard session id (a hash of its
	// nonce) has ended, so a copy of its cookie is refused on every node,
	// and returns once that is committed. expires is when the session
	// would end anyway: retention deletes the record after it (see
	// ExpireRevokedSessions). Revoking a session again keeps the later
	// expiry.
	RevokeSession(ctx context.Context, id []byte, expires time.Time) error
	// SessionRevoked reports whether session id was revoked, until
	// retention deletes the record.
	SessionRevoked(ctx context.Context, id []byte) (bool, error)
}

// Waker is implemented by stores shared by several nodes (PostgreSQL): its
// channel receives a value when another node made deliveries due, so an idle
// node claims them at once instead of at its next poll.
type Waker interface {
	Wakeups() <-chan struct{}
}
