package opevent

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/heraldhq/herald/internal/herald"
)

// The operational application and the operator's endpoint in it go by
// these UIDs, so the API reaches them without knowing their IDs: the
// endpoint's signing secret is at
// GET /api/v1/app/herald-operational/endpoint/operator/secret.
const (
	AppUID      = "herald-operational"
	EndpointUID = "operator"
)

// SetupStore is what Setup needs of the store.
type SetupStore interface {
	GetApplication(ctx context.Context, idOrUID string) (*herald.Application, error)
	CreateApplication(ctx context.Context, app *herald.Application) error
	GetEventType(ctx context.Context, name string) (*herald.EventType, error)
	CreateEventType(ctx context.Context, et *herald.EventType) error
	GetEndpoint(ctx context.Context, appID, idOrUID string) (*herald.Endpoint, error)
	CreateEndpoint(ctx context.Context, ep *herald.Endpoint) error
	UpdateEndpoint(ctx context.Context, appID, id string, change func(*herald.Endpoint) error) (*herald.Endpoint, error)
}

// CheckURL reports whether raw can be the operator's endpoint URL.
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("operational webhook URL %q: want an http or https URL", raw)
	}
	return nil
}

// Setup makes sure the operational application, the operational event
// types and the operator's endpoint exist, and points the endpoint at
// target. It is idempotent and safe on several nodes at once; it leaves a
// disabled endpoint disabled (the caller may say so), and keeps the
// endpoint's secret, filters and any other endpoint added to the
// application through the API.
func Setup(ctx context.Context, st SetupStore, target string, now time.Time) (*herald.Application, *herald.Endpoint, error) {
	if err := CheckURL(target); err != nil {
		return nil, nil, err
	}
	app, err := ensureApp(ctx, st, now)
	if err != nil {
		return nil, nil, err
	}
	for _, t := range Types {
		if err := ensureEventType(ctx, st, t.Name, t.Description, now); err != nil {
			return nil, nil, err
		}
	}
	ep, err := ensureEndpoint(ctx, st, app.ID, target, now)
	if err != nil {
		return nil, nil, err
	}
	return app, ep, nil
}

func ensureApp(ctx context.Context, st SetupStore, now time.Time) (*herald.Application, error) {
	app, err := st.GetApplication(ctx, AppUID)
	if err == nil || !errors.Is(err, herald.ErrNotFound) {
		return app, wrap("get operational application", err)
	}
	app = &herald.Application{
		ID:        herald.NewID(herald.PrefixApp, now),
		UID:       AppUID,
		Name:      "Herald operational webhooks",
		Metadata:  map[string]string{},
		CreatedAt: now,
		UpdatedAt: now,
	}
	err = st.CreateApplication(ctx, app)
	if errors.Is(err, herald.ErrConflict) { // another node created it first
		app, err = st.GetApplication(ctx, AppUID)
	}
	return app, wrap("create operational application", err)
}

func ensureEventType(ctx context.Context, st SetupStore, name, description string, now time.Time) error {
	_, err := st.GetEventType(ctx, name)
	if err == nil || !errors.Is(err, herald.ErrNotFound) {
		return wrap("get event type "+name, err)
	}
	err = st.CreateEventType(ctx, &herald.EventType{Name: name, Description: description, CreatedAt: now, UpdatedAt: now})
	if errors.Is(err, herald.ErrConflict) {
		err = nil
	}
	return wrap("create event type "+name, err)
}

func ensureEndpoint(ctx context.Context, st SetupStore, appID, target string, now time.Time) (*herald.Endpoint, error) {
	ep, err := st.GetEndpoint(ctx, appID, EndpointUID)
	switch {
	case err == nil:
		if ep.URL == target {
			return ep, nil
		}
		ep, err = st.UpdateEndpoint(ctx, appID, ep.ID, func(ep *herald.Endpoint) error {
			ep.URL, ep.UpdatedAt = target, now
			return nil
		})
		return ep, wrap("update operator endpoint", err)
	case !errors.Is(err, herald.ErrNotFound):
		return nil, wrap("get operator endpoint", err)
	}
	ep = &herald.Endpoint{
		ID:          herald.NewID(herald.PrefixEndpoint, now),
		AppID:       appID,
		UID:         EndpointUID,
		URL:         target,
		Description: "Operational webhooks (herald serve --operational-webhook-url)",
		Metadata:    map[string]string{},
		Secrets:     []herald.Secret{{Key: newSecret()}},
		CreatedAt:   now,
		UpdatedAt:   now,
	}
	err = st.CreateEndpoint(ctx, ep)
	if errors.Is(err, herald.ErrConflict) { // another node created it first
		return ensureEndpoint(ctx, st, appID, target, now)
	}
	return ep, wrap("create operator endpoint", err)
}

func newSecret() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return "whsec_" + base64.StdEncoding.EncodeToString(b[:])
}

func wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("opevent: %s: %w", what, err)
}
