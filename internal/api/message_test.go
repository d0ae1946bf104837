package api

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/herald"
)

func TestMessageCreate(t *testing.T) {
	t.Parallel()
	b := setup(t)
	app := b.createApp(t, "Acme", "acme")
	b.createEndpoint(t, app, map[string]any{})

	// The payload is stored exactly as sent, whitespace and key order kept.
	payload := `{ "z": 1,  "a": [true, null], "n": "ü" }`
	body := `{"eventType":"user.signup","eventId":"evt-1","channels":["ch1"],"payload":` + payload + `}`
	r := b.call(t, "POST", "/api/v1/app/acme/msg", body).want(t, 202)
	var out struct {
		ID        string         `json:"id"`
		EventType string         `json:"eventType"`
		EventID   string         `json:"eventId"`
		Channels  []string       `json:"channels"`
		Payload   map[string]any `json:"payload"`
		Timestamp string         `json:"timestamp"`
	}
	if err := jsonStrict(r.raw, &out); err != nil {
		t.Fatalf("decode %s: %v", r.raw, err)
	}
	if !strings.HasPrefix(out.ID, "msg_") || out.EventID != "evt-1" || out.Payload["z"] != float64(1) || len(out.Channels) != 1 {
		t.Errorf("got %+v, want the message echoed", out)
	}
	msg, err := b.store.GetMessage(context.Background(), app, out.ID)
	if err != nil {
		t.Fatal(err)
	}
	if string(msg.Payload) != payload {
		t.Errorf("got stored payload %q, want %q byte for byte", msg.Payload, payload)
	}
	if published, _, _ := b.pub.counts(); published != 1 {
		t.Errorf("got %d published, want 1", published)
	}

	// A repeated eventId conflicts.
	b.call(t, "POST", "/api/v1/app/acme/msg", body).want(t, 409)
	// with_content=false omits the payload.
	r = b.call(t, "POST", "/api/v1/app/acme/msg?with_content=false", `{"eventType":"a","payload":{"big":"x"}}`).want(t, 202)
	if bytes.Contains(r.raw, []byte("big")) {
		t.Errorf("got %s, want no payload content", r.raw)
	}

	// Get by ID and by eventId.
	for _, id := range []string{out.ID, "evt-1"} {
		if got := b.call(t, "GET", "/api/v1/app/acme/msg/"+id, nil).want(t, 200).obj(t); got["id"] != out.ID {
			t.Errorf("GET %s: got %v, want %s", id, got["id"], out.ID)
		}
	}
	b.call(t, "GET", "/api/v1/app/acme/msg/msg_missing", nil).want(t, 404)

	// Expunge keeps the message but drops its content.
	b.call(t, "DELETE", "/api/v1/app/acme/msg/"+out.ID+"/content", nil).want(t, 204)
	got := b.call(t, "GET", "/api/v1/app/acme/msg/"+out.ID, nil).want(t, 200).obj(t)
	if p, _ := got["payload"].(map[string]any); len(p) != 0 {
		t.Errorf("got payload %v after expunge, want {}", got["payload"])
	}
}

func TestMessageValidation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createApp(t, "Acme", "acme")
	tests := []struct {
		name   string
		body   string
		status int
	}{
		{"payload not an object", `{"eventType":"a","payload":[1]}`, 422},
		{"payload missing", `{"eventType":"a"}`, 422},
		{"bad event type", `{"eventType":"a b","payload":{}}`, 422},
		{"bad event id", `{"eventType":"a","eventId":"","payload":{}}`, 422},
		{"retention too short", `{"eventType":"a","payload":{},"payloadRetentionPeriod":1}`, 422},
		{"too many channels", `{"eventType":"a","payload":{},"channels":["1","2","3","4","5","6"]}`, 422},
		{"invalid JSON", `{"eventType":"a","payload":{}`, 400},
		{"trailing garbage", `{"eventType":"a","payload":{}}x`, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b.call(t, "POST", "/api/v1/app/acme/msg", tt.body).want(t, tt.status)
		})
	}
	if published, _, _ := b.pub.counts(); published != 0 {
		t.Errorf("got %d published, want none for invalid input", published)
	}
	b.call(t, "POST", "/api/v1/app/nope/msg", `{"eventType":"a","payload":{}}`).want(t, 404)
}

func TestMessageCreatesApplication(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.call(t, "POST", "/api/v1/app/new-app/msg", map[string]any{
		"eventType": "a", "payload": map[string]any{}, "application": map[string]any{"name": "New App"},
	}).want(t, 202)
	got := b.call(t, "GET", "/api/v1/app/new-app", nil).want(t, 200).obj(t)
	if got["name"] != "New App" || got["uid"] != "new-app" {
		t.Errorf("got %v, want the app created with the path as uid", got)
	}
}

