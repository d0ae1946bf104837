package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/internal/opevent"
	"github.com/heraldhq/herald/internal/store"
)

// operationalEvents sets up operational webhooks to target: the reserved
// application with the operator's endpoint, and the emitter that the API
// and the engine report to. It logs where the endpoint's signing secret
// can be read, never the secret.
func operationalEvents(ctx context.Context, st store.Store, target string, logger *slog.Logger, reg prometheus.Registerer) (*opevent.Emitter, error) {
	app, ep, err := opevent.Setup(ctx, st, target, time.Now())
	if err != nil {
		return nil, fmt.Errorf("operational webhooks: %w", err)
	}
	ops, err := opevent.New(opevent.Config{AppID: app.ID, Lookup: st, Logger: logger, Registry: reg})
	if err != nil {
		return nil, err
	}
	secretPath := "/api/v1/app/" + opevent.AppUID + "/endpoint/" + opevent.EndpointUID + "/secret"
	logger.Info("operational webhooks enabled", slog.String("url", redactURL(target)),
		slog.String("app_id", app.ID), slog.String("endpoint_id", ep.ID),
		slog.String("signing_secret_at", "GET "+secretPath))
	if ep.Disabled {
		logger.Warn("the operational webhook endpoint is disabled; enable it through the API to receive events",
			slog.String("app_id", app.ID), slog.String("endpoint_id", ep.ID))
	}
	return ops, nil
}

// redactURL is u for a log line: its scheme and host. Webhook receivers
// take credentials in every other part: the user (a token as user name),
// the password, the path (chat services' /services/T/B/SECRET) and the
// query.
func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		return "(unparseable URL)"
	}
	return p.Scheme + "://" + p.Host
}
