package inbound

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"testing"
	"time"
)

// presetCase is one request against one verifier configuration.
type presetCase struct {
	name      string
	cfg       VerifierConfig
	req       Request
	now       time.Time // zero means t0
	want      error     // nil: accepted
	wantType  string
	wantKey   string
	challenge string // wanted Slack challenge body, if any
}

func runPresetCases(t *testing.T, cases []presetCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			now := tc.now
			if now.IsZero() {
				now = t0
			}
			res, err := mustVerifier(t, tc.cfg, now).Verify(&tc.req)
			checkErr(t, err, tc.want)
			if tc.want != nil {
				return
			}
			if res.EventType != tc.wantType {
				t.Errorf("EventType: got %q, want %q", res.EventType, tc.wantType)
			}
			if res.DedupeKey != tc.wantKey {
				t.Errorf("DedupeKey: got %q, want %q", res.DedupeKey, tc.wantKey)
			}
			switch {
			case tc.challenge == "" && res.Challenge != nil:
				t.Errorf("Challenge: got %q, want none", res.Challenge.Body)
			case tc.challenge != "" && res.Challenge == nil:
				t.Errorf("Challenge: got none, want %q", tc.challenge)
			case tc.challenge != "" && string(res.Challenge.Body) != tc.challenge:
				t.Errorf("Challenge: got %q, want %q", res.Challenge.Body, tc.challenge)
			}
		})
	}
}

func TestStandardWebhooks(t *testing.T) {
	t.Parallel()
	const (
		secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
		other  = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
		id     = "msg_2Yf7Tn1qWd"
		ts     = "1700000000"
		body   = `{"type":"invoice.paid","data":{"id":"in_1"}}`
	)
	key := func(s string) string {
		raw, _ := base64.StdEncoding.DecodeString(s[len("whsec_"):])
		return string(raw)
	}
	sig := "v1," + b64MAC256(key(secret), id+"."+ts+".", body)
	otherSig := "v1," + b64MAC256(key(other), id+"."+ts+".", body)
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	edSig := "v1a," + base64.StdEncoding.EncodeToString(ed25519.Sign(priv, []byte(id+"."+ts+"."+body)))
	whpk := "whpk_" + base64.StdEncoding.EncodeToString(pub)

	cfg := VerifierConfig{Type: TypeStandardWebhooks, Secrets: []string{secret}}
	req := func(kv ...string) Request { return Request{Method: "POST", Header: headers(kv...), Body: []byte(body)} }
	std := func(sig string) Request {
		return req("webhook-id", id, "webhook-timestamp", ts, "webhook-signature", sig)
	}
	runPresetCases(t, []presetCase{
		{name: "valid", cfg: cfg, req: std(sig), wantType: "invoice.paid", wantKey: id},
		{name: "svix headers", cfg: cfg, req: req("svix-id", id, "svix-timestamp", ts, "svix-signature", sig), wantType: "invoice.paid", wantKey: id},
		{name: "one of several signatures", cfg: cfg, req: std(otherSig + " v2,abc " + sig), wantType: "invoice.paid", wantKey: id},
		{name: "rotation: second secret signs", cfg: VerifierConfig{Type: TypeStandardWebhooks, Secrets: []string{other, secret}}, req: std(sig), wantType: "invoice.paid", wantKey: id},
		{name: "ed25519 v1a", cfg: VerifierConfig{Type: TypeStandardWebhooks, Secrets: []string{whpk}}, req: std(edSig), wantType: "invoice.paid", wantKey: id},
		{name: "ed25519 key with hmac signature only", cfg: VerifierConfig{Type: TypeStandardWebhooks, Secrets: []string{whpk}}, req: std(sig), want: ErrBadSignature},
		{name: "hmac and ed25519 secrets together", cfg: VerifierConfig{Type: TypeStandardWebhooks, Secrets: []string{other, whpk}}, req: std(edSig), wantType: "invoice.paid", wantKey: id},
		{name: "wrong secret", cfg: VerifierConfig{Type: TypeStandardWebhooks, Secrets: []string{other}}, req: std(sig), want: ErrBadSignature},
		{name: "tampered body", cfg: cfg, req: Request{Header: std(sig).Header, Body: []byte(body + " ")}, want: ErrBadSignature},
		{name: "tampered id", cfg: cfg, req: req("webhook-id", "msg_other", "webhook-timestamp", ts, "webhook-signature", sig), want: ErrBadSignature},
		{name: "headers mixed across sets", cfg: cfg, req: req("webhook-id", id, "svix-timestamp", ts, "svix-signature", sig), want: ErrMissingSignature},
		{name: "missing signature", cfg: cfg, req: req("webhook-id", id, "webhook-timestamp", ts), want: ErrMissingSignature},
		{name: "no headers", cfg: cfg, req: Request{Body: []byte(body)}, want: ErrMissingSignature},
		{name: "timestamp not a number", cfg: cfg, req: req("webhook-id", id, "webhook-timestamp", "soon", "webhook-signature", sig), want: ErrMalformedSignature},
		{name: "too old", cfg: cfg, req: std(sig), now: t0.Add(301 * time.Second), want: ErrStale},
		{name: "old within tolerance", cfg: cfg, req: std(sig), now: t0.Add(300 * time.Second), wantType: "invoice.paid", wantKey: id},
		{name: "too new", cfg: cfg, req: std(sig), now: t0.Add(-301 * time.Second), want: ErrStale},
		{name: "configured tolerance", cfg: VerifierConfig{Type: TypeStandardWebhooks, Secrets: []string{secret}, ToleranceSeconds: 30}, req: std(sig), now: t0.Add(31 * time.Second), want: ErrStale},
	})
}

