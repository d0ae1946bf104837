// Package ui is Herald's web interface, served under /ui/: the operator
// dashboard (overview, applications and endpoints, messages and attempts,
// failed deliveries with retry and recover, event types) and the consumer
// portal, a view of one application opened from the magic link that
// POST /api/v1/auth/app-portal-access/{app_id} returns.
//
// Pages are html/template rendered on the server; templates, CSS and the
// little JavaScript there is (list refresh, the portal's key exchange) are
// embedded in the binary, so nothing is built or fetched at run time.
//
// Sessions are signed cookies, so any Herald node sharing the session
// secret can serve them. Logging out records the session as revoked in
// the store before answering, and every request with a session cookie
// checks that record (one indexed read), so a copy of the cookie is
// refused on every node too; retention deletes the record once the
// session would have expired. Every POST carries a CSRF token bound to
// the session. A portal session names one application, and every portal
// route reads its application from the session, never from the URL.
package ui
