package inbound

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"hash"
	"strings"
	"testing"
	"time"
)

func TestHMACCombinations(t *testing.T) {
	t.Parallel()
	const (
		secret = "generic-secret"
		body   = `{"type":"order.shipped","id":"ord_9"}`
	)
	hashes := map[string]func() hash.Hash{"sha1": sha1.New, "sha256": sha256.New, "sha512": sha512.New, "": sha256.New}
	encodings := map[string]func([]byte) string{
		"hex":    hex.EncodeToString,
		"":       hex.EncodeToString,
		"base64": base64.StdEncoding.EncodeToString,
	}
	for alg, newHash := range hashes {
		for enc, encode := range encodings {
			for _, prefix := range []string{"", "sha=", "v1="} {
				name := strings.Join([]string{"alg:" + alg, "enc:" + enc, "prefix:" + prefix}, "/")
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					cfg := VerifierConfig{Type: TypeHMAC, Secrets: []string{secret}, Header: "X-Signature", Algorithm: alg, Encoding: enc, Prefix: prefix}
					v := mustVerifier(t, cfg, t0)
					sig := prefix + encode(mac(newHash, secret, body))
					res, err := v.Verify(&Request{Header: headers("X-Signature", sig, "Idempotency-Key", "k1"), Body: []byte(body)})
					checkErr(t, err, nil)
					if res.EventType != "order.shipped" || res.DedupeKey != "k1" {
						t.Errorf("Result: got %+v, want type order.shipped and key k1", res)
					}
					_, err = v.Verify(&Request{Header: headers("X-Signature", sig), Body: []byte(body + " ")})
					checkErr(t, err, ErrBadSignature)
					_, err = v.Verify(&Request{Header: headers("X-Signature", prefix+encode(mac(newHash, "other", body))), Body: []byte(body)})
					checkErr(t, err, ErrBadSignature)
					_, err = v.Verify(&Request{Body: []byte(body)})
					checkErr(t, err, ErrMissingSignature)
				})
			}
		}
	}
}

