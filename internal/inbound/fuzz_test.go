package inbound

import (
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
)

// The parsers below read attacker-controlled headers and bodies before
// anything is verified: they must never panic, whatever they are given.

func FuzzStripeSignature(f *testing.F) {
	f.Add("t=1700000000,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd,v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39")
	f.Add("t=,v1=")
	f.Add(",,,=,t==,v1===")
	f.Add("t=99999999999999999999,v1=zz")
	f.Fuzz(func(t *testing.T, header string) {
		ts, err := parseStripeSignature(header)
		if err == nil && (!digits(ts.ts) || !strings.Contains(header, "v1=")) {
			t.Fatalf("parseStripeSignature(%q) accepted %+v", header, ts)
		}
		if err != nil && !IsRefused(err) {
			t.Fatalf("parseStripeSignature(%q): got %v, want a refusal", header, err)
		}
	})
}

func FuzzPaddleSignature(f *testing.F) {
	f.Add("ts=1671552777;h1=eb4d0dc8853be92b7f063b9f3ba5233eb920a09459b6e6b2c26705b4364db151")
	f.Add("ts=1;h1=;h1=00")
	f.Add(";;=;ts")
	f.Fuzz(func(t *testing.T, header string) {
		ts, err := parsePaddleSignature(header)
		if err == nil && (!digits(ts.ts) || !strings.Contains(header, "h1=")) {
			t.Fatalf("parsePaddleSignature(%q) accepted %+v", header, ts)
		}
		if err != nil && !IsRefused(err) {
			t.Fatalf("parsePaddleSignature(%q): got %v, want a refusal", header, err)
		}
	})
}

func FuzzSignatureList(f *testing.F) {
	f.Add("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= v1a,AAAA v2,abc")
	f.Add("v1, ,v1 v1,,")
	f.Add("\tv1,====\n")
	f.Fuzz(func(t *testing.T, header string) {
		for _, s := range parseSignatureList(header) {
			if s.version == "" || strings.ContainsAny(s.version, " \t\n") {
				t.Fatalf("parseSignatureList(%q): entry with version %q", header, s.version)
			}
		}
	})
}

func FuzzTwilioParams(f *testing.F) {
	f.Add("https://mycompany.com/myapp.php?foo=1&bar=2", "CallSid=CA1234567890ABCDE&Caller=%2B12349013030&Digits=1234")
	f.Add("https://[::1]:443/in?x", "a=1&a=1&a=0")
	f.Add("http://user:pa@ss@host/p#frag", "%zz=1")
	f.Add("://", ";")
	f.Fuzz(func(t *testing.T, rawURL, body string) {
		_, _ = twilioParams([]byte(body))
		u, err := url.Parse(rawURL)
		if err != nil {
			return
		}
		urls := twilioURLs(rawURL, u)
		if len(urls) == 0 || urls[0] != rawURL {
			t.Fatalf("twilioURLs(%q) = %q, want the URL itself first", rawURL, urls)
		}
	})
}

func FuzzBasicAuth(f *testing.F) {
	f.Add("hooks", "s3cret:with:colons")
	f.Add("", "")
	f.Add("\x00", "\xff")
	f.Fuzz(func(t *testing.T, user, password string) {
		header := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
		gotUser, gotPassword, ok := parseBasicAuth(header)
		if !strings.Contains(user, ":") && (!ok || gotUser != user || gotPassword != password) {
			t.Fatalf("parseBasicAuth(%q) = %q, %q, %v; want %q, %q, true", header, gotUser, gotPassword, ok, user, password)
		}
		_, _, _ = parseBasicAuth(user + password)
	})
}

func FuzzTemplate(f *testing.F) {
	f.Add("{timestamp}.{body}")
	f.Add("{method} {url}\n{header:X-Nonce}{")
	f.Add("}{}{{body}}")
	f.Fuzz(func(t *testing.T, s string) {
		tmpl, err := parseTemplate(s)
		if err != nil {
			return
		}
		m := &message{Request: &Request{Method: "POST", URL: "https://example.com", Header: headers("X-Nonce", "n"), Body: []byte("b")}}
		if got := len(tmpl.render(m, "1")); got != len(tmpl) {
			t.Fatalf("render(%q): got %d parts, want %d", s, got, len(tmpl))
		}
	})
}

// FuzzVerify sends arbitrary headers and bodies to every preset: none may
// panic, and none may accept a request signed by no one.
func FuzzVerify(f *testing.F) {
	f.Add("t=1700000000,v1=00", "sha256=00", "1700000000", "msg_1", `{"type":"url_verification","challenge":"x"}`)
	f.Add("", "", "", "", "")
	f.Add("ts=1;h1=ff", "v0=ff", "x", "Basic Og==", "a=b&c=d")
	f.Add("v1,AAAA", "Bearer k", "-1", "whsec_", `{"webhookTimestamp":1700000000000}`)
	var verifiers []*Verifier
	for _, typ := range Types() {
		cfg := VerifierConfig{Type: typ, Secrets: []string{"user:a-long-secret-nobody-guesses-0123456789"}}
		switch typ {
		case TypeStandardWebhooks:
			cfg.Secrets = []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
		case TypeHMAC:
			cfg.Header, cfg.Template, cfg.TimestampHeader = "X-Signature", "{timestamp}.{header:X-Id}.{body}", "X-Timestamp"
		}
		v, err := NewVerifier(cfg, clock(t0))
		if err != nil {
			f.Fatal(err)
		}
		verifiers = append(verifiers, v)
	}
	f.Fuzz(func(t *testing.T, sig, auth, ts, id, body string) {
		h := headers()
		for _, name := range []string{"Stripe-Signature", "Paddle-Signature", "webhook-signature", "svix-signature", "X-Hub-Signature-256",
			"X-Hub-Signature", "X-Shopify-Hmac-Sha256", "X-Slack-Signature", "X-Twilio-Signature", "Linear-Signature", "X-Signature"} {
			h.Set(name, sig)
		}
		for _, name := range []string{"Authorization", "X-Gitlab-Token", "X-API-Key"} {
			h.Set(name, auth)
		}
		for _, name := range []string{"webhook-timestamp", "svix-timestamp", "X-Slack-Request-Timestamp", "X-Timestamp"} {
			h.Set(name, ts)
		}
		h.Set("webhook-id", id)
		h.Set("X-Id", id)
		req := &Request{Method: "POST", URL: "https://example.com/in/src?" + id, Header: h, Body: []byte(body)}
		for _, v := range verifiers {
			if res, err := v.Verify(req); err == nil {
				t.Fatalf("Verify accepted an unsigned request: %+v", res)
			}
		}
	})
}
