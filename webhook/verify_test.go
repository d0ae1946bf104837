package webhook

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

var (
	testNow     = time.Unix(1_700_000_000, 0)
	testPayload = []byte(`{"type":"invoice.paid","data":{"id":"in_1"}}`)
)

func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

// signedHeader returns the three headers a sender using s would send.
func signedHeader(t *testing.T, s *Signer, id string, ts time.Time, payload []byte) http.Header {
	t.Helper()
	h := http.Header{}
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, s.Sign(id, ts, payload))
	return h
}

func mustSigner(t *testing.T, secrets ...string) *Signer {
	t.Helper()
	s, err := NewSigner(secrets...)
	if err != nil {
		t.Fatalf("NewSigner: got error %v, want none", err)
	}
	return s
}

func mustVerifier(t *testing.T, secrets ...string) *Verifier {
	t.Helper()
	v, err := NewVerifier(secrets...)
	if err != nil {
		t.Fatalf("NewVerifier: got error %v, want none", err)
	}
	v.Now = fixedClock(testNow)
	return v
}

func TestV1aRoundTrip(t *testing.T) {
	t.Parallel()
	private, public := NewKeyPair()
	if !strings.HasPrefix(private, PrefixPrivateKey) || !strings.HasPrefix(public, PrefixPublicKey) {
		t.Fatalf("NewKeyPair: got %q..., %q..., want whsk_ and whpk_ prefixes", private[:5], public[:5])
	}
	h := signedHeader(t, mustSigner(t, private), "msg_1", testNow, testPayload)
	if got := h.Get(HeaderSignature); !strings.HasPrefix(got, "v1a,") {
		t.Fatalf("signature header: got %q, want a v1a entry", got)
	}
	if err := mustVerifier(t, public).Verify(testPayload, h); err != nil {
		t.Fatalf("Verify with the public key: got error %v, want none", err)
	}
	if err := mustVerifier(t, private).Verify(testPayload, h); err != nil {
		t.Fatalf("Verify with the private key: got error %v, want none", err)
	}
	tampered := append([]byte(nil), testPayload...)
	tampered[2] = 'T'
	if err := mustVerifier(t, public).Verify(tampered, h); !errors.Is(err, ErrNoMatch) {
		t.Fatalf("Verify of a tampered body: got error %v, want ErrNoMatch", err)
	}
	_, otherPublic := NewKeyPair()
	if err := mustVerifier(t, otherPublic).Verify(testPayload, h); !errors.Is(err, ErrNoMatch) {
		t.Fatalf("Verify with another key: got error %v, want ErrNoMatch", err)
	}
}

func TestV1aSeedPrivateKey(t *testing.T) {
	t.Parallel()
	private, public := NewKeyPair()
	full, err := decodePrivateKey(private)
	if err != nil {
		t.Fatalf("decodePrivateKey: %v", err)
	}
	seed := PrefixPrivateKey + encodeStd(full.Seed())
	h := signedHeader(t, mustSigner(t, seed), "msg_seed", testNow, testPayload)
	if err := mustVerifier(t, public).Verify(testPayload, h); err != nil {
		t.Fatalf("Verify of a seed-signed message: got error %v, want none", err)
	}
}