func TestStripe(t *testing.T) {
	t.Parallel()
	const (
		secret = "whsec_stripe_test_1"
		other  = "whsec_stripe_test_2"
		body   = `{"id":"evt_1NG8Du2eZvKYlo2CUI79vXWy","object":"event","type":"payment_intent.succeeded"}`
	)
	v1 := hexMAC256(secret, "1700000000.", body)
	cfg := VerifierConfig{Type: TypeStripe, Secrets: []string{secret}}
	req := func(header string) Request {
		return Request{Method: "POST", Header: headers("Stripe-Signature", header), Body: []byte(body)}
	}
	const typ, key = "payment_intent.succeeded", "evt_1NG8Du2eZvKYlo2CUI79vXWy"
	runPresetCases(t, []presetCase{
		{name: "valid", cfg: cfg, req: req("t=1700000000,v1=" + v1), wantType: typ, wantKey: key},
		{name: "v0 and several v1", cfg: cfg, req: req("t=1700000000,v0=00ff,v1=" + hexMAC256(other, "1700000000.", body) + ",v1=" + v1), wantType: typ, wantKey: key},
		{name: "rotation", cfg: VerifierConfig{Type: TypeStripe, Secrets: []string{other, secret}}, req: req("t=1700000000,v1=" + v1), wantType: typ, wantKey: key},
		{name: "wrong secret", cfg: VerifierConfig{Type: TypeStripe, Secrets: []string{other}}, req: req("t=1700000000,v1=" + v1), want: ErrBadSignature},
		{name: "tampered body", cfg: cfg, req: Request{Header: headers("Stripe-Signature", "t=1700000000,v1="+v1), Body: []byte(body + "\n")}, want: ErrBadSignature},
		{name: "tampered timestamp", cfg: cfg, req: req("t=1700000001,v1=" + v1), want: ErrBadSignature},
		{name: "only v0", cfg: cfg, req: req("t=1700000000,v0=" + v1), want: ErrMissingSignature},
		{name: "no timestamp", cfg: cfg, req: req("v1=" + v1), want: ErrMalformedSignature},
		{name: "two timestamps", cfg: cfg, req: req("t=1700000000,t=1700000001,v1=" + v1), want: ErrMalformedSignature},
		{name: "garbage", cfg: cfg, req: req("not a signature"), want: ErrMalformedSignature},
		{name: "missing header", cfg: cfg, req: Request{Body: []byte(body)}, want: ErrMissingSignature},
		{name: "too old", cfg: cfg, req: req("t=1700000000,v1=" + v1), now: t0.Add(301 * time.Second), want: ErrStale},
		{name: "at tolerance", cfg: cfg, req: req("t=1700000000,v1=" + v1), now: t0.Add(300 * time.Second), wantType: typ, wantKey: key},
		{name: "too new", cfg: cfg, req: req("t=1700000000,v1=" + v1), now: t0.Add(-301 * time.Second), want: ErrStale},
	})
}

