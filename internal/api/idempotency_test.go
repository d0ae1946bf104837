package api

import (
	"bufio"
	"context"
	"crypto/sha256"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// storeKey is the stored idempotency key the admin token's raw key on
// method and path maps to.
func storeKey(method, path, raw string) string {
	sum := sha256.Sum256([]byte(adminToken))
	c := &call{r: httptest.NewRequest(method, path, nil), who: principal{hash: sum[:]}}
	return idempotencyKey(c, raw)
}

// sendTruncated sends a request that announces a longer body than it sends,
// then stops writing, as a client whose upload dropped. It returns the
// status Herald answered.
func sendTruncated(t *testing.T, base, path, key, partial string, announced int) int {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	head := "POST " + path + " HTTP/1.1\r\nHost: " + u.Host + "\r\n" +
		"Authorization: Bearer " + adminToken + "\r\nIdempotency-Key: " + key + "\r\n" +
		"Content-Type: application/json\r\nContent-Length: " + strconv.Itoa(announced) + "\r\n\r\n"
	if _, err := conn.Write([]byte(head + partial)); err != nil {
		t.Fatalf("write: %v", err)
	}
	_ = conn.(*net.TCPConn).CloseWrite()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// A dropped upload is a transport failure, not a verdict on the request:
// its 400 must not be replayed to the retry that sends the whole body.
func TestIdempotencyDroppedUploadNotSaved(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createApp(t, "Acme", "acme")
	body := `{"eventType":"invoice.paid","payload":{"a":1}}`
	if got := sendTruncated(t, b.url, "/api/v1/app/acme/msg", "drop-1", body[:10], len(body)); got != 400 {
		t.Fatalf("got status %d for a truncated upload, want 400", got)
	}
	key := map[string][]string{"Idempotency-Key": {"drop-1"}}
	retry := b.callAs(t, adminToken, "POST", "/api/v1/app/acme/msg", body, key).want(t, 202)
	if retry.header.Get("Idempotent-Replayed") != "" {
		t.Errorf("got a replayed answer for the retry of a dropped upload, want it run")
	}
	if published, _, _ := b.pub.counts(); published != 1 {
		t.Errorf("got %d published, want 1", published)
	}
}

// A claim left by a process that died mid-request is taken over once it is
// older than any request may run, instead of blocking the key for 24 h.
func TestIdempotencyAbandonedClaimTakenOver(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createApp(t, "Acme", "acme")
	k := storeKey("POST", "/api/v1/app/acme/msg", "crashed")
	claimed := time.Now().Add(-store.IdempotencyClaimTimeout - time.Second)
	if _, _, err := b.store.BeginIdempotent(context.Background(), k, claimed, claimed.Add(idempotencyTTL), ""); err != nil {
		t.Fatalf("claim as the dead process: %v", err)
	}
	key := map[string][]string{"Idempotency-Key": {"crashed"}}
	body := `{"eventType":"a","payload":{}}`
	first := b.callAs(t, adminToken, "POST", "/api/v1/app/acme/msg", body, key).want(t, 202)
	again := b.callAs(t, adminToken, "POST", "/api/v1/app/acme/msg", body, key).want(t, 202)
	if string(again.raw) != string(first.raw) || again.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("got %s (replayed %q), want the replay of %s", again.raw, again.header.Get("Idempotent-Replayed"), first.raw)
	}

	// A recent claim still means the first request is running.
	k = storeKey("POST", "/api/v1/app/acme/msg", "running")
	if _, _, err := b.store.BeginIdempotent(context.Background(), k, time.Now(), time.Now().Add(idempotencyTTL), ""); err != nil {
		t.Fatalf("claim: %v", err)
	}
	b.callAs(t, adminToken, "POST", "/api/v1/app/acme/msg", body, map[string][]string{"Idempotency-Key": {"running"}}).want(t, 409)
}

// TestIdempotencyRetryAfterACrashFindsThePublish: a process that died
// after its publish committed, but before the answer was saved, left a
// claim noting the message's ID. The retry that takes the claim over
// answers with that message, and publishes nothing again.
func TestIdempotencyRetryAfterACrashFindsThePublish(t *testing.T) {
	t.Parallel()
	b := setup(t)
	app := b.createApp(t, "Acme", "acme")
	ctx := context.Background()
	claimed := time.Now().Add(-store.IdempotencyClaimTimeout - time.Second)
	id := herald.NewID(herald.PrefixMessage, claimed)
	k := storeKey("POST", "/api/v1/app/acme/msg", "died")
	if _, _, err := b.store.BeginIdempotent(ctx, k, claimed, claimed.Add(idempotencyTTL), id); err != nil {
		t.Fatalf("claim as the dead process: %v", err)
	}
	msg := &herald.Message{ID: id, AppID: app, EventType: "a", Payload: []byte(`{"n":1}`), CreatedAt: claimed, ExpiresAt: claimed.Add(time.Hour)}
	if err := b.store.Publish(ctx, msg, nil, "", time.Time{}); err != nil {
		t.Fatalf("the dead process's publish: %v", err)
	}
	before, _, _ := b.pub.counts()

	key := map[string][]string{"Idempotency-Key": {"died"}}
	got := b.callAs(t, adminToken, "POST", "/api/v1/app/acme/msg", `{"eventType":"a","payload":{"n":1}}`, key).want(t, 202).obj(t)
	if got["id"] != id {
		t.Errorf("retry: answered message %v, want the one the dead request published, %s", got["id"], id)
	}
	if after, _, _ := b.pub.counts(); after != before {
		t.Errorf("retry published again (%d publishes, want %d)", after, before)
	}
	again := b.callAs(t, adminToken, "POST", "/api/v1/app/acme/msg", `{"eventType":"a","payload":{"n":1}}`, key).want(t, 202).obj(t)
	if again["id"] != id {
		t.Errorf("replay: message %v, want %s", again["id"], id)
	}
}

// TestIdempotencyRetryAfterTwoCrashes: the first request died before its
// publish, and the retry that took its claim over published under an ID of
// its own and died too, before its answer was saved. The third request
// finds that message rather than publishing a second one.
func TestIdempotencyRetryAfterTwoCrashes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	app := b.createApp(t, "Acme", "acme")
	ctx := context.Background()
	k := storeKey("POST", "/api/v1/app/acme/msg", "died-twice")
	first := time.Now().Add(-2*store.IdempotencyClaimTimeout - 2*time.Second)
	if _, _, err := b.store.BeginIdempotent(ctx, k, first, first.Add(idempotencyTTL), herald.NewID(herald.PrefixMessage, first)); err != nil {
		t.Fatalf("claim as the first process: %v", err)
	}
	second := first.Add(store.IdempotencyClaimTimeout + time.Second)
	id := herald.NewID(herald.PrefixMessage, second)
	if _, _, err := b.store.BeginIdempotent(ctx, k, second, second.Add(idempotencyTTL), id); err != nil {
		t.Fatalf("take over as the second process: %v", err)
	}
	msg := &herald.Message{ID: id, AppID: app, EventType: "a", Payload: []byte(`{"n":1}`), CreatedAt: second, ExpiresAt: second.Add(time.Hour)}
	if err := b.store.Publish(ctx, msg, nil, "", time.Time{}); err != nil {
		t.Fatalf("the second process's publish: %v", err)
	}
	before, _, _ := b.pub.counts()

	got := b.callAs(t, adminToken, "POST", "/api/v1/app/acme/msg", `{"eventType":"a","payload":{"n":1}}`,
		map[string][]string{"Idempotency-Key": {"died-twice"}}).want(t, 202).obj(t)
	if got["id"] != id {
		t.Errorf("retry: answered message %v, want the one the second request published, %s", got["id"], id)
	}
	if after, _, _ := b.pub.counts(); after != before {
		t.Errorf("retry published again (%d publishes, want %d)", after, before)
	}
}