func TestMessageStoreUnavailable(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createApp(t, "Acme", "acme")
	b.pub.fail = fmt.Errorf("commit: %w", herald.ErrUnavailable)
	r := b.call(t, "POST", "/api/v1/app/acme/msg", `{"eventType":"a","payload":{}}`).want(t, 503)
	if d, _ := r.obj(t)["detail"].(string); !strings.Contains(d, "unavailable") {
		t.Errorf("got detail %q, want a clear reason", d)
	}
}

func TestMessageListsAndAttempts(t *testing.T) {
	t.Parallel()
	b := setup(t)
	app := b.createApp(t, "Acme", "acme")
	b.createEventType(t, "user.signup", nil)
	ep := b.createEndpoint(t, app, map[string]any{"url": "https://example.com/a"})
	var ids []string
	for i := range 3 {
		ids = append(ids, b.sendMessage(t, app, map[string]any{"eventType": "user.signup", "channels": []string{fmt.Sprintf("c%d", i)}}))
	}
	b.attemptAll(t, 200)

	list := b.call(t, "GET", "/api/v1/app/acme/msg?limit=2", nil).want(t, 200).obj(t)
	data := list["data"].([]any)
	if len(data) != 2 || list["done"] != false {
		t.Fatalf("got %v, want 2 messages and more", list)
	}
	rest := b.call(t, "GET", "/api/v1/app/acme/msg?limit=2&iterator="+list["iterator"].(string), nil).want(t, 200).obj(t)
	if len(rest["data"].([]any)) != 1 || rest["done"] != true {
		t.Errorf("got %v, want the last message", rest)
	}
	ch := b.call(t, "GET", "/api/v1/app/acme/msg?channel=c1", nil).want(t, 200).obj(t)
	if d := ch["data"].([]any); len(d) != 1 || d[0].(map[string]any)["id"] != ids[1] {
		t.Errorf("got %v, want only the c1 message", ch["data"])
	}
	nc := b.call(t, "GET", "/api/v1/app/acme/msg?with_content=false", nil).want(t, 200)
	if bytes.Contains(nc.raw, []byte(`"k"`)) {
		t.Errorf("got %s, want payloads omitted", nc.raw)
	}

	// Attempts by message, in the legacy Go SDK's strict shape.
	r := b.callAs(t, b.token, "GET", "/api/v1/app/acme/attempt/msg/"+ids[0], nil, legacyGoSDKHeader).want(t, 200)
	var atts struct {
		Data []struct {
			ID                 string `json:"id"`
			MsgID              string `json:"msgId"`
			EndpointID         string `json:"endpointId"`
			URL                string `json:"url"`
			Response           string `json:"response"`
			ResponseStatusCode int    `json:"responseStatusCode"`
			ResponseDurationMs int64  `json:"responseDurationMs"`
			Status             int    `json:"status"`
			TriggerType        int    `json:"triggerType"`
			Timestamp          string `json:"timestamp"`
		} `json:"data"`
		Iterator     *string `json:"iterator"`
		PrevIterator *string `json:"prevIterator"`
		Done         bool    `json:"done"`
	}
	if err := jsonStrict(r.raw, &atts); err != nil {
		t.Fatalf("decode %s: %v", r.raw, err)
	}
	if len(atts.Data) != 1 || atts.Data[0].EndpointID != ep || atts.Data[0].ResponseStatusCode != 200 || atts.Data[0].Status != 0 || atts.Data[0].Response != "response body" {
		t.Fatalf("got %+v, want one successful attempt to %s", atts.Data, ep)
	}
	attID := atts.Data[0].ID

	byEp := b.call(t, "GET", "/api/v1/app/acme/attempt/endpoint/"+ep+"?status=0&with_content=false", nil).want(t, 200).obj(t)
	if d := byEp["data"].([]any); len(d) != 3 || d[0].(map[string]any)["response"] != "" {
		t.Errorf("got %v, want 3 attempts without response bodies", byEp["data"])
	}
	if d := b.call(t, "GET", "/api/v1/app/acme/attempt/endpoint/"+ep+"?status_code_class=500", nil).want(t, 200).obj(t)["data"].([]any); len(d) != 0 {
		t.Errorf("got %d attempts with a 5xx, want 0", len(d))
	}
	b.call(t, "GET", "/api/v1/app/acme/attempt/endpoint/"+ep+"?status=9", nil).want(t, 422)
	b.call(t, "GET", "/api/v1/app/acme/attempt/endpoint/"+ep+"?status_code_class=250", nil).want(t, 422)

	got := b.call(t, "GET", "/api/v1/app/acme/msg/"+ids[0]+"/attempt/"+attID, nil).want(t, 200).obj(t)
	if got["id"] != attID {
		t.Errorf("got attempt %v, want %s", got["id"], attID)
	}
	b.call(t, "DELETE", "/api/v1/app/acme/msg/"+ids[0]+"/attempt/"+attID+"/content", nil).want(t, 204)
	if got := b.call(t, "GET", "/api/v1/app/acme/msg/"+ids[0]+"/attempt/"+attID, nil).want(t, 200).obj(t); got["response"] != "" {
		t.Errorf("got response %v after expunge, want empty", got["response"])
	}

	// Attempted destinations and attempted messages, in the same shape.
	dest := b.callAs(t, b.token, "GET", "/api/v1/app/acme/msg/"+ids[0]+"/endpoint", nil, legacyGoSDKHeader).want(t, 200)
	var dests struct {
		Data []struct {
			ID          string   `json:"id"`
			UID         *string  `json:"uid"`
			URL         string   `json:"url"`
			Version     int      `json:"version"`
			Description string   `json:"description"`
			Disabled    bool     `json:"disabled"`
			FilterTypes []string `json:"filterTypes"`
			Channels    []string `json:"channels"`
			RateLimit   *int     `json:"rateLimit"`
			Status      int      `json:"status"`
			NextAttempt *string  `json:"nextAttempt"`
			CreatedAt   string   `json:"createdAt"`
			UpdatedAt   string   `json:"updatedAt"`
		} `json:"data"`
		Iterator     *string `json:"iterator"`
		PrevIterator *string `json:"prevIterator"`
		Done         bool    `json:"done"`
	}
	if err := jsonStrict(dest.raw, &dests); err != nil || len(dests.Data) != 1 || dests.Data[0].ID != ep || dests.Data[0].Status != 0 {
		t.Errorf("got destinations %s (%v), want %s delivered", dest.raw, err, ep)
	}
	msgs := b.callAs(t, b.token, "GET", "/api/v1/app/acme/endpoint/"+ep+"/msg?status=0", nil, legacyGoSDKHeader).want(t, 200)
	var em struct {
		Data []struct {
			ID          string         `json:"id"`
			EventType   string         `json:"eventType"`
			EventID     string         `json:"eventId"`
			Channels    []string       `json:"channels"`
			Payload     map[string]any `json:"payload"`
			Status      int            `json:"status"`
			NextAttempt *string        `json:"nextAttempt"`
			Timestamp   string         `json:"timestamp"`
		} `json:"data"`
		Iterator     *string `json:"iterator"`
		PrevIterator *string `json:"prevIterator"`
		Done         bool    `json:"done"`
	}
	if err := jsonStrict(msgs.raw, &em); err != nil || len(em.Data) != 3 {
		t.Errorf("got attempted messages %s (%v), want 3", msgs.raw, err)
	}

	// Resend schedules a manual attempt and wakes the engine.
	b.call(t, "POST", "/api/v1/app/acme/msg/"+ids[0]+"/endpoint/"+ep+"/resend", nil).want(t, 202)
	if _, wakes, _ := b.pub.counts(); wakes != 1 {
		t.Errorf("got %d wakes, want 1", wakes)
	}
	b.call(t, "POST", "/api/v1/app/acme/msg/"+ids[0]+"/endpoint/ep_missing/resend", nil).want(t, 404)
}