func TestGitHub(t *testing.T) {
	t.Parallel()
	const (
		secret   = "gh-webhook-secret"
		body     = `{"action":"opened","issue":{"number":1}}`
		delivery = "72d3162e-cc78-11e3-81ab-4c9367dc0958"
	)
	cfg := VerifierConfig{Type: TypeGitHub, Secrets: []string{secret}}
	req := func(kv ...string) Request {
		kv = append(kv, "X-GitHub-Event", "issues", "X-GitHub-Delivery", delivery)
		return Request{Method: "POST", Header: headers(kv...), Body: []byte(body)}
	}
	sig256 := "sha256=" + hexMAC256(secret, body)
	runPresetCases(t, []presetCase{
		{name: "sha256", cfg: cfg, req: req("X-Hub-Signature-256", sig256), wantType: "issues", wantKey: delivery},
		{name: "legacy sha1 alone", cfg: cfg, req: req("X-Hub-Signature", "sha1="+hexMAC1(secret, body)), wantType: "issues", wantKey: delivery},
		{name: "sha256 decides when both are sent", cfg: cfg, req: req("X-Hub-Signature-256", "sha256="+hexMAC256("wrong", body), "X-Hub-Signature", "sha1="+hexMAC1(secret, body)), want: ErrBadSignature},
		{name: "rotation", cfg: VerifierConfig{Type: TypeGitHub, Secrets: []string{"old", secret}}, req: req("X-Hub-Signature-256", sig256), wantType: "issues", wantKey: delivery},
		{name: "wrong secret", cfg: VerifierConfig{Type: TypeGitHub, Secrets: []string{"old"}}, req: req("X-Hub-Signature-256", sig256), want: ErrBadSignature},
		{name: "tampered body", cfg: cfg, req: Request{Header: req("X-Hub-Signature-256", sig256).Header, Body: []byte(`{"action":"closed","issue":{"number":1}}`)}, want: ErrBadSignature},
		{name: "no prefix", cfg: cfg, req: req("X-Hub-Signature-256", hexMAC256(secret, body)), want: ErrMalformedSignature},
		{name: "not hex", cfg: cfg, req: req("X-Hub-Signature-256", "sha256=zz"), want: ErrMalformedSignature},
		{name: "missing", cfg: cfg, req: req(), want: ErrMissingSignature},
	})
}

func TestShopify(t *testing.T) {
	t.Parallel()
	const (
		secret = "shpss_0123456789abcdef"
		body   = `{"id":820982911946154508,"email":"jon@example.com"}`
	)
	cfg := VerifierConfig{Type: TypeShopify, Secrets: []string{secret}}
	sig := b64MAC256(secret, body)
	req := func(kv ...string) Request {
		return Request{Method: "POST", Header: headers(kv...), Body: []byte(body)}
	}
	runPresetCases(t, []presetCase{
		{name: "valid", cfg: cfg, req: req("X-Shopify-Hmac-Sha256", sig, "X-Shopify-Topic", "orders/create", "X-Shopify-Webhook-Id", "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"), wantType: "orders.create", wantKey: "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"},
		{name: "event id when no webhook id", cfg: cfg, req: req("X-Shopify-Hmac-Sha256", sig, "X-Shopify-Topic", "orders/paid", "X-Shopify-Event-Id", "98880550-7158-44d4-b7cd-2c97c8a091b5"), wantType: "orders.paid", wantKey: "98880550-7158-44d4-b7cd-2c97c8a091b5"},
		{name: "rotation", cfg: VerifierConfig{Type: TypeShopify, Secrets: []string{"shpss_old", secret}}, req: req("X-Shopify-Hmac-Sha256", sig)},
		{name: "wrong secret", cfg: VerifierConfig{Type: TypeShopify, Secrets: []string{"shpss_old"}}, req: req("X-Shopify-Hmac-Sha256", sig), want: ErrBadSignature},
		{name: "tampered body", cfg: cfg, req: Request{Header: headers("X-Shopify-Hmac-Sha256", sig), Body: []byte(`{"id":820982911946154509}`)}, want: ErrBadSignature},
		{name: "not base64", cfg: cfg, req: req("X-Shopify-Hmac-Sha256", "%%%"), want: ErrMalformedSignature},
		{name: "missing", cfg: cfg, req: req("X-Shopify-Topic", "orders/create"), want: ErrMissingSignature},
	})
}