// TestIdempotencyRetryAfterACrashBeforeThePublish: a process that died
// before its publish left a claim noting an ID of its own time. The retry
// that takes it over publishes once, under an ID of its own time, since
// IDs follow creation times (herald.IDFloor).
func TestIdempotencyRetryAfterACrashBeforeThePublish(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createApp(t, "Acme", "acme")
	claimed := time.Now().Add(-store.IdempotencyClaimTimeout - time.Second)
	note := herald.IDFloor(herald.PrefixMessage, claimed)
	k := storeKey("POST", "/api/v1/app/acme/msg", "died-early")
	if _, _, err := b.store.BeginIdempotent(context.Background(), k, claimed, claimed.Add(idempotencyTTL), note); err != nil {
		t.Fatalf("claim as the dead process: %v", err)
	}
	before, _, _ := b.pub.counts()
	start := time.Now()
	got := b.callAs(t, adminToken, "POST", "/api/v1/app/acme/msg", `{"eventType":"a","payload":{}}`,
		map[string][]string{"Idempotency-Key": {"died-early"}}).want(t, 202).obj(t)
	id, _ := got["id"].(string)
	if id < herald.IDFloor(herald.PrefixMessage, start.Add(-time.Second)) {
		t.Errorf("retry published %s, an ID older than the publish (the dead request's was %s)", id, note)
	}
	if after, _, _ := b.pub.counts(); after != before+1 {
		t.Errorf("retry: %d publishes, want 1", after-before)
	}
}

