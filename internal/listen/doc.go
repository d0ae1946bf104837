// Package listen is the WebSocket relay behind `herald listen`: deliveries
// reach a developer's laptop over a connection the laptop opens outward,
// so no inbound port or tunnel is needed.
//
// A listen session is a real endpoint of its application, with the URL
// herald-listen://<app_id>/<name> and the UID listen-<name>, created or
// updated when the CLI connects. Filters, signatures, attempts, retries,
// the attempt log and the dashboard all work as for any endpoint. The
// delivery engine hands each attempt of such an endpoint to the Hub (an
// http.RoundTripper) instead of dialing; the Hub sends it over the session's
// WebSocket and waits for the CLI to report what the local app answered.
// With no session connected an attempt fails as "listener_offline" and is
// retried on the normal schedule; when the CLI reconnects its waiting
// deliveries are made due at once, and an attempt in flight on the session
// the reconnect replaced is sent to the new session. A session lasts no
// longer than what allowed it: it ends at its token's expiry, and on a
// periodic check that finds the token revoked or the endpoint disabled or
// deleted, with a close code on which the CLI stops rather than reconnect.
//
// The protocol is one JSON object per text message (see Frame). The Client
// is the CLI's side: it dials, forwards each request to the local app with
// its exact bytes and headers (16 at a time, 64 more queued, beyond that
// answered as busy, so a slow local app never stops it reading the
// connection), gives the local app no longer than the server's attempt
// timeout (each request says what is left of it), answers, and reconnects
// with backoff.
package listen
