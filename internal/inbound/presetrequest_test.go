package inbound

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/heraldhq/herald/internal/store"
)

// presetRequest is a request a sender of one verifier type makes: signed
// with, or carrying, a secret given. The signed timestamps are t0's.
type presetRequest struct {
	name string
	// cfg is the source's verifier; its secrets are set by source.
	cfg VerifierConfig
	// secret is the source's secret, wrong another of the same form.
	secret, wrong string
	body          string
	// header returns the headers of body posted to url with secret.
	header func(url, secret, body string) []string
}

// source returns a source with ID id verifying with r's configuration
// and secret.
func (r presetRequest) source(id string) *store.Source {
	cfg := r.cfg
	cfg.Secrets = []string{r.secret}
	v, _ := json.Marshal(cfg)
	return &store.Source{ID: id, UID: id, AppID: "app_1", Name: id, Verifier: v, DedupeWindow: DefaultDedupeWindow, MaxBodyBytes: 1 << 10}
}

// presetRequests has at least one request for every verifier type, so a
// test ranging over it covers every preset.
func presetRequests(t *testing.T) []presetRequest {
	t.Helper()
	const ts = "1700000000" // t0
	whsec := func(key string) string { return "whsec_" + base64.StdEncoding.EncodeToString([]byte(key)) }
	basic := func(credentials string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(credentials))
	}
	reqs := []presetRequest{
		{name: TypeStandardWebhooks, cfg: VerifierConfig{Type: TypeStandardWebhooks}, secret: whsec("standard-key"), wrong: whsec("another-key"),
			body: `{"type":"invoice.paid"}`,
			header: func(_, secret, body string) []string {
				raw, _ := base64.StdEncoding.DecodeString(secret[len("whsec_"):])
				return []string{"webhook-id", "msg_1", "webhook-timestamp", ts, "webhook-signature", "v1," + b64MAC256(string(raw), "msg_1."+ts+".", body)}
			}},
		{name: TypeStripe, cfg: VerifierConfig{Type: TypeStripe}, secret: "whsec_stripe", wrong: "whsec_another",
			body: `{"id":"evt_1","type":"invoice.paid"}`,
			header: func(_, secret, body string) []string {
				return []string{"Stripe-Signature", "t=" + ts + ",v1=" + hexMAC256(secret, ts+".", body)}
			}},
		{name: TypeGitHub, cfg: VerifierConfig{Type: TypeGitHub}, secret: "github-secret", wrong: "another-account-secret",
			body: `{"zen":"Keep it logically awesome."}`,
			header: func(_, secret, body string) []string {
				return []string{"X-Hub-Signature-256", "sha256=" + hexMAC256(secret, body), "X-GitHub-Event", "push", "X-GitHub-Delivery", "d1"}
			}},
		{name: TypeShopify, cfg: VerifierConfig{Type: TypeShopify}, secret: "shopify-secret", wrong: "another-shop",
			body: `{"id":1}`,
			header: func(_, secret, body string) []string {
				return []string{"X-Shopify-Hmac-Sha256", b64MAC256(secret, body), "X-Shopify-Topic", "orders/create"}
			}},
		{name: TypeSlack, cfg: VerifierConfig{Type: TypeSlack}, secret: "slack-secret", wrong: "another-app",
			body: `{"type":"event_callback","event_id":"Ev1","event":{"type":"app_mention"}}`,
			header: func(_, secret, body string) []string {
				return []string{"X-Slack-Request-Timestamp", ts, "X-Slack-Signature", "v0=" + hexMAC256(secret, "v0:"+ts+":", body)}
			}},
		{name: TypeTwilio, cfg: VerifierConfig{Type: TypeTwilio}, secret: "twilio-auth-token", wrong: "another-account",
			body: "MessageSid=SM1&MessageStatus=delivered",
			header: func(url, secret, _ string) []string {
				return []string{"X-Twilio-Signature", b64MAC1(secret, url, "MessageSidSM1MessageStatusdelivered")}
			}},
		{name: TypeLinear, cfg: VerifierConfig{Type: TypeLinear}, secret: "linear-secret", wrong: "another-workspace",
			body:   `{"type":"Issue","action":"create","webhookTimestamp":1700000000000}`,
			header: func(_, secret, body string) []string { return []string{"Linear-Signature", hexMAC256(secret, body)} }},
		{name: TypePaddle, cfg: VerifierConfig{Type: TypePaddle}, secret: "pdl_ntfset_secret", wrong: "pdl_ntfset_another",
			body: `{"event_id":"evt_1","event_type":"transaction.paid"}`,
			header: func(_, secret, body string) []string {
				return []string{"Paddle-Signature", "ts=" + ts + ";h1=" + hexMAC256(secret, ts+":", body)}
			}},
		{name: TypeHMAC, cfg: VerifierConfig{Type: TypeHMAC, Header: "X-Signature", Prefix: "sha256="}, secret: "chosen-secret", wrong: "another-secret",
			body: `{"type":"ping"}`,
			header: func(_, secret, body string) []string {
				return []string{"X-Signature", "sha256=" + hexMAC256(secret, body)}
			}},
		{name: TypeGitLab, cfg: VerifierConfig{Type: TypeGitLab}, secret: "gitlab-token", wrong: "another-token",
			body:   `{"object_kind":"push"}`,
			header: func(_, secret, _ string) []string { return []string{"X-Gitlab-Token", secret} }},
		{name: TypeBasicAuth, cfg: VerifierConfig{Type: TypeBasicAuth}, secret: "hooks:password", wrong: "hooks:another",
			body:   `{"type":"ping"}`,
			header: func(_, secret, _ string) []string { return []string{"Authorization", basic(secret)} }},
		{name: TypeAPIKey + " bearer", cfg: VerifierConfig{Type: TypeAPIKey}, secret: "chosen-key", wrong: "another-key",
			body:   `{"type":"ping"}`,
			header: func(_, secret, _ string) []string { return []string{"Authorization", "Bearer " + secret} }},
		{name: TypeAPIKey + " X-API-Key", cfg: VerifierConfig{Type: TypeAPIKey}, secret: "chosen-key", wrong: "another-key",
			body:   `{"type":"ping"}`,
			header: func(_, secret, _ string) []string { return []string{"X-API-Key", secret} }},
		{name: TypeAPIKey + " configured header", cfg: VerifierConfig{Type: TypeAPIKey, Header: "X-Hook-Token", Prefix: "Token "}, secret: "chosen-key", wrong: "another-key",
			body:   `{"type":"ping"}`,
			header: func(_, secret, _ string) []string { return []string{"X-Hook-Token", "Token " + secret} }},
	}
	for _, typ := range Types() {
		if !slices.ContainsFunc(reqs, func(r presetRequest) bool { return r.cfg.Type == typ }) {
			t.Fatalf("presetRequests has no request for %s: add one", typ)
		}
	}
	return reqs
}

// TestLimitsGuesses: exactly the presets whose requests carry the secret
// itself limit guesses, and their secret is checked from the headers
// alone, as the handler does before reading the body.
func TestLimitsGuesses(t *testing.T) {
	t.Parallel()
	for _, r := range presetRequests(t) {
		cfg := r.cfg
		cfg.Secrets = []string{r.secret}
		v := mustVerifier(t, cfg, t0)
		if got, want := v.limitsGuesses(), limitedTypes[r.cfg.Type]; got != want {
			t.Errorf("%s: limitsGuesses() = %v, want %v", r.name, got, want)
		}
		if !v.limitsGuesses() {
			continue
		}
		const url = "http://herald.test/in/src_1"
		if err := v.verifySecret(headers(r.header(url, r.secret, r.body)...)); err != nil {
			t.Errorf("%s: verifySecret with the right secret: %v", r.name, err)
		}
		if err := v.verifySecret(headers(r.header(url, r.wrong, r.body)...)); !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s: verifySecret with a wrong secret: got %v, want %v", r.name, err, ErrBadSignature)
		}
	}
}
