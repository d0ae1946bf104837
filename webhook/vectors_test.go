package webhook

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"
)

// vector is one case of testdata/standard-webhooks.json, a copy of the
// shared Standard Webhooks vectors.
type vector struct {
	Name      string          `json:"name"`
	Kind      string          `json:"kind"`
	Secret    string          `json:"secret"`
	ID        string          `json:"id"`
	Timestamp json.RawMessage `json:"timestamp"` // a number, or a string when malformed
	Payload   string          `json:"payload"`
	Signature string          `json:"signature"`
	Now       *int64          `json:"now"`
	Valid     bool            `json:"valid"`
}

func loadVectors(t *testing.T) []vector {
	t.Helper()
	raw, err := os.ReadFile("testdata/standard-webhooks.json")
	if err != nil {
		t.Fatalf("read vectors: %v", err)
	}
	var file struct {
		Vectors []vector `json:"vectors"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatalf("decode vectors: %v", err)
	}
	if len(file.Vectors) == 0 {
		t.Fatal("got 0 vectors, want some")
	}
	return file.Vectors
}

// timestampHeader renders the vector's timestamp as the header would carry
// it; an empty string means the header is absent.
func (v vector) timestampHeader(t *testing.T) string {
	t.Helper()
	var s string
	if err := json.Unmarshal(v.Timestamp, &s); err == nil {
		return s
	}
	var n int64
	if err := json.Unmarshal(v.Timestamp, &n); err != nil {
		t.Fatalf("vector %s: timestamp %s is neither string nor integer", v.Name, v.Timestamp)
	}
	return strconv.FormatInt(n, 10)
}

func (v vector) header(t *testing.T) http.Header {
	h := http.Header{}
	if v.ID != "" {
		h.Set(HeaderID, v.ID)
	}
	if ts := v.timestampHeader(t); ts != "" {
		h.Set(HeaderTimestamp, ts)
	}
	if v.Signature != "" {
		h.Set(HeaderSignature, v.Signature)
	}
	return h
}

// verifier builds the verifier the vector describes: its clock at now with
// the 300 s tolerance, or no timestamp check when now is null.
func (v vector) verifier(t *testing.T) *Verifier {
	t.Helper()
	wh, err := NewVerifier(v.Secret)
	if err != nil {
		t.Fatalf("NewVerifier(%q): got error %v, want none", v.Secret, err)
	}
	if v.Now == nil {
		wh.Tolerance = SkipTimestampCheck
	} else {
		now := time.Unix(*v.Now, 0)
		wh.Tolerance = 300 * time.Second
		wh.Now = func() time.Time { return now }
	}
	return wh
}

// TestStandardWebhooksVectors runs every shared vector. Unpadded secrets
// (kind verify_lenient_secret) are accepted on purpose: some senders strip
// the padding, and the key they denote is unambiguous.
func TestStandardWebhooksVectors(t *testing.T) {
	t.Parallel()
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			t.Parallel()
			switch v.Kind {
			case "construct":
				_, err := NewVerifier(v.Secret)
				if v.Valid && err != nil {
					t.Fatalf("NewVerifier: got error %v, want none", err)
				}
				if !v.Valid && !errors.Is(err, ErrInvalidSecret) {
					t.Fatalf("NewVerifier: got error %v, want ErrInvalidSecret", err)
				}
				_, err = NewSigner(v.Secret)
				if !v.Valid && !errors.Is(err, ErrInvalidSecret) {
					t.Fatalf("NewSigner: got error %v, want ErrInvalidSecret", err)
				}
			case "verify", "verify_lenient_secret":
				err := v.verifier(t).Verify([]byte(v.Payload), v.header(t))
				if v.Valid && err != nil {
					t.Fatalf("Verify: got error %v, want none", err)
				}
				if !v.Valid && err == nil {
					t.Fatal("Verify: got nil error, want a rejection")
				}
				if v.Valid {
					checkSignerAgrees(t, v)
				}
			default:
				t.Fatalf("unknown vector kind %q", v.Kind)
			}
		})
	}
}

// checkSignerAgrees signs a valid vector's message and checks that the
// result verifies too: for single-signature vectors it must be the
// vector's exact header.
func checkSignerAgrees(t *testing.T, v vector) {
	t.Helper()
	s, err := NewSigner(v.Secret)
	if err != nil {
		t.Fatalf("NewSigner: got error %v, want none", err)
	}
	ts, err := strconv.ParseInt(v.timestampHeader(t), 10, 64)
	if err != nil {
		t.Fatalf("vector timestamp: %v", err)
	}
	got := s.Sign(v.ID, time.Unix(ts, 0), []byte(v.Payload))
	if len(parseSignatureHeader(v.Signature)) == 1 && got != v.Signature {
		t.Fatalf("Sign: got %q, want %q", got, v.Signature)
	}
	if err := v.verifier(t).VerifyParts(v.ID, v.timestampHeader(t), got, []byte(v.Payload)); err != nil {
		t.Fatalf("VerifyParts of own signature: got error %v, want none", err)
	}
}

// TestVectorErrors pins the error each class of invalid vector returns, so
// callers can rely on the sentinels.
func TestVectorErrors(t *testing.T) {
	t.Parallel()
	want := map[string]error{
		"bad_sig_Ceo5":                               ErrNoMatch,
		"bad_sig_truncated_garbage":                  ErrNoMatch,
		"bad_sig_not_base64":                         ErrNoMatch,
		"partial_sig_version_only":                   ErrNoMatch,
		"wrong_version_only_v2":                      ErrNoMatch,
		"payload_tampered":                           ErrNoMatch,
		"payload_reserialized_whitespace":            ErrNoMatch,
		"timestamp_too_old":                          ErrTooOld,
		"timestamp_too_new":                          ErrTooNew,
		"timestamp_not_integer":                      ErrInvalidTimestamp,
		"missing_webhook_id":                         ErrMissingHeaders,
		"missing_webhook_timestamp":                  ErrMissingHeaders,
		"missing_webhook_signature":                  ErrMissingHeaders,
		"timestamp_header_swapped_ignored_tolerance": ErrNoMatch,
	}
	seen := 0
	for _, v := range loadVectors(t) {
		wantErr, ok := want[v.Name]
		if !ok {
			continue
		}
		seen++
		err := v.verifier(t).Verify([]byte(v.Payload), v.header(t))
		if !errors.Is(err, wantErr) {
			t.Errorf("%s: got error %v, want %v", v.Name, err, wantErr)
		}
	}
	if seen != len(want) {
		t.Fatalf("got %d of the named vectors in the file, want %d", seen, len(want))
	}
}