func TestSlack(t *testing.T) {
	t.Parallel()
	const (
		secret    = "8f742231b10e8888abcd99yyyzzz85a5"
		ts        = "1700000000"
		event     = `{"type":"event_callback","event_id":"Ev08MFMKH6","event":{"type":"app_mention","text":"hi"}}`
		challenge = `{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}`
		command   = "token=x&team_id=T1&command=%2Fdeploy&text=now&trigger_id=13345224609.738474920.8088930838d88f008e0"
	)
	interaction := "payload=" + url.QueryEscape(`{"type":"block_actions","trigger_id":"1.2.3"}`)
	cfg := VerifierConfig{Type: TypeSlack, Secrets: []string{secret}}
	signed := func(body string, kv ...string) Request {
		h := headers(append([]string{"X-Slack-Request-Timestamp", ts, "X-Slack-Signature", "v0=" + hexMAC256(secret, "v0:"+ts+":", body)}, kv...)...)
		return Request{Method: "POST", Header: h, Body: []byte(body)}
	}
	tampered := signed(event)
	tampered.Body = []byte(`{"type":"event_callback","event_id":"Ev08MFMKH7","event":{"type":"app_mention","text":"hi"}}`)
	noTS := signed(event)
	noTS.Header.Del("X-Slack-Request-Timestamp")
	runPresetCases(t, []presetCase{
		{name: "events api", cfg: cfg, req: signed(event), wantType: "app_mention", wantKey: "Ev08MFMKH6"},
		{name: "url_verification answers the challenge", cfg: cfg, req: signed(challenge), wantType: "url_verification", challenge: "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"},
		{name: "unsigned url_verification is refused", cfg: cfg, req: Request{Body: []byte(challenge)}, want: ErrMissingSignature},
		{name: "slash command", cfg: cfg, req: signed(command), wantType: "slash_command", wantKey: "13345224609.738474920.8088930838d88f008e0"},
		{name: "interaction", cfg: cfg, req: signed(interaction), wantType: "block_actions"},
		{name: "rotation", cfg: VerifierConfig{Type: TypeSlack, Secrets: []string{"old-signing-secret", secret}}, req: signed(event), wantType: "app_mention", wantKey: "Ev08MFMKH6"},
		{name: "wrong secret", cfg: VerifierConfig{Type: TypeSlack, Secrets: []string{"old-signing-secret"}}, req: signed(event), want: ErrBadSignature},
		{name: "tampered body", cfg: cfg, req: tampered, want: ErrBadSignature},
		{name: "missing timestamp", cfg: cfg, req: noTS, want: ErrMissingSignature},
		{name: "wrong version", cfg: cfg, req: Request{Header: headers("X-Slack-Request-Timestamp", ts, "X-Slack-Signature", "v1="+hexMAC256(secret, "v0:"+ts+":", event)), Body: []byte(event)}, want: ErrMalformedSignature},
		{name: "too old", cfg: cfg, req: signed(event), now: t0.Add(5*time.Minute + time.Second), want: ErrStale},
		{name: "within five minutes", cfg: cfg, req: signed(event), now: t0.Add(5 * time.Minute), wantType: "app_mention", wantKey: "Ev08MFMKH6"},
	})
}

