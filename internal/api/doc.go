// Package api serves Herald's HTTP API: the Svix-compatible management and
// publish routes under /api/v1, health checks and the OpenAPI document.
//
// Routes live in one table (routes.go) on the standard http.ServeMux. Every
// handler returns an error instead of writing one; writeError maps the
// error's herald.ErrorCode to an HTTP status in exactly one place.
//
// Wire shapes are the Svix server reference's. Outputs also repeat
// eventTypes and throttleRate under their older names, filterTypes and
// rateLimit, and inputs accept either name. The Svix Go SDKs 1.39 to 1.56
// reject fields their models lack, so they get answers without the newer
// fields (legacysdk.go).
//
// Authorization is a bearer token: the configured admin token may do
// anything; a token from app-portal-access is scoped to one application. An
// application token may use its own application's routes and read event
// types (the portal needs them to subscribe endpoints), and nothing else.
package api
