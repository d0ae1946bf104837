package sdktest

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	svix "github.com/svix/svix-webhooks/go"

	"github.com/heraldhq/herald/internal/api"
	"github.com/heraldhq/herald/internal/delivery"
	"github.com/heraldhq/herald/internal/store/sqlite"
)

const adminToken = "sdk-test-admin-token"

// received is one request the test receiver got.
type received struct {
	header http.Header
	body   []byte
}

// bundle is a running Herald with an SDK client pointed at it, and a
// receiver that endpoints can deliver to.
type bundle struct {
	client    *svix.Svix
	serverURL *url.URL
	receiver  *httptest.Server
	got       chan received
}

func setup(t *testing.T) *bundle {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "herald.db")})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })

	engine, err := delivery.New(delivery.Config{
		Store:         st,
		AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")},
	})
	if err != nil {
		t.Fatalf("new engine: %v", err)
	}
	if err := engine.Start(ctx); err != nil {
		t.Fatalf("start engine: %v", err)
	}
	t.Cleanup(func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = engine.Stop(stopCtx)
	})

	srv := httptest.NewServer(api.New(api.Config{Store: st, Publisher: engine, AdminToken: adminToken}).Handler())
	t.Cleanup(srv.Close)

	b := &bundle{got: make(chan received, 16)}
	b.receiver = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		b.got <- received{header: r.Header.Clone(), body: body}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(b.receiver.Close)

	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	b.serverURL = u
	b.client = svix.New(adminToken, &svix.SvixOptions{ServerUrl: u})
	return b
}

// eventually waits until cond holds, checking every few milliseconds, and
// fails the test after 10 seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