func TestTwilio(t *testing.T) {
	t.Parallel()
	const (
		token = "12345"
		form  = "To=%2B18005551212&From=%2B12349013030&Body=Hello+there&MessageSid=SM123&SmsStatus=received&MediaUrl=b&MediaUrl=a"
		// Parameters sorted by name, each value as decoded, repeated names sorted by value.
		signedParams = "Body" + "Hello there" + "From" + "+12349013030" + "MediaUrl" + "a" + "MediaUrl" + "b" + "MessageSid" + "SM123" + "SmsStatus" + "received" + "To" + "+18005551212"
		hookURL      = "https://hooks.example.com/in/src_2Zb?tenant=acme"
		jsonBody     = `{"type":"com.twilio.messaging.message.delivered","data":{"messageSid":"SM1"}}`
	)
	cfg := VerifierConfig{Type: TypeTwilio, Secrets: []string{token}}
	formReq := func(u, sig string) Request {
		return Request{Method: "POST", URL: u, Header: headers("X-Twilio-Signature", sig, "I-Twilio-Idempotency-Token", "idem-1"), Body: []byte(form)}
	}
	sum := sha256.Sum256([]byte(jsonBody))
	jsonURL := "https://hooks.example.com/in/src_2Zb?bodySHA256=" + hex.EncodeToString(sum[:])
	jsonReq := func(body, sig string) Request {
		return Request{Method: "POST", URL: jsonURL, Header: headers("X-Twilio-Signature", sig, "Content-Type", "application/json"), Body: []byte(body)}
	}
	callForm := "CallSid=CA1&CallStatus=Ringing"
	noURL := formReq("", b64MAC1(token, hookURL, signedParams))
	runPresetCases(t, []presetCase{
		{name: "form post", cfg: cfg, req: formReq(hookURL, b64MAC1(token, hookURL, signedParams)), wantType: "message.received", wantKey: "idem-1"},
		{name: "signed with default port", cfg: cfg, req: formReq(hookURL, b64MAC1(token, "https://hooks.example.com:443/in/src_2Zb?tenant=acme", signedParams)), wantType: "message.received", wantKey: "idem-1"},
		{name: "signed without the port we see", cfg: cfg, req: formReq("https://hooks.example.com:443/in/src_2Zb?tenant=acme", b64MAC1(token, hookURL, signedParams)), wantType: "message.received", wantKey: "idem-1"},
		{name: "call status", cfg: cfg, req: Request{URL: hookURL, Header: headers("X-Twilio-Signature", b64MAC1(token, hookURL, "CallSidCA1CallStatusRinging")), Body: []byte(callForm)}, wantType: "call.ringing"},
		{name: "get with no body", cfg: cfg, req: Request{Method: "GET", URL: hookURL, Header: headers("X-Twilio-Signature", b64MAC1(token, hookURL))}},
		{name: "json body with bodySHA256", cfg: cfg, req: jsonReq(jsonBody, b64MAC1(token, jsonURL)), wantType: "com.twilio.messaging.message.delivered"},
		{name: "json body tampered", cfg: cfg, req: jsonReq(jsonBody+" ", b64MAC1(token, jsonURL)), want: ErrBadSignature},
		{name: "rotation", cfg: VerifierConfig{Type: TypeTwilio, Secrets: []string{"old", token}}, req: formReq(hookURL, b64MAC1(token, hookURL, signedParams)), wantType: "message.received", wantKey: "idem-1"},
		{name: "wrong token", cfg: VerifierConfig{Type: TypeTwilio, Secrets: []string{"old"}}, req: formReq(hookURL, b64MAC1(token, hookURL, signedParams)), want: ErrBadSignature},
		{name: "different url", cfg: cfg, req: formReq("https://hooks.example.com/in/src_other?tenant=acme", b64MAC1(token, hookURL, signedParams)), want: ErrBadSignature},
		{name: "tampered form", cfg: cfg, req: Request{URL: hookURL, Header: headers("X-Twilio-Signature", b64MAC1(token, hookURL, signedParams)), Body: []byte(form + "&Extra=1")}, want: ErrBadSignature},
		{name: "missing signature", cfg: cfg, req: Request{URL: hookURL, Body: []byte(form)}, want: ErrMissingSignature},
		{name: "signature not base64", cfg: cfg, req: formReq(hookURL, "***"), want: ErrMalformedSignature},
	})
	t.Run("missing url is a fault, not a refusal", func(t *testing.T) {
		t.Parallel()
		_, err := mustVerifier(t, cfg, t0).Verify(&noURL)
		if err == nil || IsRefused(err) {
			t.Fatalf("Verify without URL: got %v, want a non-refusal error", err)
		}
	})
}

