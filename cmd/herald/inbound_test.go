package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/webhook"
)

// githubSecret signs the test's GitHub requests; it must never reach the
// logs or the API's answers.
const githubSecret = "It's a Secret to Everybody 42"

// postGitHub posts body to url as GitHub would, signed with secret (no
// signature when secret is empty), and returns the status and decoded
// answer.
func postGitHub(t *testing.T, ctx context.Context, url, secret, delivery string, body []byte) (int, map[string]any) {
	t.Helper()
	return postGitHubFor(t, ctx, url, secret, delivery, "", body)
}

// postGitHubFor is postGitHub as a reverse proxy forwarding for client
// sends it: with X-Forwarded-For naming client, unless it is empty.
func postGitHubFor(t *testing.T, ctx context.Context, url, secret, delivery, client string, body []byte) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if client != "" {
		req.Header.Set("X-Forwarded-For", client)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", delivery)
	if secret != "" {
		m := hmac.New(sha256.New, []byte(secret))
		m.Write(body)
		req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(m.Sum(nil)))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

type inboundEvent struct {
	ID          string `json:"id"`
	Status      string `json:"status"`
	MsgID       string `json:"msgId"`
	DuplicateOf string `json:"duplicateOf"`
	DedupeKey   string `json:"dedupeKey"`
	EventType   string `json:"eventType"`
	Deliveries  []struct {
		EndpointID string `json:"endpointId"`
		StatusText string `json:"statusText"`
	} `json:"deliveries"`
}

func TestServeReceiveVerifyDedupeForwardReplay(t *testing.T) {
	t.Parallel()
	testReceive(t, setup(t))
}

func TestServeReceiveOnPostgres(t *testing.T) {
	t.Parallel()
	testReceive(t, setup(t, "--database", freshSchema(t)))
}

// testReceive creates a GitHub source and checks what happens to signed,
// repeated, unsigned and tampered requests, end to end.
func testReceive(t *testing.T, ts *testServer) {
	snk := newSink(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var app struct{ ID string }
	if _, err := call(ctx, ts.URL, ts.Token, "POST", "/api/v1/app", map[string]any{"name": "Acme", "uid": "acme"}, &app); err != nil {
		t.Fatal(err)
	}
	var ep struct{ ID string }
	if _, err := call(ctx, ts.URL, ts.Token, "POST", "/api/v1/app/"+app.ID+"/endpoint", map[string]any{"url": snk.URL}, &ep); err != nil {
		t.Fatal(err)
	}
	var secret struct{ Key string }
	if _, err := call(ctx, ts.URL, ts.Token, "GET", "/api/v1/app/"+app.ID+"/endpoint/"+ep.ID+"/secret", nil, &secret); err != nil {
		t.Fatal(err)
	}
	var src struct {
		ID        string
		IngestURL string `json:"ingestUrl"`
		Verifier  struct {
			Type    string
			Secrets []string
		}
	}
	if _, err := call(ctx, ts.URL, ts.Token, "POST", "/api/v1/source", map[string]any{
		"name": "GitHub", "app": "acme", "allowedIps": []string{"127.0.0.0/8"},
		"verifier": map[string]any{"type": "github", "secrets": []string{"old secret", githubSecret}},
	}, &src); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(src.ID, "src_") || src.IngestURL != ts.URL+"/in/"+src.ID {
		t.Fatalf("source: got id %q ingestUrl %q, want src_... and %s/in/<id>", src.ID, src.IngestURL, ts.URL)
	}
	if len(src.Verifier.Secrets) != 2 || src.Verifier.Secrets[1] != "****" {
		t.Errorf("source verifier secrets: got %q, want them masked", src.Verifier.Secrets)
	}

	// Exact bytes, odd spacing and key order included.
	body := []byte("{\"ref\":\"refs/heads/main\",  \"zen\": \"Speak like a human.\" ,\"b\":1,\"a\":2}\n")
	code, out := postGitHub(t, ctx, src.IngestURL, githubSecret, "72d3162e-cc78-11e3-81ab-4c9367dc0958", body)
	if code != http.StatusOK || out["duplicate"] != false || !strings.HasPrefix(out["id"].(string), "in_") {
		t.Fatalf("ingest: got %d %v, want 200 with a new in_ id", code, out)
	}
	firstID := out["id"].(string)
	var first inboundEvent
	if _, err := call(ctx, ts.URL, ts.Token, "GET", "/api/v1/source/"+src.ID+"/event/"+firstID, nil, &first); err != nil {
		t.Fatal(err)
	}
	if first.Status != "accepted" || first.MsgID == "" || first.EventType != "push" {
		t.Fatalf("inbound event: got %+v, want accepted push with a message", first)
	}
	if !snk.waitFor(ctx, func(seen map[string]int) bool { return seen[first.MsgID] > 0 }) {
		t.Fatalf("inbound event %s was not forwarded", firstID)
	}
	snk.mu.Lock()
	got := snk.requests[0]
	snk.mu.Unlock()
	if !bytes.Equal(got.Body, body) {
		t.Errorf("forwarded body: got %q, want the provider's bytes %q", got.Body, body)
	}
	v, err := webhook.NewVerifier(secret.Key)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Verify(got.Body, got.Header); err != nil {
		t.Errorf("forwarded request does not verify with the endpoint secret: %v", err)
	}
	if sig := got.Header.Get("X-Hub-Signature-256"); !strings.HasPrefix(sig, "sha256=") {
		t.Errorf("forwarded X-Hub-Signature-256: got %q, want GitHub's signature", sig)
	}
	if got.Header.Get("X-GitHub-Event") != "push" || got.Header.Get("Content-Type") != "application/json" {
		t.Errorf("forwarded headers: got %v, want GitHub's event header and content type", got.Header)
	}

	// The same delivery again is acknowledged and recorded, not forwarded.
	code, out = postGitHub(t, ctx, src.IngestURL, githubSecret, "72d3162e-cc78-11e3-81ab-4c9367dc0958", body)
	if code != http.StatusOK || out["duplicate"] != true {
		t.Fatalf("duplicate: got %d %v, want 200 duplicate", code, out)
	}

	// Unsigned, wrongly signed and tampered requests are refused and not stored.
	if code, _ := postGitHub(t, ctx, src.IngestURL, "", "d-unsigned", body); code != http.StatusUnauthorized {
		t.Errorf("unsigned request: got %d, want 401", code)
	}
	if code, _ := postGitHub(t, ctx, src.IngestURL, "guess", "d-wrong", body); code != http.StatusUnauthorized {
		t.Errorf("request signed with a wrong key: got %d, want 401", code)
	}
	tampered := bytes.Replace(body, []byte("main"), []byte("prod"), 1)
	if code := postTampered(t, ctx, src.IngestURL, body, tampered); code != http.StatusUnauthorized {
		t.Errorf("tampered request: got %d, want 401", code)
	}
	if code, _ := postGitHub(t, ctx, ts.URL+"/in/src_missing", githubSecret, "x", body); code != http.StatusNotFound {
		t.Errorf("unknown source: got %d, want 404", code)
	}

	var list struct{ Data []inboundEvent }
	if _, err := call(ctx, ts.URL, ts.Token, "GET", "/api/v1/source/"+src.ID+"/event", nil, &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Data) != 2 || list.Data[0].Status != "duplicate" || list.Data[0].DuplicateOf != firstID ||
		list.Data[1].ID != firstID || list.Data[1].Status != "accepted" {
		t.Fatalf("events: got %+v, want the duplicate then the accepted event, and nothing refused", list.Data)
	}
	if ds := list.Data[1].Deliveries; len(ds) != 1 || ds[0].EndpointID != ep.ID {
		t.Errorf("accepted event deliveries: got %+v, want one to %s", ds, ep.ID)
	}

	// Replay sends the stored bytes again as a new message.
	var replay struct{ MsgID string }
	if _, err := call(ctx, ts.URL, ts.Token, "POST", "/api/v1/source/"+src.ID+"/event/"+firstID+"/replay", nil, &replay); err != nil {
		t.Fatal(err)
	}
	if !snk.waitFor(ctx, func(seen map[string]int) bool { return seen[replay.MsgID] > 0 }) {
		t.Fatalf("replayed message %s was not delivered", replay.MsgID)
	}
	snk.mu.Lock()
	reqs := append([]sinkRequest(nil), snk.requests...)
	snk.mu.Unlock()
	if len(reqs) != 2 || !bytes.Equal(reqs[1].Body, body) {
		t.Errorf("sink: got %d requests, want the original and the replay (the duplicate never forwarded)", len(reqs))
	}

	_, metrics := scrape(t, ts.URL+"/metrics", ts.Token)
	for _, want := range []string{`herald_inbound_refused_total{reason="bad_signature",source="` + src.ID + `"} 2`,
		`herald_inbound_refused_total{reason="missing_signature",source="` + src.ID + `"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if logs := ts.Logs.String(); strings.Contains(logs, githubSecret) || strings.Contains(logs, "old secret") {
		t.Errorf("logs contain a source secret")
	}

	// App-scoped tokens may not manage sources.
	var portal struct{ Token string }
	if _, err := call(ctx, ts.URL, ts.Token, "POST", "/api/v1/auth/app-portal-access/"+app.ID, map[string]any{}, &portal); err != nil {
		t.Fatal(err)
	}
	if code, _ := call(ctx, ts.URL, portal.Token, "GET", "/api/v1/source", nil, nil); code != http.StatusForbidden {
		t.Errorf("sources with an app portal token: got %d, want 403", code)
	}
}

// postTampered posts changed bytes under the signature of the original.
func postTampered(t *testing.T, ctx context.Context, url string, signed, sent []byte) int {
	t.Helper()
	m := hmac.New(sha256.New, []byte(githubSecret))
	m.Write(signed)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(sent))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-GitHub-Delivery", "d-tampered")
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(m.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
