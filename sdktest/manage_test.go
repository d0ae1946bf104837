package sdktest

import (
	"context"
	"errors"
	"testing"
	"time"

	svix "github.com/svix/svix-webhooks/go"
)

// TestSvixGoSDKManagement drives the update, patch, delete and scoped-token
// calls of the SDK, which decode Herald's answers strictly.
func TestSvixGoSDKManagement(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	c := b.client

	app, err := c.Application.CreateWithOptions(ctx, &svix.ApplicationIn{Name: "Acme"}, &svix.PostOptions{IdempotencyKey: svix.String("create-acme")})
	if err != nil {
		t.Fatalf("create application: %v", err)
	}
	again, err := c.Application.CreateWithOptions(ctx, &svix.ApplicationIn{Name: "Acme"}, &svix.PostOptions{IdempotencyKey: svix.String("create-acme")})
	if err != nil || again.Id != app.Id {
		t.Errorf("repeated idempotency key: got %v, %v; want application %s again", again, err, app.Id)
	}
	if got, err := c.Application.Update(ctx, app.Id, &svix.ApplicationIn{Name: "Acme Inc", RateLimit: svix.Int32(20)}); err != nil || got.Name != "Acme Inc" || got.GetRateLimit() != 20 {
		t.Errorf("update application: got %+v, %v", got, err)
	}
	if got, err := c.Application.Patch(ctx, app.Id, &svix.ApplicationPatch{Uid: svix.StaticNullableString("acme")}); err != nil || got.GetUid() != "acme" || got.Name != "Acme Inc" {
		t.Errorf("patch application: got %+v, %v", got, err)
	}

	schema := map[string]any{"1": map[string]any{"type": "object", "examples": []any{map[string]any{"invoiceId": "inv_1"}}}}
	if _, err := c.EventType.Create(ctx, &svix.EventTypeIn{Name: "invoice.paid", Description: "Paid", Schemas: schema}); err != nil {
		t.Fatalf("create event type: %v", err)
	}
	if et, err := c.EventType.Get(ctx, "invoice.paid"); err != nil || et.Schemas == nil {
		t.Errorf("get event type: got %+v, %v", et, err)
	}
	if et, err := c.EventType.Update(ctx, "invoice.paid", &svix.EventTypeUpdate{Description: "Paid!", Schemas: schema}); err != nil || et.Description != "Paid!" {
		t.Errorf("update event type: got %+v, %v", et, err)
	}
	if et, err := c.EventType.Patch(ctx, "invoice.paid", &svix.EventTypePatch{Deprecated: svix.NullableBool(nil).Get()}); err != nil || et.Description != "Paid!" {
		t.Errorf("patch event type: got %+v, %v", et, err)
	}

	ep, err := c.Endpoint.Create(ctx, "acme", &svix.EndpointIn{Url: b.receiver.URL, Uid: svix.String("main"), RateLimit: svix.Int32(50)})
	if err != nil {
		t.Fatalf("create endpoint: %v", err)
	}
	if got, err := c.Endpoint.Get(ctx, "acme", "main"); err != nil || got.Id != ep.Id || got.GetRateLimit() != 50 {
		t.Errorf("get endpoint by uid: got %+v, %v", got, err)
	}
	if got, err := c.Endpoint.Update(ctx, "acme", ep.Id, &svix.EndpointUpdate{Url: b.receiver.URL + "/v2", FilterTypes: []string{"invoice.paid"}}); err != nil || len(got.FilterTypes) != 1 {
		t.Errorf("update endpoint: got %+v, %v", got, err)
	}
	if got, err := c.Endpoint.Patch(ctx, "acme", ep.Id, &svix.EndpointPatch{Description: svix.String("patched")}); err != nil || got.Description != "patched" || got.Url != b.receiver.URL+"/v2" {
		t.Errorf("patch endpoint: got %+v, %v", got, err)
	}
	if err := c.Endpoint.PatchHeaders(ctx, "acme", ep.Id, &svix.EndpointHeadersPatchIn{Headers: map[string]string{"X-Env": "prod"}}); err != nil {
		t.Errorf("patch headers: %v", err)
	}

	// (The SDK's Endpoint.SendExample drops its body in v1.44.0, so it
	// cannot be used against any server; the API package tests that route.)
	ex, err := c.Message.Create(ctx, "acme", &svix.MessageIn{EventType: "invoice.paid", Payload: map[string]any{"invoiceId": "inv_1"}})
	if err != nil {
		t.Fatalf("create message: %v", err)
	}
	select {
	case <-b.got:
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for the delivery")
	}
	eventually(t, "the attempt", func() bool {
		list, err := c.MessageAttempt.ListByEndpoint(ctx, "acme", ep.Id, &svix.MessageAttemptListOptions{StatusCodeClass: ptr(svix.StatusCodeClass(200))})
		return err == nil && len(list.Data) == 1
	})
	if err := c.MessageAttempt.Resend(ctx, "acme", ex.Id, ep.Id); err != nil {
		t.Errorf("resend: %v", err)
	}
	select {
	case <-b.got:
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for the resent delivery")
	}
	if err := c.Message.ExpungeContent(ctx, "acme", ex.Id); err != nil {
		t.Errorf("expunge message content: %v", err)
	}
	if m, err := c.Message.Get(ctx, "acme", ex.Id); err != nil || len(m.Payload) != 0 {
		t.Errorf("get expunged message: got %+v, %v; want an empty payload", m, err)
	}

	// A portal token works on its application only, then logs out.
	portal, err := c.Authentication.AppPortalAccess(ctx, app.Id, &svix.AppPortalAccessIn{})
	if err != nil {
		t.Fatalf("app portal access: %v", err)
	}
	scoped := svix.New(portal.Token, &svix.SvixOptions{ServerUrl: b.serverURL})
	if eps, err := scoped.Endpoint.List(ctx, app.Id, nil); err != nil || len(eps.Data) != 1 {
		t.Errorf("scoped list endpoints: got %+v, %v", eps, err)
	}
	var serr *svix.Error
	if _, err := scoped.Application.List(ctx, nil); !errors.As(err, &serr) || serr.Status() != 403 {
		t.Errorf("scoped list applications: got %v, want 403", err)
	}
	if err := scoped.Authentication.Logout(ctx); err != nil {
		t.Errorf("logout: %v", err)
	}
	if _, err := scoped.Endpoint.List(ctx, app.Id, nil); !errors.As(err, &serr) || serr.Status() != 401 {
		t.Errorf("after logout: got %v, want 401", err)
	}

	if err := c.EventType.Delete(ctx, "invoice.paid"); err != nil {
		t.Errorf("delete event type: %v", err)
	}
	if et, err := c.EventType.Get(ctx, "invoice.paid"); err != nil || !et.GetArchived() {
		t.Errorf("deleted event type: got %+v, %v; want archived", et, err)
	}
}

func ptr[T any](v T) *T { return &v }
