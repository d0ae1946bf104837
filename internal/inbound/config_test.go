package inbound

import (
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/herald"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     VerifierConfig
		wantErr string // substring of the detail; empty means valid
	}{
		{"stripe", VerifierConfig{Type: TypeStripe, Secrets: []string{"whsec_x"}}, ""},
		{"standard webhooks", VerifierConfig{Type: TypeStandardWebhooks, Secrets: []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}, ""},
		{"standard webhooks unpadded", VerifierConfig{Type: TypeStandardWebhooks, Secrets: []string{"whsec_dGVzdA"}}, ""},
		{"hmac with template", VerifierConfig{Type: TypeHMAC, Secrets: []string{"s"}, Header: "X-Sig", Template: "{timestamp}.{body}", TimestampHeader: "X-Ts", ToleranceSeconds: 60}, ""},
		{"api-key with header", VerifierConfig{Type: TypeAPIKey, Secrets: []string{"k"}, Header: "X-Token", Prefix: "Token "}, ""},
		{"basic-auth", VerifierConfig{Type: TypeBasicAuth, Secrets: []string{"u:"}}, ""},
		{"overrides", VerifierConfig{Type: TypeGitHub, Secrets: []string{"s"}, EventTypeJSONField: "a.b", DedupeHeader: "X-Id"}, ""},

		{"missing type", VerifierConfig{Secrets: []string{"s"}}, `type "" is not one of standard-webhooks, stripe`},
		{"unknown type", VerifierConfig{Type: "svix2", Secrets: []string{"s"}}, `type "svix2"`},
		{"no secrets", VerifierConfig{Type: TypeGitHub}, "needs at least one secret"},
		{"empty secret", VerifierConfig{Type: TypeGitHub, Secrets: []string{"a", ""}}, "secret 2 is empty"},
		{"padded secret", VerifierConfig{Type: TypeGitHub, Secrets: []string{"abc\n"}}, "secret 1 has leading or trailing white space"},
		{"too many secrets", VerifierConfig{Type: TypeGitHub, Secrets: strings.Split("a,b,c,d,e,f,g,h,i,j,k", ",")}, "at most 10 secrets"},
		{"standard secret not base64", VerifierConfig{Type: TypeStandardWebhooks, Secrets: []string{"whsec_***"}}, "secret 1: whsec_ secret is not base64"},
		{"standard secret empty", VerifierConfig{Type: TypeStandardWebhooks, Secrets: []string{"whsec_"}}, "whsec_ secret is empty"},
		{"standard private key", VerifierConfig{Type: TypeStandardWebhooks, Secrets: []string{"whsk_AAAA"}}, "give the source the whpk_ public key"},
		{"standard public key short", VerifierConfig{Type: TypeStandardWebhooks, Secrets: []string{"whpk_AAAA"}}, "not a base64 ed25519 public key"},
		{"basic-auth without colon", VerifierConfig{Type: TypeBasicAuth, Secrets: []string{"userpass"}}, "must be written user:password"},
		{"basic-auth without user", VerifierConfig{Type: TypeBasicAuth, Secrets: []string{":pass"}}, "must be written user:password"},
		{"header on stripe", VerifierConfig{Type: TypeStripe, Secrets: []string{"s"}, Header: "X-Sig"}, "header applies only to hmac and api-key, not stripe"},
		{"algorithm on api-key", VerifierConfig{Type: TypeAPIKey, Secrets: []string{"s"}, Algorithm: "sha1"}, "algorithm applies only to hmac"},
		{"tolerance on github", VerifierConfig{Type: TypeGitHub, Secrets: []string{"s"}, ToleranceSeconds: 10}, "toleranceSeconds does not apply to github"},
		{"negative tolerance", VerifierConfig{Type: TypeStripe, Secrets: []string{"s"}, ToleranceSeconds: -1}, "must be between 0 and"},
		{"hmac without header", VerifierConfig{Type: TypeHMAC, Secrets: []string{"s"}}, "hmac needs header"},
		{"hmac bad algorithm", VerifierConfig{Type: TypeHMAC, Secrets: []string{"s"}, Header: "X", Algorithm: "md5"}, `algorithm "md5" is not one of sha1, sha256, sha512`},
		{"hmac bad encoding", VerifierConfig{Type: TypeHMAC, Secrets: []string{"s"}, Header: "X", Encoding: "base32"}, `encoding "base32" is not one of hex, base64`},
		{"hmac unknown placeholder", VerifierConfig{Type: TypeHMAC, Secrets: []string{"s"}, Header: "X", Template: "{payload}"}, "placeholder {payload} is not one of"},
		{"hmac unclosed placeholder", VerifierConfig{Type: TypeHMAC, Secrets: []string{"s"}, Header: "X", Template: "{body"}, "unclosed {"},
		{"hmac bad header placeholder", VerifierConfig{Type: TypeHMAC, Secrets: []string{"s"}, Header: "X", Template: "{header:}"}, "placeholder {header:}"},
		{"hmac timestamp without header", VerifierConfig{Type: TypeHMAC, Secrets: []string{"s"}, Header: "X", Template: "{timestamp}.{body}"}, "timestampHeader is not set"},
		{"hmac template without the body", VerifierConfig{Type: TypeHMAC, Secrets: []string{"s"}, Header: "X", Template: "{timestamp}", TimestampHeader: "X-Ts"}, "must include {body}"},
		{"tolerance past a duration", VerifierConfig{Type: TypeStripe, Secrets: []string{"s"}, ToleranceSeconds: 10_000_000_000}, "between 0 and"},
		{"hmac unsigned timestamp", VerifierConfig{Type: TypeHMAC, Secrets: []string{"s"}, Header: "X", TimestampHeader: "X-Ts"}, "template must include {timestamp}"},
		{"hmac tolerance without timestamp", VerifierConfig{Type: TypeHMAC, Secrets: []string{"s"}, Header: "X", ToleranceSeconds: 5}, "toleranceSeconds needs timestampHeader"},
		{"two event type sources", VerifierConfig{Type: TypeGitHub, Secrets: []string{"s"}, EventType: "a", EventTypeHeader: "X-T"}, "at most one of eventType"},
		{"two dedupe sources", VerifierConfig{Type: TypeGitHub, Secrets: []string{"s"}, DedupeHeader: "X-Id", DedupeJSONField: "id"}, "at most one of dedupeHeader"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.cfg.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: got %v, want nil", err)
				}
				if _, err := NewVerifier(tc.cfg, nil); err != nil {
					t.Fatalf("NewVerifier: got %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate: got nil, want an error containing %q", tc.wantErr)
			}
			if code := herald.ErrorCode(err); code != herald.EINVALID {
				t.Errorf("ErrorCode: got %q, want %q", code, herald.EINVALID)
			}
			if detail := herald.ErrorDetail(err); !strings.Contains(detail, tc.wantErr) {
				t.Errorf("detail: got %q, want it to contain %q", detail, tc.wantErr)
			}
			if _, nerr := NewVerifier(tc.cfg, nil); nerr == nil {
				t.Errorf("NewVerifier: got nil error, want %v", err)
			}
		})
	}
}

