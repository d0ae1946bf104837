package inbound

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// The providers' official libraries, pinned in testdata/js/package.json,
// sign requests here so the verifiers are checked against the real
// senders' code rather than against our own reading of their docs.

const jsDir = "testdata/js"

// officialHeaders runs sign.mjs and returns the headers it prints.
func officialHeaders(t *testing.T, provider, secret, payload string, ts int64, id string) map[string]string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is required to sign with the providers' libraries: %v", err)
	}
	for _, pkg := range []string{"stripe", "@octokit/webhooks-methods", "standardwebhooks"} {
		if _, err := os.Stat(filepath.Join(jsDir, "node_modules", pkg, "package.json")); err != nil {
			t.Fatalf("%s is not installed: run `npm ci --prefix internal/inbound/testdata/js` from the repository root", pkg)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(jsDir, "sign.mjs"), provider, secret, payload, strconv.FormatInt(ts, 10), id)
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("node sign.mjs %s: %v\n%s", provider, err, stderr)
	}
	var h map[string]string
	if err := json.Unmarshal(out, &h); err != nil {
		t.Fatalf("node sign.mjs %s printed %q: %v", provider, out, err)
	}
	return h
}

func TestOfficialLibraries(t *testing.T) {
	t.Parallel()
	const ts = 1700000000
	tests := []struct {
		provider  string
		secret    string
		other     string
		payload   string
		id        string
		sigHeader string
		tolerance time.Duration // zero: the provider signs no timestamp
		wantType  string
		wantKey   string
	}{
		{
			provider: TypeStripe, secret: "whsec_8Zb3e1fQm2kX9uV4tR7yW0pL", other: "whsec_previous",
			payload:   `{"id":"evt_3QkVbB2eZvKYlo2C0","object":"event","type":"customer.created","data":{"object":{"name":"Zoë 🚀"}}}`,
			sigHeader: "Stripe-Signature", tolerance: 300 * time.Second,
			wantType: "customer.created", wantKey: "evt_3QkVbB2eZvKYlo2C0",
		},
		{
			provider: TypeGitHub, secret: "It's a Secret to Everybody ✓", other: "old secret",
			payload:   `{"action":"opened","pull_request":{"title":"Füge Übersetzung hinzu"}}`,
			sigHeader: "X-Hub-Signature-256",
		},
		{
			provider: TypeStandardWebhooks, secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", other: "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
			payload: `{"type":"user.signup","data":{"name":"Ana María"}}`, id: "msg_2hFtq0mZ7u",
			sigHeader: "webhook-signature", tolerance: 300 * time.Second,
			wantType: "user.signup", wantKey: "msg_2hFtq0mZ7u",
		},
	}
	for _, tc := range tests {
		t.Run(tc.provider, func(t *testing.T) {
			t.Parallel()
			signed := officialHeaders(t, tc.provider, tc.secret, tc.payload, ts, tc.id)
			request := func(body string, drop string) *Request {
				h := headers()
				for k, v := range signed {
					if k != drop {
						h.Set(k, v)
					}
				}
				if tc.provider == TypeGitHub {
					h.Set("X-GitHub-Event", "pull_request")
					h.Set("X-GitHub-Delivery", "0b989ba4-242f-11e5-81e1-c7b8b0b9d1b1")
				}
				return &Request{Method: "POST", URL: "https://herald.example.com/in/src_1", Header: h, Body: []byte(body)}
			}
			verifier := func(now time.Time, secrets ...string) *Verifier {
				return mustVerifier(t, VerifierConfig{Type: tc.provider, Secrets: secrets}, now)
			}
			wantType, wantKey := tc.wantType, tc.wantKey
			if tc.provider == TypeGitHub {
				wantType, wantKey = "pull_request", "0b989ba4-242f-11e5-81e1-c7b8b0b9d1b1"
			}

			res, err := verifier(t0, tc.secret).Verify(request(tc.payload, ""))
			checkErr(t, err, nil)
			if res.EventType != wantType || res.DedupeKey != wantKey {
				t.Errorf("Result: got type %q key %q, want %q %q", res.EventType, res.DedupeKey, wantType, wantKey)
			}
			_, err = verifier(t0, tc.other, tc.secret).Verify(request(tc.payload, ""))
			checkErrNamed(t, "rotation", err, nil)
			_, err = verifier(t0, tc.secret).Verify(request(tc.payload+" ", ""))
			checkErrNamed(t, "tampered body", err, ErrBadSignature)
			_, err = verifier(t0, tc.other).Verify(request(tc.payload, ""))
			checkErrNamed(t, "wrong secret", err, ErrBadSignature)
			_, err = verifier(t0, tc.secret).Verify(request(tc.payload, tc.sigHeader))
			checkErrNamed(t, "missing signature", err, ErrMissingSignature)
			if tc.tolerance > 0 {
				_, err = verifier(t0.Add(tc.tolerance+time.Second), tc.secret).Verify(request(tc.payload, ""))
				checkErrNamed(t, "stale timestamp", err, ErrStale)
				_, err = verifier(t0.Add(tc.tolerance), tc.secret).Verify(request(tc.payload, ""))
				checkErrNamed(t, "at the tolerance", err, nil)
			}
		})
	}
}
