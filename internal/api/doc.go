// Package api serves Herald's HTTP API: the Svix-compatible management and
// publish routes under /api/v1, health checks and the OpenAPI document.
//
// Routes live in one table (routes.go) on the standard http.ServeMux. Every
// handler returns an error instead of writing one; writeError maps the
// error's herald.ErrorCode to an HTTP status in exactly one place.
//
// Wire shapes follow what the official Svix SDKs decode. The Go SDK rejects
// unknown fields, so outputs use the names it knows: filterTypes for an
// endpoint's event types and rateLimit for its throttle rate. Inputs accept
// both those names and the newer eventTypes and throttleRate.
//
// Authorization is a bearer token: the configured admin token may do
// anything; a token from app-portal-access is scoped to one application. An
// application token may use its own application's routes and read event
// types (the portal needs them to subscribe endpoints), and nothing else.
package api