// A portal token is a secret: its answer is never saved in the idempotency
// table, where it would sit in plaintext for a day.
func TestIdempotencyPortalTokenNotSaved(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createApp(t, "Acme", "acme")
	path := "/api/v1/auth/app-portal-access/acme"
	key := map[string][]string{"Idempotency-Key": {"portal-1"}}
	first := b.callAs(t, adminToken, "POST", path, `{}`, key).want(t, 200).obj(t)["token"].(string)
	second := b.callAs(t, adminToken, "POST", path, `{}`, key).want(t, 200).obj(t)["token"].(string)
	if first == second {
		t.Errorf("got the same token twice, want each call to mint its own")
	}
	now := time.Now()
	saved, _, err := b.store.BeginIdempotent(context.Background(), storeKey("POST", path, "portal-1"), now, now.Add(time.Hour), "")
	if err != nil || saved != nil {
		t.Errorf("got a saved answer (%v) for the key, want nothing stored", err)
	}
}

// TestIdempotencyReplayKeepsNoExpungedPayload: a repeated publish is
// answered with the message as stored now. Its saved answer holds the
// payload, which must not outlive the message's own: once expunged, or
// once retention deleted the message, the replay carries no payload.
func TestIdempotencyReplayKeepsNoExpungedPayload(t *testing.T) {
	t.Parallel()
	b := setup(t)
	app := b.createApp(t, "Acme", "acme")
	body := `{"eventType":"invoice.paid","payload":{"ssn":"078-05-1120"}}`
	publish := func(key string) map[string]any {
		t.Helper()
		r := b.callAs(t, adminToken, "POST", "/api/v1/app/acme/msg", body, map[string][]string{"Idempotency-Key": {key}}).want(t, 202)
		return r.obj(t)
	}
	first := publish("k-1")
	if again := publish("k-1"); again["id"] != first["id"] || again["payload"].(map[string]any)["ssn"] != "078-05-1120" {
		t.Fatalf("replay before any expunge: got %v, want the same message with its payload", again)
	}
	id := first["id"].(string)
	b.call(t, "DELETE", "/api/v1/app/acme/msg/"+id+"/content", nil).want(t, 204)
	if again := publish("k-1"); again["id"] != id || len(again["payload"].(map[string]any)) != 0 {
		t.Errorf("replay after the payload was expunged: got %v, want the message without its payload", again)
	}

	second := publish("k-2")
	n, err := b.store.ExpireMessages(context.Background(), time.Now().Add(100*24*time.Hour), 100)
	if err != nil || n == 0 {
		t.Fatalf("expire messages: %d, %v", n, err)
	}
	if _, err := b.store.GetMessage(context.Background(), app, second["id"].(string)); err == nil {
		t.Fatalf("the message is still stored after retention")
	}
	if again := publish("k-2"); again["id"] != second["id"] || len(again["payload"].(map[string]any)) != 0 {
		t.Errorf("replay after retention deleted the message: got %v, want the saved answer without its payload", again)
	}
}

// A replayed publish refusal is the saved answer byte for byte: only a
// publish that succeeded carries a payload to check.
func TestIdempotencyReplayedRefusalIsUnchanged(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createApp(t, "Acme", "acme")
	key := map[string][]string{"Idempotency-Key": {"bad-1"}}
	first := b.callAs(t, adminToken, "POST", "/api/v1/app/acme/msg", `{"eventType":"a b","payload":{}}`, key).want(t, 422)
	again := b.callAs(t, adminToken, "POST", "/api/v1/app/acme/msg", `{"eventType":"a b","payload":{}}`, key).want(t, 422)
	if again.header.Get("Idempotent-Replayed") != "true" || string(again.raw) != string(first.raw) {
		t.Errorf("replay: got %s (replayed %q), want %s", again.raw, again.header.Get("Idempotent-Replayed"), first.raw)
	}
}

// TestPublishWhoseAnswerWasLost: the store committed the publish but the
// node heard an error (the connection broke at the commit). The client is
// answered with the message, not an error its retry would publish again.
func TestPublishWhoseAnswerWasLost(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createApp(t, "Acme", "acme")
	b.pub.lost = fmt.Errorf("commit: %w", herald.ErrUnavailable)
	key := map[string][]string{"Idempotency-Key": {"lost"}}
	got := b.callAs(t, adminToken, "POST", "/api/v1/app/acme/msg", `{"eventType":"a","payload":{"n":1}}`, key).want(t, 202).obj(t)
	b.pub.lost = nil
	again := b.callAs(t, adminToken, "POST", "/api/v1/app/acme/msg", `{"eventType":"a","payload":{"n":1}}`, key).want(t, 202).obj(t)
	if again["id"] != got["id"] {
		t.Errorf("retry: message %v, want the stored %v", again["id"], got["id"])
	}
	if n, _, _ := b.pub.counts(); n != 1 {
		t.Errorf("%d publishes, want 1", n)
	}
	// A publish refused before anything was written still fails.
	b.pub.fail = fmt.Errorf("down: %w", herald.ErrUnavailable)
	b.callAs(t, adminToken, "POST", "/api/v1/app/acme/msg", `{"eventType":"a","payload":{"n":2}}`, nil).want(t, 503)
}