func TestRotation(t *testing.T) {
	t.Parallel()
	oldSecret, newSecret := NewSecret(), NewSecret()
	edPrivate, edPublic := NewKeyPair()

	tests := []struct {
		name    string
		signers []string // keys the sender signs with
		keys    []string // keys the receiver accepts
		wantErr error
	}{
		{"sender signs with old and new, receiver knows new", []string{oldSecret, newSecret}, []string{newSecret}, nil},
		{"sender signs with old and new, receiver knows old", []string{oldSecret, newSecret}, []string{oldSecret}, nil},
		{"sender signs with new, receiver knows old and new", []string{newSecret}, []string{oldSecret, newSecret}, nil},
		{"sender signs with old, receiver knows new only", []string{oldSecret}, []string{newSecret}, ErrNoMatch},
		{"HMAC and ed25519 together, receiver knows ed25519", []string{oldSecret, edPrivate}, []string{edPublic}, nil},
		{"HMAC and ed25519 together, receiver knows HMAC", []string{edPrivate, newSecret}, []string{newSecret}, nil},
		{"ed25519 only, receiver knows HMAC only", []string{edPrivate}, []string{newSecret}, ErrNoMatch},
		{"HMAC only, receiver knows both kinds", []string{oldSecret}, []string{edPublic, oldSecret}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := signedHeader(t, mustSigner(t, tt.signers...), "msg_rot", testNow, testPayload)
			if n := len(parseSignatureHeader(h.Get(HeaderSignature))); n != len(tt.signers) {
				t.Fatalf("signature entries: got %d, want %d", n, len(tt.signers))
			}
			err := mustVerifier(t, tt.keys...).Verify(testPayload, h)
			if tt.wantErr == nil && err != nil {
				t.Fatalf("Verify: got error %v, want none", err)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("Verify: got error %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestSvixHeaderFallback(t *testing.T) {
	t.Parallel()
	secret := NewSecret()
	h := signedHeader(t, mustSigner(t, secret), "msg_svix", testNow, testPayload)
	svix := http.Header{}
	svix.Set(HeaderSvixID, h.Get(HeaderID))
	svix.Set(HeaderSvixTimestamp, h.Get(HeaderTimestamp))
	svix.Set(HeaderSvixSignature, h.Get(HeaderSignature))
	if err := mustVerifier(t, secret).Verify(testPayload, svix); err != nil {
		t.Fatalf("Verify with svix-* headers: got error %v, want none", err)
	}
}

func TestSignatureHeaderOverSeveralLines(t *testing.T) {
	t.Parallel()
	secret := NewSecret()
	h := signedHeader(t, mustSigner(t, secret), "msg_lines", testNow, testPayload)
	sig := h.Get(HeaderSignature)
	h.Del(HeaderSignature)
	h.Add(HeaderSignature, "v1,"+encodeStd(make([]byte, 32)))
	h.Add(HeaderSignature, sig)
	if err := mustVerifier(t, secret).Verify(testPayload, h); err != nil {
		t.Fatalf("Verify: got error %v, want none", err)
	}
}

func TestTimestampTolerance(t *testing.T) {
	t.Parallel()
	secret := NewSecret()
	s := mustSigner(t, secret)
	tests := []struct {
		name      string
		age       time.Duration // how long before now the message was signed
		tolerance time.Duration
		wantErr   error
		wantText  string
	}{
		{"fresh", 0, 0, nil, ""},
		{"default tolerance, just inside", 5 * time.Minute, 0, nil, ""},
		{"default tolerance, too old", 5*time.Minute + time.Second, 0, ErrTooOld, "signed 5m1s ago, tolerance 5m0s"},
		{"default tolerance, too new", -5*time.Minute - time.Second, 0, ErrTooNew, "signed 5m1s in the future"},
		{"custom tolerance, too old", 61 * time.Second, time.Minute, ErrTooOld, "tolerance 1m0s"},
		{"custom tolerance, inside", 59 * time.Second, time.Minute, nil, ""},
		{"check skipped", 1000 * time.Hour, SkipTimestampCheck, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := mustVerifier(t, secret)
			v.Tolerance = tt.tolerance
			err := v.Verify(testPayload, signedHeader(t, s, "msg_ts", testNow.Add(-tt.age), testPayload))
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Verify: got error %v, want none", err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) || !errors.Is(err, ErrTimestamp) {
				t.Fatalf("Verify: got error %v, want %v and ErrTimestamp", err, tt.wantErr)
			}
			var te *TimestampError
			if !errors.As(err, &te) {
				t.Fatalf("Verify: got error %T, want *TimestampError", err)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Fatalf("error text: got %q, want it to contain %q", err, tt.wantText)
			}
		})
	}
}

func TestVerifyPartsErrors(t *testing.T) {
	t.Parallel()
	secret := NewSecret()
	good := mustSigner(t, secret).Sign("msg_p", testNow, testPayload)
	ts := strconv.FormatInt(testNow.Unix(), 10)
	tests := []struct {
		name                string
		id, timestamp, sigs string
		wantErr             error
		wantText            string
	}{
		{"valid", "msg_p", ts, good, nil, ""},
		{"all missing", "", "", "", ErrMissingHeaders, "webhook-id, webhook-timestamp, webhook-signature"},
		{"signature missing", "msg_p", ts, "", ErrMissingHeaders, "webhook-signature"},
		{"negative timestamp", "msg_p", "-1", good, ErrInvalidTimestamp, `"-1"`},
		{"plus sign", "msg_p", "+" + ts, good, ErrInvalidTimestamp, "not unix seconds"},
		{"milliseconds overflow", "msg_p", "99999999999999999999", good, ErrInvalidTimestamp, "out of range"},
		{"only unknown versions", "msg_p", ts, "v2,abc v0,def", ErrNoMatch, "no v1 signature"},
		{"entries without commas", "msg_p", ts, "garbage more-garbage", ErrNoMatch, "no v1 signature"},
		{"v1a only for an HMAC key", "msg_p", ts, "v1a," + encodeStd(make([]byte, 64)), ErrNoMatch, "no v1 signature"},
		{"wrong v1", "msg_p", ts, "v1," + encodeStd(make([]byte, 32)), ErrNoMatch, "1 signatures checked against 1 keys"},
		{"extra spaces", "msg_p", ts, "  v2,x   " + good + "  ", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := mustVerifier(t, secret).VerifyParts(tt.id, tt.timestamp, tt.sigs, testPayload)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("VerifyParts: got error %v, want none", err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("VerifyParts: got error %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Fatalf("error text: got %q, want it to contain %q", err, tt.wantText)
			}
		})
	}
}

func TestMaxSignaturesChecked(t *testing.T) {
	t.Parallel()
	secret := NewSecret()
	good := mustSigner(t, secret).Sign("msg_many", testNow, testPayload)
	junk := strings.Repeat("v1,"+encodeStd(make([]byte, 32))+" ", maxSignatures)
	err := mustVerifier(t, secret).VerifyParts("msg_many", strconv.FormatInt(testNow.Unix(), 10), junk+good, testPayload)
	if !errors.Is(err, ErrNoMatch) {
		t.Fatalf("VerifyParts with the valid entry past the cap: got error %v, want ErrNoMatch", err)
	}
}

func TestNewVerifierRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		secrets []string
		want    string
	}{
		{"no secrets", nil, "no secrets given"},
		{"empty", []string{""}, "HMAC secret is empty"},
		{"prefix only", []string{"whsec_"}, "HMAC secret is empty"},
		{"not base64", []string{"whsec_!!!"}, "HMAC secret is not base64"},
		{"second bad", []string{NewSecret(), "whsec_%%"}, "secret 2"},
		{"short public key", []string{PrefixPublicKey + encodeStd(make([]byte, 16))}, "public key has 16 bytes, want 32"},
		{"public key not base64", []string{PrefixPublicKey + "@@"}, "public key is not base64"},
		{"short private key", []string{PrefixPrivateKey + encodeStd(make([]byte, 16))}, "private key has 16 bytes"},
		{"private key halves disagree", []string{PrefixPrivateKey + encodeStd(make([]byte, 64))}, "does not match its public half"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewVerifier(tt.secrets...)
			if !errors.Is(err, ErrInvalidSecret) {
				t.Fatalf("NewVerifier: got error %v, want ErrInvalidSecret", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error text: got %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestNewSignerRejectsPublicKey(t *testing.T) {
	t.Parallel()
	_, public := NewKeyPair()
	if _, err := NewSigner(public); !errors.Is(err, ErrInvalidSecret) {
		t.Fatalf("NewSigner(whpk_...): got error %v, want ErrInvalidSecret", err)
	}
	if _, err := NewSigner(); !errors.Is(err, ErrInvalidSecret) {
		t.Fatalf("NewSigner(): got error %v, want ErrInvalidSecret", err)
	}
}

func TestNewSecret(t *testing.T) {
	t.Parallel()
	a, b := NewSecret(), NewSecret()
	if a == b {
		t.Fatalf("NewSecret twice: got %q both times, want different secrets", a)
	}
	key, err := decodeHMACSecret(a)
	if err != nil {
		t.Fatalf("decode NewSecret: %v", err)
	}
	if len(key) != secretBytes || !strings.HasPrefix(a, PrefixHMAC) {
		t.Fatalf("NewSecret: got %d bytes with prefix %q, want %d bytes with %q", len(key), a[:6], secretBytes, PrefixHMAC)
	}
}

func TestNonCanonicalSignatureRejected(t *testing.T) {
	t.Parallel()
	secret := NewSecret()
	good := mustSigner(t, secret).Sign("msg_nc", testNow, testPayload)
	// The 43rd character carries two padding bits; flipping them keeps the
	// decoded MAC under lenient decoding but is not a canonical spelling.
	b := []byte(good)
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	i := len(b) - 2
	b[i] = alphabet[strings.IndexByte(alphabet, b[i])^1]
	err := mustVerifier(t, secret).VerifyParts("msg_nc", strconv.FormatInt(testNow.Unix(), 10), string(b), testPayload)
	if !errors.Is(err, ErrNoMatch) {
		t.Fatalf("VerifyParts with non-zero padding bits: got error %v, want ErrNoMatch", err)
	}
}

func BenchmarkVerifyHMAC(b *testing.B) {
	secret := NewSecret()
	s, _ := NewSigner(secret)
	v, _ := NewVerifier(secret)
	v.Now = fixedClock(testNow)
	ts := strconv.FormatInt(testNow.Unix(), 10)
	sig := s.Sign("msg_bench", testNow, testPayload)
	b.ReportAllocs()
	for b.Loop() {
		if err := v.VerifyParts("msg_bench", ts, sig, testPayload); err != nil {
			b.Fatal(err)
		}
	}
}

func TestNoMatchNamesUsableVersions(t *testing.T) {
	t.Parallel()
	_, public := NewKeyPair()
	ts := strconv.FormatInt(testNow.Unix(), 10)
	tests := []struct {
		keys []string
		want string
	}{
		{[]string{public}, "the header has no v1a signature"},
		{[]string{public, NewSecret()}, "the header has no v1 or v1a signature"},
		{[]string{NewSecret()}, "the header has no v1 signature"},
	}
	for _, tt := range tests {
		err := mustVerifier(t, tt.keys...).VerifyParts("msg_v", ts, "v2,abc", testPayload)
		if !errors.Is(err, ErrNoMatch) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("VerifyParts with %d keys: got error %v, want ErrNoMatch saying %q", len(tt.keys), err, tt.want)
		}
	}
	long := strings.Repeat("9", 40)
	err := mustVerifier(t, NewSecret()).VerifyParts("msg_v", long+"x", "v1,abc", testPayload)
	if !errors.Is(err, ErrInvalidTimestamp) || strings.Contains(err.Error(), long) {
		t.Fatalf("VerifyParts with a 41-character timestamp: got error %v, want ErrInvalidTimestamp quoting it shortened", err)
	}
}

func TestPublicKeyOfPrivateKey(t *testing.T) {
	t.Parallel()
	private, public := NewKeyPair()
	got, err := PublicKey(private)
	if err != nil || got != public {
		t.Errorf("PublicKey: got %q, %v; want %q", got, err, public)
	}
	if _, err := PublicKey(NewSecret()); !errors.Is(err, ErrInvalidSecret) {
		t.Errorf("PublicKey of an HMAC secret: got %v, want ErrInvalidSecret", err)
	}
}

// A timestamp centuries away is outside any tolerance: a difference of
// times that far apart saturates as a time.Duration.
func TestTimestampCenturiesAwayIsRefused(t *testing.T) {
	t.Parallel()
	secret := NewSecret()
	s := mustSigner(t, secret)
	v := mustVerifier(t, secret)
	for _, sent := range []time.Time{time.Unix(99999999999, 0), time.Unix(1<<40, 0)} {
		err := v.Verify(testPayload, signedHeader(t, s, "msg_ts", sent, testPayload))
		if !errors.Is(err, ErrTimestamp) {
			t.Errorf("signed at %d: got %v, want a timestamp error", sent.Unix(), err)
		}
	}
}

// TestTimestampEdges: the tolerance is compared in whole seconds, as the
// Standard Webhooks libraries do, and a timestamp too far in the future
// for time.Time still reads as too new.
func TestTimestampEdges(t *testing.T) {
	t.Parallel()
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	s := mustSigner(t, secret)
	for _, tc := range []struct {
		name string
		ts   int64
		now  time.Time
		want error
	}{
		{"at the old edge, half a second past", 1_700_000_000, time.Unix(1_700_000_300, 5e8), nil},
		{"a second past the old edge", 1_700_000_000, time.Unix(1_700_000_301, 0), ErrTooOld},
		{"at the new edge", 1_700_000_300, time.Unix(1_700_000_000, 0), nil},
		{"a second past the new edge", 1_700_000_301, time.Unix(1_700_000_000, 0), ErrTooNew},
		{"past what time.Time holds", 9223372036854775807, testNow, ErrTooNew},
		{"year 9999 and a little", 9223371974719179008, testNow, ErrTooNew},
	} {
		v := mustVerifier(t, secret)
		v.Now = fixedClock(tc.now)
		ts := strconv.FormatInt(tc.ts, 10)
		sig := s.Sign("msg_1", time.Unix(min(tc.ts, 1<<40), 0), testPayload) // the MAC is not reached when the time is off
		err := v.VerifyParts("msg_1", ts, sig, testPayload)
		if tc.want == nil {
			if err != nil {
				t.Errorf("%s: got %v, want it accepted", tc.name, err)
			}
			continue
		}
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
}

// TestVerifyHeaderKeysOfAnyCase: a header map built by hand with lowercase
// keys (a serverless event's, say) verifies like a canonical one.
func TestVerifyHeaderKeysOfAnyCase(t *testing.T) {
	t.Parallel()
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	canonical := signedHeader(t, mustSigner(t, secret), "msg_1", testNow, testPayload)
	lower := http.Header{}
	for k, vs := range canonical {
		lower[strings.ToLower(k)] = vs
	}
	if err := mustVerifier(t, secret).Verify(testPayload, lower); err != nil {
		t.Errorf("Verify with lowercase header keys: got %v, want none", err)
	}
}