func TestHMACTemplates(t *testing.T) {
	t.Parallel()
	const (
		secret = "tmpl-secret"
		body   = `{"event":"ping"}`
		u      = "https://in.example.com/in/src_1?x=1"
	)
	hmacCfg := func(mod func(*VerifierConfig)) VerifierConfig {
		c := VerifierConfig{Type: TypeHMAC, Secrets: []string{secret}, Header: "X-Sig"}
		mod(&c)
		return c
	}
	req := func(sig string, kv ...string) Request {
		return Request{Method: "POST", URL: u, Header: headers(append([]string{"X-Sig", sig}, kv...)...), Body: []byte(body)}
	}
	tsCfg := hmacCfg(func(c *VerifierConfig) { c.Template = "{timestamp}.{body}"; c.TimestampHeader = "X-Timestamp" })
	tsSig := hexMAC256(secret, "1700000000.", body)
	runPresetCases(t, []presetCase{
		{name: "default body", cfg: hmacCfg(func(*VerifierConfig) {}), req: req(hexMAC256(secret, body)), wantType: "ping"},
		{name: "timestamp and body", cfg: tsCfg, req: req(tsSig, "X-Timestamp", "1700000000"), wantType: "ping"},
		{name: "timestamp changed", cfg: tsCfg, req: req(tsSig, "X-Timestamp", "1700000001"), want: ErrBadSignature},
		{name: "timestamp missing", cfg: tsCfg, req: req(tsSig), want: ErrMissingSignature},
		{name: "timestamp stale", cfg: tsCfg, req: req(tsSig, "X-Timestamp", "1700000000"), now: t0.Add(301 * time.Second), want: ErrStale},
		{name: "timestamp within configured tolerance", cfg: hmacCfg(func(c *VerifierConfig) {
			c.Template = "{timestamp}.{body}"
			c.TimestampHeader = "X-Timestamp"
			c.ToleranceSeconds = 600
		}), req: req(tsSig, "X-Timestamp", "1700000000"), now: t0.Add(599 * time.Second), wantType: "ping"},
		{name: "timestamp signed as a header placeholder", cfg: hmacCfg(func(c *VerifierConfig) {
			c.Template = "{header:x-timestamp}:{body}"
			c.TimestampHeader = "X-Timestamp"
		}), req: req(hexMAC256(secret, "1700000000:", body), "X-Timestamp", "1700000000"), wantType: "ping"},
		{name: "timestamp not a number", cfg: tsCfg, req: req(hexMAC256(secret, "later.", body), "X-Timestamp", "later"), want: ErrMalformedSignature},
		{name: "method, url and header", cfg: hmacCfg(func(c *VerifierConfig) { c.Template = "{method} {url}\n{header:X-Request-Nonce}\n{body}" }),
			req: req(hexMAC256(secret, "POST "+u+"\nn-1\n", body), "X-Request-Nonce", "n-1"), wantType: "ping"},
		{name: "url tampered", cfg: hmacCfg(func(c *VerifierConfig) { c.Template = "{url}{body}" }),
			req: Request{URL: u + "&y=2", Header: headers("X-Sig", hexMAC256(secret, u, body)), Body: []byte(body)}, want: ErrBadSignature},
		{name: "prefix is matched regardless of case", cfg: hmacCfg(func(c *VerifierConfig) { c.Prefix = "sha256=" }), req: req("SHA256=" + hexMAC256(secret, body)), wantType: "ping"},
		{name: "prefix missing", cfg: hmacCfg(func(c *VerifierConfig) { c.Prefix = "sha256=" }), req: req(hexMAC256(secret, body)), want: ErrMalformedSignature},
		{name: "a value of another scheme beside the signature", cfg: hmacCfg(func(c *VerifierConfig) { c.Prefix = "sha256=" }),
			req: req("sha1=deadbeef", "X-Sig", "sha256="+hexMAC256(secret, body)), wantType: "ping"},
		{name: "uppercase hex", cfg: hmacCfg(func(*VerifierConfig) {}), req: req(strings.ToUpper(hexMAC256(secret, body))), wantType: "ping"},
		{name: "unpadded url-safe base64", cfg: hmacCfg(func(c *VerifierConfig) { c.Encoding = "base64" }),
			req: req(base64.RawURLEncoding.EncodeToString(mac(sha256.New, secret, body))), wantType: "ping"},
		{name: "sha512 base64", cfg: hmacCfg(func(c *VerifierConfig) { c.Encoding = "base64"; c.Algorithm = "sha512" }), req: req(b64MAC512(secret, body)), wantType: "ping"},
		{name: "not hex", cfg: hmacCfg(func(*VerifierConfig) {}), req: req("xyz"), want: ErrMalformedSignature},
		{name: "rotation", cfg: hmacCfg(func(c *VerifierConfig) { c.Secrets = []string{"old", secret} }), req: req(hexMAC256(secret, body)), wantType: "ping"},
		{name: "second header value matches", cfg: hmacCfg(func(*VerifierConfig) {}), req: req(hexMAC256("old", body), "X-Sig", hexMAC256(secret, body)), wantType: "ping"},
		{name: "configured dedupe field", cfg: hmacCfg(func(c *VerifierConfig) { c.DedupeJSONField = "event" }), req: req(hexMAC256(secret, body)), wantType: "ping", wantKey: "ping"},
	})
}

