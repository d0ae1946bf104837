// Package inbound receives webhooks from providers: it verifies each
// request against the source's verifier preset and extracts the event type
// and the provider's own event id used to drop duplicates.
//
// A Verifier is built once per source from a VerifierConfig and is safe
// for concurrent use. Verify works on the raw request bytes, fails closed
// (an unsigned or wrongly signed request is refused with an error wrapping
// ErrMissingSignature, ErrMalformedSignature, ErrBadSignature or ErrStale,
// which the ingest handler answers with 401), and accepts any of several
// secrets so a source can rotate them without downtime.
//
// Handler serves a source's ingest URL, POST /in/{source id or uid}: it
// checks the source's address allow-list (403; against the client behind
// a trusted reverse proxy, see HandlerConfig.TrustedProxies) and body
// limit (413),
// verifies (401, counted in herald_inbound_refused_total and never
// stored; 429 for a client that keeps sending wrong secrets to an
// api-key, basic-auth or gitlab source), answers Slack's handshake, and hands the event and the message
// it becomes (ForwardedMessage: the raw bytes, the provider's content type
// and headers without credentials) to the delivery engine, which stores
// both in one transaction, drops duplicates by the provider's event id and
// forwards the rest. It answers 200 only once the event is durable.
//
// Presets:
//
//	standard-webhooks  webhook-* or svix-* headers, whsec_ (HMAC) or whpk_ (ed25519) secrets
//	stripe             Stripe-Signature: t=...,v1=... over "t.body", 300 s tolerance
//	github             X-Hub-Signature-256 (or legacy X-Hub-Signature sha1)
//	shopify            X-Shopify-Hmac-Sha256, base64 HMAC-SHA256 of the body
//	slack              X-Slack-Signature over "v0:ts:body", 300 s; answers url_verification
//	twilio             X-Twilio-Signature over URL + sorted form params, or bodySHA256
//	linear             Linear-Signature hex HMAC-SHA256, webhookTimestamp within 60 s
//	paddle             Paddle-Signature: ts=...;h1=... over "ts:body", 5 s tolerance
//	gitlab             X-Gitlab-Token equal to the secret
//	hmac               any header, algorithm, encoding, prefix and signed-content template
//	basic-auth         Authorization: Basic, secrets written "user:password"
//	api-key            Authorization: Bearer <key> or X-API-Key, or a configured header
package inbound