func TestSvixGoSDK(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	c := b.client

	app, err := c.Application.Create(ctx, &svix.ApplicationIn{Name: "Acme", Uid: svix.String("acme")})
	if err != nil {
		t.Fatalf("create application: %v", err)
	}
	if got, err := c.Application.GetOrCreate(ctx, &svix.ApplicationIn{Name: "Acme", Uid: svix.String("acme")}); err != nil || got.Id != app.Id {
		t.Fatalf("get or create: got %v, %v; want %s", got, err, app.Id)
	}
	if got, err := c.Application.Get(ctx, "acme"); err != nil || got.Id != app.Id {
		t.Fatalf("get application by uid: got %v, %v", got, err)
	}
	apps, err := c.Application.List(ctx, nil)
	if err != nil || len(apps.Data) != 1 || !apps.Done {
		t.Fatalf("list applications: got %+v, %v; want one", apps, err)
	}

	if _, err := c.EventType.Create(ctx, &svix.EventTypeIn{Name: "user.signup", Description: "A user signed up"}); err != nil {
		t.Fatalf("create event type: %v", err)
	}
	if ets, err := c.EventType.List(ctx, nil); err != nil || len(ets.Data) != 1 {
		t.Fatalf("list event types: got %+v, %v", ets, err)
	}

	ep, err := c.Endpoint.Create(ctx, app.Id, &svix.EndpointIn{
		Url:         b.receiver.URL + "/hook",
		FilterTypes: []string{"user.signup"},
		Description: svix.String("receiver"),
	})
	if err != nil {
		t.Fatalf("create endpoint: %v", err)
	}
	if len(ep.FilterTypes) != 1 || ep.FilterTypes[0] != "user.signup" {
		t.Errorf("got filterTypes %v, want [user.signup]", ep.FilterTypes)
	}
	secret, err := c.Endpoint.GetSecret(ctx, app.Id, ep.Id)
	if err != nil {
		t.Fatalf("get secret: %v", err)
	}

	msg, err := c.Message.Create(ctx, app.Id, &svix.MessageIn{
		EventType: "user.signup",
		EventId:   svix.String("evt-1"),
		Payload:   map[string]any{"email": "ada@example.com"},
	})
	if err != nil {
		t.Fatalf("create message: %v", err)
	}

	// The delivery arrives, signed so that the SDK's own verifier accepts it.
	var got received
	select {
	case got = <-b.got:
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for the delivery")
	}
	wh, err := svix.NewWebhook(secret.Key)
	if err != nil {
		t.Fatalf("new webhook: %v", err)
	}
	if err := wh.Verify(got.body, got.header); err != nil {
		t.Errorf("the SDK rejects Herald's signature: %v", err)
	}
	if !strings.Contains(string(got.body), "ada@example.com") {
		t.Errorf("got body %s, want the payload", got.body)
	}

	var attempts *svix.ListResponseMessageAttemptOut
	eventually(t, "the attempt to be recorded", func() bool {
		attempts, err = c.MessageAttempt.ListByMsg(ctx, app.Id, msg.Id, nil)
		if err != nil {
			t.Fatalf("list attempts: %v", err)
		}
		return len(attempts.Data) > 0
	})
	if a := attempts.Data[0]; a.EndpointId != ep.Id || a.ResponseStatusCode != 204 || a.Status != 0 {
		t.Errorf("got attempt %+v, want a success to %s", a, ep.Id)
	}
	byEp, err := c.MessageAttempt.ListByEndpoint(ctx, app.Id, ep.Id, nil)
	if err != nil || len(byEp.Data) != 1 {
		t.Errorf("list attempts by endpoint: got %+v, %v", byEp, err)
	}
	if _, err := c.MessageAttempt.Get(ctx, app.Id, msg.Id, attempts.Data[0].Id); err != nil {
		t.Errorf("get attempt: %v", err)
	}
	if dests, err := c.MessageAttempt.ListAttemptedDestinations(ctx, app.Id, msg.Id, nil); err != nil || len(dests.Data) != 1 {
		t.Errorf("list attempted destinations: got %+v, %v", dests, err)
	}
	if msgs, err := c.MessageAttempt.ListAttemptedMessages(ctx, app.Id, ep.Id, nil); err != nil || len(msgs.Data) != 1 {
		t.Errorf("list attempted messages: got %+v, %v", msgs, err)
	}

	msgs, err := c.Message.List(ctx, app.Id, nil)
	if err != nil || len(msgs.Data) != 1 || msgs.Data[0].Id != msg.Id {
		t.Fatalf("list messages: got %+v, %v", msgs, err)
	}
	if m, err := c.Message.Get(ctx, app.Id, "evt-1"); err != nil || m.Id != msg.Id {
		t.Errorf("get message by event id: got %+v, %v", m, err)
	}

	stats, err := c.Endpoint.GetStats(ctx, app.Id, ep.Id)
	if err != nil || stats.Success != 1 {
		t.Errorf("endpoint stats: got %+v, %v; want one success", stats, err)
	}

	if err := c.Endpoint.RotateSecret(ctx, app.Id, ep.Id, &svix.EndpointSecretRotateIn{}); err != nil {
		t.Fatalf("rotate secret: %v", err)
	}
	rotated, err := c.Endpoint.GetSecret(ctx, app.Id, ep.Id)
	if err != nil || rotated.Key == secret.Key {
		t.Errorf("after rotation: got %v, %v; want a new secret", rotated, err)
	}

	if err := c.Endpoint.UpdateHeaders(ctx, app.Id, ep.Id, &svix.EndpointHeadersIn{Headers: map[string]string{"X-Team": "core"}}); err != nil {
		t.Errorf("update headers: %v", err)
	}
	if h, err := c.Endpoint.GetHeaders(ctx, app.Id, ep.Id); err != nil || h.Headers["X-Team"] != "core" {
		t.Errorf("get headers: got %+v, %v", h, err)
	}
	if eps, err := c.Endpoint.List(ctx, app.Id, nil); err != nil || len(eps.Data) != 1 {
		t.Errorf("list endpoints: got %+v, %v", eps, err)
	}
	rec, err := c.Endpoint.Recover(ctx, app.Id, ep.Id, &svix.RecoverIn{Since: time.Now().Add(-time.Hour)})
	if err != nil || !strings.HasPrefix(rec.Id, "qtask_") {
		t.Errorf("recover: got %+v, %v", rec, err)
	}
	portal, err := c.Authentication.AppPortalAccess(ctx, app.Id, &svix.AppPortalAccessIn{})
	if err != nil || portal.Token == "" {
		t.Errorf("app portal access: got %+v, %v", portal, err)
	}

	// Errors come back as svix.Error with the HTTP status.
	_, err = c.Application.Get(ctx, "missing")
	var serr *svix.Error
	if !errors.As(err, &serr) || serr.Status() != 404 {
		t.Errorf("get missing application: got %v, want a 404 svix.Error", err)
	}
	_, err = c.Endpoint.Create(ctx, app.Id, &svix.EndpointIn{Url: "not a url"})
	if !errors.As(err, &serr) || serr.Status() != 422 {
		t.Errorf("create endpoint with a bad URL: got %v, want a 422 svix.Error", err)
	}

	if err := c.Endpoint.Delete(ctx, app.Id, ep.Id); err != nil {
		t.Errorf("delete endpoint: %v", err)
	}
	if err := c.Application.Delete(ctx, app.Id); err != nil {
		t.Errorf("delete application: %v", err)
	}
}
