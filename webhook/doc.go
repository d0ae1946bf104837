// Package webhook signs and receives webhooks in the Standard Webhooks
// format (https://www.standardwebhooks.com), the format Herald sends and
// Svix uses. It depends on the Go standard library only, so applications
// can import it without pulling in anything else.
//
// A webhook carries three headers: webhook-id (the message id, the same on
// every retry), webhook-timestamp (unix seconds) and webhook-signature, a
// space-separated list of "version,base64" entries over the content
// id + "." + timestamp + "." + body. Version v1 is HMAC-SHA256 with a
// shared "whsec_" secret; v1a is ed25519, signed with a "whsk_" private key
// and verified with its "whpk_" public key. Senders rotating a secret send
// one entry per key, and a receiver accepts any entry matching any of its
// keys. The svix-id, svix-timestamp and svix-signature names are accepted
// as well.
//
// # Verifying
//
// A Verifier holds the keys. Its Tolerance (five minutes by default) bounds
// how far the signed timestamp may be from its clock, Now, which tests can
// replace:
//
//	v, err := webhook.NewVerifier(os.Getenv("WEBHOOK_SECRET"))
//	...
//	err = v.Verify(body, r.Header) // body: the raw bytes, never re-encoded JSON
//
// Errors match ErrMissingHeaders, ErrInvalidTimestamp, ErrTimestamp (with
// ErrTooOld or ErrTooNew; the error is a *TimestampError) or ErrNoMatch.
//
// # Receiving
//
// A Receiver is an http.Handler doing what a receiving endpoint should:
// read the body up to a limit, verify it, drop a message already handled
// (by webhook-id, through a DedupeStore; MemoryDedupe by default), and call
// the application's HandlerFunc. In synchronous mode a handler error answers
// 500 so the sender retries; in asynchronous mode (ReceiverConfig.Workers)
// events are acknowledged once queued. Receiver's documentation describes
// which responses mean what, and how a failure in asynchronous mode is kept
// from being lost.
//
// # Signing
//
// A Signer produces the webhook-signature value, for senders and tests.
// NewSecret and NewKeyPair make new keys.
package webhook
