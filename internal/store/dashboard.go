package store

import (
	"context"
	"time"

	"github.com/heraldhq/herald/internal/herald"
)

// The types below are the read models of the dashboard: views across all
// applications that the per-application Store methods do not offer. Both
// engines implement the queries in their dashboard.go.

// Bucket counts the attempts made in one interval of a chart.
type Bucket struct {
	Start         time.Time
	Success, Fail int64
}

// DashboardMessageFilter narrows a message list across applications.
// Messages come newest first; Page.Iterator is the last message ID seen.
type DashboardMessageFilter struct {
	Page
	AppID     string // empty: every application
	EventType string // empty: every event type
	// Status keeps messages with at least one delivery in that status.
	Status *herald.MessageStatus
	Since  time.Time // zero: no bound
	Until  time.Time // zero: no bound
}

// MessageRow is a message with the count of its deliveries by status.
type MessageRow struct {
	Message herald.Message
	Stats   Stats
}

// FailedFilter narrows the failed deliveries list. Rows come newest
// message first; Iterator is the FailedDelivery.Cursor of the last row.
type FailedFilter struct {
	Limit    int
	Iterator string
	AppID    string    // empty: every application
	Since    time.Time // zero: no bound on the delivery's creation
}

// FailedDelivery is a delivery that gave up, with what the operator needs
// to judge it.
type FailedDelivery struct {
	Delivery       herald.Delivery
	EventType      string
	AppName        string
	EndpointURL    string
	LastStatusCode int    // 0 when the last attempt got no response
	LastError      string // the last attempt's error class, if any
}

// Cursor is the iterator that continues a failed list after d.
func (d FailedDelivery) Cursor() string {
	return d.Delivery.MsgID + "/" + d.Delivery.EndpointID
}

// EndpointHealth is an endpoint that is failing or disabled, with its
// application's name.
type EndpointHealth struct {
	Endpoint herald.Endpoint
	AppName  string
}

// EndpointKey identifies an endpoint with its application, as the Store
// methods take it.
type EndpointKey struct {
	AppID      string
	EndpointID string
}

// Dashboard is what the dashboard reads across applications, beyond the
// per-application queries. Both store engines implement it.
type Dashboard interface {
	// CountMessages counts the messages created in [since, until).
	CountMessages(ctx context.Context, since, until time.Time) (int64, error)
	// DeliveryStats counts the deliveries created in [since, until).
	DeliveryStats(ctx context.Context, since, until time.Time) (Stats, error)
	// AttemptBuckets counts attempts by outcome in buckets of width.
	AttemptBuckets(ctx context.Context, since, until time.Time, width time.Duration) ([]Bucket, error)
	// UnhealthyEndpoints lists disabled and failing endpoints.
	UnhealthyEndpoints(ctx context.Context, limit int) ([]EndpointHealth, error)
	// ListAllMessages lists messages across applications, newest first.
	ListAllMessages(ctx context.Context, f DashboardMessageFilter) ([]MessageRow, error)
	// ListFailed lists failed deliveries across applications.
	ListFailed(ctx context.Context, f FailedFilter) ([]FailedDelivery, error)
	// FailedEndpoints lists endpoints with failed deliveries since a time.
	FailedEndpoints(ctx context.Context, since time.Time) ([]EndpointKey, error)
}