func TestEveryTypeBuilds(t *testing.T) {
	t.Parallel()
	for _, typ := range Types() {
		cfg := VerifierConfig{Type: typ, Secrets: []string{"user:whsec_dGVzdA=="}}
		switch typ {
		case TypeStandardWebhooks:
			cfg.Secrets = []string{"whsec_dGVzdA=="}
		case TypeHMAC:
			cfg.Header = "X-Signature"
		}
		v, err := NewVerifier(cfg, nil)
		if err != nil {
			t.Errorf("NewVerifier(%s): %v", typ, err)
			continue
		}
		// Fail closed: a request with no credentials at all is refused.
		_, err = v.Verify(&Request{Method: "POST", URL: "https://example.com/in/src", Body: []byte(`{}`)})
		if !errors.Is(err, ErrMissingSignature) {
			t.Errorf("%s: unsigned request: got %v, want %v", typ, err, ErrMissingSignature)
		}
	}
}

func TestVerifyNilRequest(t *testing.T) {
	t.Parallel()
	v := mustVerifier(t, VerifierConfig{Type: TypeGitHub, Secrets: []string{"s"}}, t0)
	if _, err := v.Verify(nil); err == nil || IsRefused(err) {
		t.Fatalf("Verify(nil): got %v, want a non-refusal error", err)
	}
}

func TestDefaultClock(t *testing.T) {
	t.Parallel()
	const secret, body = "whsec_live", `{"id":"evt_1","type":"charge.succeeded"}`
	v, err := NewVerifier(VerifierConfig{Type: TypeStripe, Secrets: []string{secret}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(at time.Time) *Request {
		s := strconv.FormatInt(at.Unix(), 10)
		return &Request{Header: headers("Stripe-Signature", "t="+s+",v1="+hexMAC256(secret, s+".", body)), Body: []byte(body)}
	}
	if _, err := v.Verify(sign(time.Now())); err != nil {
		t.Errorf("signed now: got %v, want success", err)
	}
	if _, err := v.Verify(sign(time.Now().Add(-time.Hour))); !errors.Is(err, ErrStale) {
		t.Errorf("signed an hour ago: got %v, want %v", err, ErrStale)
	}
}

func TestConfigJSON(t *testing.T) {
	t.Parallel()
	in := `{"type":"hmac","secrets":["s1","s2"],"header":"X-Sig","algorithm":"sha512","encoding":"base64","prefix":"v1=",` +
		`"template":"{timestamp}.{body}","timestampHeader":"X-Ts","toleranceSeconds":120,"eventTypeJsonField":"kind","dedupeHeader":"X-Id"}`
	var cfg VerifierConfig
	if err := json.Unmarshal([]byte(in), &cfg); err != nil {
		t.Fatal(err)
	}
	want := VerifierConfig{Type: TypeHMAC, Secrets: []string{"s1", "s2"}, Header: "X-Sig", Algorithm: "sha512", Encoding: "base64", Prefix: "v1=",
		Template: "{timestamp}.{body}", TimestampHeader: "X-Ts", ToleranceSeconds: 120, EventTypeJSONField: "kind", DedupeHeader: "X-Id"}
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("decoded: got %+v, want %+v", cfg, want)
	}
	out, err := json.Marshal(VerifierConfig{Type: TypeGitHub, Secrets: []string{"s"}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(out), `{"type":"github","secrets":["s"]}`; got != want {
		t.Errorf("encoded: got %s, want %s", got, want)
	}
}

func TestRedacted(t *testing.T) {
	t.Parallel()
	cfg := VerifierConfig{Type: TypeStandardWebhooks, Secrets: []string{"whsec_dGVzdA==", "whpk_abc", "plain"}}
	got := cfg.Redacted()
	if want := []string{"whsec_****", "whpk_****", "****"}; !reflect.DeepEqual(got.Secrets, want) {
		t.Errorf("Redacted secrets: got %q, want %q", got.Secrets, want)
	}
	if cfg.Secrets[0] != "whsec_dGVzdA==" {
		t.Errorf("Redacted changed the original: got %q", cfg.Secrets[0])
	}
}