func TestLinear(t *testing.T) {
	t.Parallel()
	const (
		secret = "lin_wh_secret"
		body   = `{"action":"create","type":"Issue","data":{"id":"2174add1"},"webhookTimestamp":1700000000000,"webhookId":"wh_1"}`
	)
	cfg := VerifierConfig{Type: TypeLinear, Secrets: []string{secret}}
	req := func(body string, kv ...string) Request {
		kv = append([]string{"Linear-Signature", hexMAC256(secret, body), "Linear-Delivery", "234d1a4e-b617-4388-90fe-adc3633d6b72", "Linear-Event", "Issue"}, kv...)
		return Request{Method: "POST", Header: headers(kv...), Body: []byte(body)}
	}
	noTimestamp := `{"action":"create","type":"Issue"}`
	runPresetCases(t, []presetCase{
		{name: "valid", cfg: cfg, req: req(body), wantType: "Issue.create", wantKey: "234d1a4e-b617-4388-90fe-adc3633d6b72"},
		{name: "rotation", cfg: VerifierConfig{Type: TypeLinear, Secrets: []string{"old", secret}}, req: req(body), wantType: "Issue.create", wantKey: "234d1a4e-b617-4388-90fe-adc3633d6b72"},
		{name: "wrong secret", cfg: VerifierConfig{Type: TypeLinear, Secrets: []string{"old"}}, req: req(body), want: ErrBadSignature},
		{name: "tampered", cfg: cfg, req: Request{Header: req(body).Header, Body: []byte(body[1:])}, want: ErrBadSignature},
		{name: "stale webhookTimestamp", cfg: cfg, req: req(body), now: t0.Add(61 * time.Second), want: ErrStale},
		{name: "within a minute", cfg: cfg, req: req(body), now: t0.Add(60 * time.Second), wantType: "Issue.create", wantKey: "234d1a4e-b617-4388-90fe-adc3633d6b72"},
		{name: "no webhookTimestamp", cfg: cfg, req: req(noTimestamp), want: ErrMissingSignature},
		{name: "missing signature", cfg: cfg, req: Request{Body: []byte(body)}, want: ErrMissingSignature},
	})
}

func TestPaddle(t *testing.T) {
	t.Parallel()
	const (
		secret = "pdl_ntfset_01gkpjp8bkm3tm53kdgkx6sms7_6h3qd3uFSi9YCD3OLYAShQI90XTI5vEI"
		body   = `{"event_id":"evt_01h8441jx8x1q971q9ksksqh82","event_type":"transaction.completed","occurred_at":"2023-11-14T22:13:19Z"}`
	)
	h1 := hexMAC256(secret, "1700000000:", body)
	cfg := VerifierConfig{Type: TypePaddle, Secrets: []string{secret}}
	req := func(header string) Request {
		return Request{Method: "POST", Header: headers("Paddle-Signature", header), Body: []byte(body)}
	}
	const typ, key = "transaction.completed", "evt_01h8441jx8x1q971q9ksksqh82"
	runPresetCases(t, []presetCase{
		{name: "valid", cfg: cfg, req: req("ts=1700000000;h1=" + h1), wantType: typ, wantKey: key},
		{name: "two h1 during rotation", cfg: cfg, req: req("ts=1700000000;h1=" + hexMAC256("old", "1700000000:", body) + ";h1=" + h1), wantType: typ, wantKey: key},
		{name: "rotation", cfg: VerifierConfig{Type: TypePaddle, Secrets: []string{"old", secret}}, req: req("ts=1700000000;h1=" + h1), wantType: typ, wantKey: key},
		{name: "wrong secret", cfg: VerifierConfig{Type: TypePaddle, Secrets: []string{"old"}}, req: req("ts=1700000000;h1=" + h1), want: ErrBadSignature},
		{name: "tampered body", cfg: cfg, req: Request{Header: headers("Paddle-Signature", "ts=1700000000;h1="+h1), Body: []byte(body[:len(body)-1])}, want: ErrBadSignature},
		{name: "older than 5 s", cfg: cfg, req: req("ts=1700000000;h1=" + h1), now: t0.Add(6 * time.Second), want: ErrStale},
		{name: "configured tolerance", cfg: VerifierConfig{Type: TypePaddle, Secrets: []string{secret}, ToleranceSeconds: 60}, req: req("ts=1700000000;h1=" + h1), now: t0.Add(59 * time.Second), wantType: typ, wantKey: key},
		{name: "no h1", cfg: cfg, req: req("ts=1700000000"), want: ErrMissingSignature},
		{name: "no ts", cfg: cfg, req: req("h1=" + h1), want: ErrMalformedSignature},
		{name: "missing header", cfg: cfg, req: Request{Body: []byte(body)}, want: ErrMissingSignature},
	})
}

