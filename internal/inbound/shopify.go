package inbound

import (
	"crypto/sha256"
	"encoding/base64"
	"time"
)

// newShopify verifies X-Shopify-Hmac-Sha256: the base64 HMAC-SHA256 of the
// body, keyed with the app's client secret. The event type is
// X-Shopify-Topic ("orders/create", which becomes "orders.create") and the id X-Shopify-Webhook-Id, or
// X-Shopify-Event-Id when that is all the request has.
func newShopify(secrets []string) preset {
	keys := rawKeys(secrets)
	verify := func(m *message, _ time.Time) error {
		header := m.header("X-Shopify-Hmac-Sha256")
		if header == "" {
			return missing("no X-Shopify-Hmac-Sha256 header")
		}
		sig, err := base64.StdEncoding.DecodeString(header)
		if err != nil {
			return malformed("X-Shopify-Hmac-Sha256 is not base64")
		}
		if !anyEqual([][]byte{sig}, keys.sums(sha256.New, m.Body)) {
			return mismatch("X-Shopify-Hmac-Sha256 does not match the source's secrets")
		}
		return nil
	}
	return preset{
		verify:    verify,
		eventType: headerValue("X-Shopify-Topic"),
		dedupeKey: firstNonEmpty(headerValue("X-Shopify-Webhook-Id"), headerValue("X-Shopify-Event-Id")),
	}
}
