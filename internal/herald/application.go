package herald

import (
	"encoding/json"
	"time"
)

// Application is a tenant: one customer of the sending app, owning endpoints
// and messages. It can be addressed by ID or by the caller's own UID.
type Application struct {
	ID           string
	UID          string // optional; unique when set
	Name         string
	ThrottleRate int // messages per second across the application's endpoints; 0 = unlimited
	Metadata     map[string]string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// EventType names a kind of message. Endpoints filter on it; its schemas
// document the payload and may carry an example.
type EventType struct {
	Name        string
	Description string
	Archived    bool
	Deprecated  bool
	FeatureFlag string
	Schemas     json.RawMessage // nil when unset
	CreatedAt   time.Time
	UpdatedAt   time.Time
}