// The path names the application a message goes to; the body's
// application only says how to create it when it does not exist.
func TestMessageApplicationFollowsPath(t *testing.T) {
	t.Parallel()
	b := setup(t)
	acme := b.createApp(t, "Acme", "acme")
	r := b.call(t, "POST", "/api/v1/app/newapp2/msg",
		`{"eventType":"invoice.paid","payload":{"a":1},"application":{"name":"x","uid":"acme"}}`).want(t, 422)
	if !strings.Contains(string(r.raw), `"loc":["body","application","uid"]`) {
		t.Errorf("got %s, want a validation error naming application.uid", r.raw)
	}
	if published, _, _ := b.pub.counts(); published != 0 {
		t.Errorf("got %d published, want none", published)
	}
	if got := b.call(t, "GET", "/api/v1/app/acme/msg", nil).want(t, 200).obj(t)["data"].([]any); len(got) != 0 {
		t.Errorf("got %d messages in %s, want none", len(got), acme)
	}
	b.call(t, "GET", "/api/v1/app/newapp2", nil).want(t, 404)

	// A uid that agrees with the path creates the application.
	b.call(t, "POST", "/api/v1/app/newapp3/msg",
		`{"eventType":"a","payload":{},"application":{"name":"y","uid":"newapp3"}}`).want(t, 202)
	if got := b.call(t, "GET", "/api/v1/app/newapp3/msg", nil).want(t, 200).obj(t)["data"].([]any); len(got) != 1 {
		t.Errorf("got %d messages in newapp3, want 1", len(got))
	}
	// An existing application ignores the body's application, as in Svix.
	b.call(t, "POST", "/api/v1/app/acme/msg",
		`{"eventType":"a","payload":{},"application":{"name":"z","uid":"other"}}`).want(t, 202)
}