func TestGitLab(t *testing.T) {
	t.Parallel()
	cfg := VerifierConfig{Type: TypeGitLab, Secrets: []string{"glpat-token-1"}}
	req := func(kv ...string) Request {
		kv = append(kv, "X-Gitlab-Event", "Push Hook", "X-Gitlab-Event-UUID", "13792a34-cac6-4fda-95a8-c58e00a3954e")
		return Request{Method: "POST", Header: headers(kv...), Body: []byte(`{"object_kind":"push"}`)}
	}
	runPresetCases(t, []presetCase{
		{name: "token", cfg: cfg, req: req("X-Gitlab-Token", "glpat-token-1"), wantType: "push", wantKey: "13792a34-cac6-4fda-95a8-c58e00a3954e"},
		{name: "idempotency key first", cfg: cfg, req: req("X-Gitlab-Token", "glpat-token-1", "Idempotency-Key", "f5b8e1a0"), wantType: "push", wantKey: "f5b8e1a0"},
		{name: "rotation", cfg: VerifierConfig{Type: TypeGitLab, Secrets: []string{"old", "glpat-token-1"}}, req: req("X-Gitlab-Token", "glpat-token-1"), wantType: "push", wantKey: "13792a34-cac6-4fda-95a8-c58e00a3954e"},
		{name: "wrong token", cfg: cfg, req: req("X-Gitlab-Token", "glpat-token-2"), want: ErrBadSignature},
		{name: "prefix of the token", cfg: cfg, req: req("X-Gitlab-Token", "glpat-token-"), want: ErrBadSignature},
		{name: "missing", cfg: cfg, req: req(), want: ErrMissingSignature},
	})
}

func TestOverrides(t *testing.T) {
	t.Parallel()
	const (
		secret = "gh-secret"
		body   = `{"id":"obj_1","meta":{"kind":"build.finished","seq":42},"type":"ignored"}`
	)
	base := func(mod func(*VerifierConfig)) VerifierConfig {
		c := VerifierConfig{Type: TypeGitHub, Secrets: []string{secret}}
		mod(&c)
		return c
	}
	req := Request{Method: "POST", Body: []byte(body), Header: headers(
		"X-Hub-Signature-256", "sha256="+hexMAC256(secret, body),
		"X-GitHub-Event", "workflow_run", "X-GitHub-Delivery", "d-1",
		"X-Kind", "custom.kind", "X-Event-Id", "evt-77")}
	runPresetCases(t, []presetCase{
		{name: "provider defaults", cfg: base(func(*VerifierConfig) {}), req: req, wantType: "workflow_run", wantKey: "d-1"},
		{name: "fixed event type", cfg: base(func(c *VerifierConfig) { c.EventType = "ci.event" }), req: req, wantType: "ci.event", wantKey: "d-1"},
		{name: "event type header", cfg: base(func(c *VerifierConfig) { c.EventTypeHeader = "x-kind" }), req: req, wantType: "custom.kind", wantKey: "d-1"},
		{name: "nested event type field", cfg: base(func(c *VerifierConfig) { c.EventTypeJSONField = "meta.kind" }), req: req, wantType: "build.finished", wantKey: "d-1"},
		{name: "dedupe header", cfg: base(func(c *VerifierConfig) { c.DedupeHeader = "X-Event-Id" }), req: req, wantType: "workflow_run", wantKey: "evt-77"},
		{name: "numeric dedupe field", cfg: base(func(c *VerifierConfig) { c.DedupeJSONField = "meta.seq" }), req: req, wantType: "workflow_run", wantKey: "42"},
		{name: "absent field gives no key", cfg: base(func(c *VerifierConfig) { c.DedupeJSONField = "meta.missing" }), req: req, wantType: "workflow_run"},
		{name: "object field gives no type", cfg: base(func(c *VerifierConfig) { c.EventTypeJSONField = "meta" }), req: req, wantKey: "d-1"},
	})
}