func TestBasicAuth(t *testing.T) {
	t.Parallel()
	cfg := VerifierConfig{Type: TypeBasicAuth, Secrets: []string{"hooks:s3cret:with:colons"}}
	basic := func(userpass string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(userpass)) }
	req := func(kv ...string) Request {
		return Request{Method: "POST", Header: headers(kv...), Body: []byte(`{"event_type":"lead.created"}`)}
	}
	runPresetCases(t, []presetCase{
		{name: "valid", cfg: cfg, req: req("Authorization", basic("hooks:s3cret:with:colons"), "webhook-id", "msg_1"), wantType: "lead.created", wantKey: "msg_1"},
		{name: "scheme in lower case", cfg: cfg, req: req("Authorization", "basic "+base64.StdEncoding.EncodeToString([]byte("hooks:s3cret:with:colons"))), wantType: "lead.created"},
		{name: "rotation", cfg: VerifierConfig{Type: TypeBasicAuth, Secrets: []string{"old:pw", "hooks:s3cret:with:colons"}}, req: req("Authorization", basic("hooks:s3cret:with:colons")), wantType: "lead.created"},
		{name: "wrong password", cfg: cfg, req: req("Authorization", basic("hooks:s3cret")), want: ErrBadSignature},
		{name: "wrong user", cfg: cfg, req: req("Authorization", basic("admin:s3cret:with:colons")), want: ErrBadSignature},
		{name: "bearer instead", cfg: cfg, req: req("Authorization", "Bearer hooks:s3cret:with:colons"), want: ErrMalformedSignature},
		{name: "not base64", cfg: cfg, req: req("Authorization", "Basic !!!"), want: ErrMalformedSignature},
		{name: "no colon", cfg: cfg, req: req("Authorization", basic("hooks")), want: ErrMalformedSignature},
		{name: "missing", cfg: cfg, req: req(), want: ErrMissingSignature},
	})
}

func TestAPIKey(t *testing.T) {
	t.Parallel()
	const key = "hk_live_4f9a0c"
	def := VerifierConfig{Type: TypeAPIKey, Secrets: []string{key}}
	custom := VerifierConfig{Type: TypeAPIKey, Secrets: []string{key}, Header: "X-Hook-Token", Prefix: "Token "}
	bare := VerifierConfig{Type: TypeAPIKey, Secrets: []string{key}, Header: "X-Hook-Token"}
	req := func(kv ...string) Request {
		return Request{Method: "POST", Header: headers(kv...), Body: []byte(`{"type":"ping"}`)}
	}
	runPresetCases(t, []presetCase{
		{name: "bearer", cfg: def, req: req("Authorization", "Bearer "+key), wantType: "ping"},
		{name: "bearer in lower case", cfg: def, req: req("Authorization", "bearer "+key), wantType: "ping"},
		{name: "x-api-key", cfg: def, req: req("X-API-Key", key), wantType: "ping"},
		{name: "x-api-key beside another authorization scheme", cfg: def, req: req("Authorization", "Basic Zm9vOmJhcg==", "X-API-Key", key), wantType: "ping"},
		{name: "rotation", cfg: VerifierConfig{Type: TypeAPIKey, Secrets: []string{"hk_old", key}}, req: req("X-API-Key", key), wantType: "ping"},
		{name: "wrong key", cfg: def, req: req("Authorization", "Bearer hk_live_4f9a0d"), want: ErrBadSignature},
		{name: "longer key", cfg: def, req: req("X-API-Key", key+"0"), want: ErrBadSignature},
		{name: "authorization without bearer", cfg: def, req: req("Authorization", key), want: ErrMalformedSignature},
		{name: "missing", cfg: def, req: req(), want: ErrMissingSignature},
		{name: "custom header and prefix", cfg: custom, req: req("X-Hook-Token", "Token "+key), wantType: "ping"},
		{name: "custom header without its prefix", cfg: custom, req: req("X-Hook-Token", key), want: ErrMalformedSignature},
		{name: "custom header ignores the defaults", cfg: custom, req: req("Authorization", "Bearer "+key), want: ErrMissingSignature},
		{name: "bare custom header", cfg: bare, req: req("X-Hook-Token", key), wantType: "ping"},
		{name: "bare custom header wrong", cfg: bare, req: req("X-Hook-Token", "Token "+key), want: ErrBadSignature},
	})
}

func TestSecretEqual(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a, b string
		want bool
	}{
		{"", "", true},
		{"abc", "abc", true},
		{"abc", "abd", false},
		{"abc", "ab", false},
		{"ab", "abc", false},
	}
	for _, tc := range tests {
		if got := secretEqual(tc.a, tc.b); got != tc.want {
			t.Errorf("secretEqual(%q, %q): got %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}
