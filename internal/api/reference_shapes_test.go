package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/delivery"
	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/opevent"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/sqlite"
)

// refRun is a Herald with a real delivery engine and operational events,
// driven through the reference's operations. Every answer is checked
// against the reference; mismatches are collected, not fatal, so one run
// lists them all.
type refRun struct {
	*bundle
	ref      *refDoc
	receiver string
	opsApp   string
	emitter  *opevent.Emitter
	recorded chan []string // the application of each attempt in a committed batch

	called     map[string]bool // "METHOD path status" answered
	mismatches []string
}

func setupReference(t *testing.T) *refRun {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "herald.db")})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })

	recv := httptest.NewServer(http.HandlerFunc(receive))
	t.Cleanup(recv.Close)

	ops, _, err := opevent.Setup(ctx, st, recv.URL+"/ops", time.Now())
	if err != nil {
		t.Fatalf("set up operational events: %v", err)
	}
	em, err := opevent.New(opevent.Config{AppID: ops.ID, Lookup: st})
	if err != nil {
		t.Fatalf("new emitter: %v", err)
	}
	r := &refRun{ref: reference(t), receiver: recv.URL, opsApp: ops.ID, emitter: em,
		recorded: make(chan []string, 1024), called: map[string]bool{}}
	done := make(chan struct{})

	engine, err := delivery.New(delivery.Config{
		Store: st,
		// One retry, an hour on: a failed attempt leaves its delivery
		// sending, with a next attempt, for the whole test.
		Policy:        herald.Policy{Schedule: []time.Duration{time.Hour}},
		AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")},
		Events:        recordedEvents{next: em, apps: r.recorded, done: done},
	})
	if err != nil {
		t.Fatalf("new engine: %v", err)
	}
	if err := engine.Start(ctx); err != nil {
		t.Fatalf("start engine: %v", err)
	}
	if err := em.Start(engine); err != nil {
		t.Fatalf("start emitter: %v", err)
	}
	t.Cleanup(func() {
		close(done)
		stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = em.Stop(stopCtx)
		_ = engine.Stop(stopCtx)
	})

	srv := httptest.NewServer(New(Config{
		Store: st, Publisher: engine, Events: em,
		AdminToken: adminToken, PortalURL: "http://herald.test/ui/portal",
	}).Handler())
	t.Cleanup(srv.Close)
	r.bundle = &bundle{url: srv.URL, token: adminToken, store: st, http: srv.Client()}
	return r
}

// receive is the endpoints' server: /gone answers 410 (the endpoint is
// disabled), /fail 500 (retried), anything else 200 with a body.
func receive(w http.ResponseWriter, req *http.Request) {
	switch req.URL.Path {
	case "/gone":
		w.WriteHeader(http.StatusGone)
	case "/fail":
		http.Error(w, "down", http.StatusInternalServerError)
	default:
		_, _ = w.Write([]byte(`{"ok":true}`))
	}
}

// recordedEvents passes committed attempt results on to the operational
// events, and tells the test whose attempts they were until done closes.
type recordedEvents struct {
	next delivery.Events
	apps chan<- []string
	done <-chan struct{}
}

func (e recordedEvents) Recorded(batch []store.Result, disabled []string) {
	e.next.Recorded(batch, disabled)
	apps := make([]string, len(batch))
	for i := range batch {
		apps[i] = batch[i].Attempt.AppID
	}
	select {
	case e.apps <- apps:
	case <-e.done:
	}
}

// waitAttempts waits until n more attempts for app were recorded.
func (r *refRun) waitAttempts(t *testing.T, app string, n int) {
	t.Helper()
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	for n > 0 {
		select {
		case apps := <-r.recorded:
			for _, a := range apps {
				if a == app {
					n--
				}
			}
		case <-timeout.C:
			t.Fatalf("timed out with %d attempts to %s still unrecorded", n, app)
		}
	}
}

// do calls the operation at tmpl (a reference path, its {params} filled
// from vars) and checks the answer: status want, documented by the
// reference, and a body in the documented shape. It returns the answer.
func (r *refRun) do(t *testing.T, method, tmpl string, vars map[string]string, query string, body any, want int) response {
	t.Helper()
	return r.doAs(t, r.token, method, tmpl, vars, query, body, want)
}

func (r *refRun) doAs(t *testing.T, token, method, tmpl string, vars map[string]string, query string, body any, want int) response {
	t.Helper()
	path := tmpl
	for k, v := range vars {
		path = strings.ReplaceAll(path, "{"+k+"}", v)
	}
	if strings.Contains(path, "{") {
		t.Fatalf("%s: a path parameter is not set", path)
	}
	resp := r.callAs(t, token, method, path+query, body, nil).want(t, want)
	r.called[fmt.Sprintf("%s %s %d", method, tmpl, resp.status)] = true
	documented, schema := r.ref.response(method, tmpl, resp.status)
	switch {
	case !documented && r.ref.documentsSuccess(method, tmpl):
		r.mismatch("%s %s: status %d is not one the reference documents", method, tmpl, resp.status)
	case schema == nil && len(resp.raw) > 0:
		r.mismatch("%s %s %d: got body %s, want none", method, tmpl, resp.status, resp.raw)
	case schema != nil:
		for _, e := range r.ref.validateJSON(schema, resp.raw) {
			r.mismatch("%s %s %d: %s", method, tmpl, resp.status, e)
		}
	}
	return resp
}

func (r *refRun) mismatch(format string, args ...any) {
	r.mismatches = append(r.mismatches, fmt.Sprintf(format, args...))
}

// uncovered lists the reference's operations and statuses with a JSON
// body that the run did not see.
func (r *refRun) uncovered() []string {
	var out []string
	paths, _ := r.ref.doc["paths"].(map[string]any)
	for path, ops := range paths {
		for method, op := range ops.(map[string]any) {
			responses, _ := docAt(op, "responses").(map[string]any)
			for status := range responses {
				if !strings.HasPrefix(status, "2") || docAt(responses[status], "content", "application/json", "schema") == nil {
					continue
				}
				key := strings.ToUpper(method) + " " + path + " " + status
				if !r.called[key] {
					out = append(out, key)
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

// webhookSchemas maps each operational event type to the reference's
// schema for its payload.
func (r *refRun) webhookSchemas() map[string]any {
	out := map[string]any{}
	hooks, _ := r.ref.doc["x-webhooks"].(map[string]any)
	for _, h := range hooks {
		ref, _ := docAt(h, "post", "requestBody", "content", "application/json", "schema", "$ref").(string)
		name := strings.TrimPrefix(ref, "#/components/schemas/")
		if typ, ok := docAt(r.ref.schema(name), "properties", "type", "enum").([]any); ok && len(typ) == 1 {
			out[typ[0].(string)] = map[string]any{"$ref": ref}
		}
	}
	return out
}

// TestResponsesMatchReference drives every operation of the Svix server
// reference that answers JSON, against a Herald that really delivers, and
// checks each answer, and each operational webhook, against the
// reference's schema.
func TestResponsesMatchReference(t *testing.T) {
	t.Parallel()
	r := setupReference(t)
	r.checkHealth(t)
	r.checkEventTypes(t)
	vars := r.checkApplications(t)
	eps := r.checkEndpoints(t, vars)
	r.checkMessagesAndAttempts(t, vars, eps)
	r.checkAuth(t, vars)
	r.checkRemovals(t, vars, eps)
	r.checkOperationalEvents(t)

	if left := r.uncovered(); len(left) > 0 {
		t.Errorf("operations not exercised:\n  %s", strings.Join(left, "\n  "))
	}
	for _, m := range r.mismatches {
		t.Errorf("%s", m)
	}
}

func (r *refRun) checkHealth(t *testing.T) {
	t.Helper()
	r.do(t, "GET", "/api/v1/health", nil, "", nil, 204)
	r.do(t, "GET", "/api/v1/health/ping", nil, "", nil, 204)
	r.do(t, "HEAD", "/api/v1/health/ping", nil, "", nil, 204)
}

func (r *refRun) checkEventTypes(t *testing.T) {
	t.Helper()
	const list, one = "/api/v1/event-type", "/api/v1/event-type/{event_type_name}"
	schemas := map[string]any{"1": map[string]any{"type": "object", "examples": []any{map[string]any{"invoiceId": "inv_1"}}}}
	r.do(t, "POST", list, nil, "", map[string]any{"name": "invoice.paid", "description": "An invoice was paid", "schemas": schemas}, 201)
	r.do(t, "POST", list, nil, "", map[string]any{"name": "user.signup", "description": "A user signed up"}, 201)
	paid := map[string]string{"event_type_name": "invoice.paid"}
	r.do(t, "GET", list, nil, "?with_content=true", nil, 200)
	r.do(t, "GET", one, paid, "", nil, 200)
	r.do(t, "PATCH", one, paid, "", map[string]any{"featureFlag": "beta"}, 200)
	r.do(t, "PUT", one, paid, "", map[string]any{"description": "Paid", "schemas": schemas}, 200)
	r.do(t, "PUT", one, map[string]string{"event_type_name": "order.shipped"}, "", map[string]any{"description": "Shipped"}, 201)
}

// checkApplications answers with the path parameters of application acme.
func (r *refRun) checkApplications(t *testing.T) map[string]string {
	t.Helper()
	const list, one = "/api/v1/app", "/api/v1/app/{app_id}"
	in := map[string]any{"name": "Acme", "uid": "acme", "metadata": map[string]string{"team": "core"}, "rateLimit": 100}
	id := r.do(t, "POST", list, nil, "", in, 201).obj(t)["id"].(string)
	r.do(t, "POST", list, nil, "?get_if_exists=true", in, 200)
	vars := map[string]string{"app_id": id}
	r.do(t, "GET", one, vars, "", nil, 200)
	r.do(t, "PATCH", one, vars, "", map[string]any{"name": "Acme Inc"}, 200)
	r.do(t, "PUT", one, vars, "", in, 200)
	r.do(t, "PUT", one, map[string]string{"app_id": "beta"}, "", map[string]any{"name": "Beta"}, 201)
	r.do(t, "GET", list, nil, "", nil, 200)
	return vars
}

// refEndpoints are the IDs of the endpoints the messages go to.
type refEndpoints struct{ ok, fail, gone string }

func (r *refRun) checkEndpoints(t *testing.T, app map[string]string) refEndpoints {
	t.Helper()
	const list, one = "/api/v1/app/{app_id}/endpoint", "/api/v1/app/{app_id}/endpoint/{endpoint_id}"
	okIn := map[string]any{
		"url": r.receiver + "/ok", "uid": "main", "description": "main receiver",
		"filterTypes": []string{"invoice.paid", "user.signup"}, "channels": []string{"project_1"},
		"rateLimit": 50, "metadata": map[string]string{"team": "core"},
	}
	var eps refEndpoints
	eps.ok = r.do(t, "POST", list, app, "", okIn, 201).obj(t)["id"].(string)
	eps.fail = r.do(t, "POST", list, app, "", map[string]any{"url": r.receiver + "/fail"}, 201).obj(t)["id"].(string)
	eps.gone = r.do(t, "POST", list, app, "", map[string]any{"url": r.receiver + "/gone"}, 201).obj(t)["id"].(string)

	ok := with(app, "endpoint_id", eps.ok)
	r.do(t, "GET", list, app, "", nil, 200)
	r.do(t, "GET", one, ok, "", nil, 200)
	r.do(t, "PATCH", one, ok, "", map[string]any{"description": "the main receiver"}, 200)
	r.do(t, "PUT", one, ok, "", okIn, 200)
	// A PUT to an endpoint that does not exist creates it.
	extra := r.do(t, "PUT", one, with(app, "endpoint_id", "extra"), "", map[string]any{"url": r.receiver + "/extra"}, 201).obj(t)["id"].(string)
	r.do(t, "DELETE", one, with(app, "endpoint_id", extra), "", nil, 204)

	const headers = one + "/headers"
	r.do(t, "PUT", headers, ok, "", map[string]any{"headers": map[string]string{"X-Team": "core"}}, 204)
	r.do(t, "PATCH", headers, ok, "", map[string]any{"headers": map[string]string{"X-Env": "prod"}}, 204)
	r.do(t, "GET", headers, ok, "", nil, 200)
	r.do(t, "GET", one+"/secret", ok, "", nil, 200)
	r.do(t, "POST", one+"/secret/rotate", ok, "", map[string]any{}, 204)
	return eps
}

func (r *refRun) checkMessagesAndAttempts(t *testing.T, app map[string]string, eps refEndpoints) {
	t.Helper()
	const msgs, msg = "/api/v1/app/{app_id}/msg", "/api/v1/app/{app_id}/msg/{msg_id}"
	in := map[string]any{"eventType": "invoice.paid", "eventId": "evt-1", "channels": []string{"project_1"}, "payload": map[string]any{"invoiceId": "inv_1"}}
	id := r.do(t, "POST", msgs, app, "", in, 202).obj(t)["id"].(string)
	r.waitAttempts(t, app["app_id"], 3) // ok, fail and gone
	m := with(app, "msg_id", id)
	ok, fail, gone := with(app, "endpoint_id", eps.ok), with(app, "endpoint_id", eps.fail), with(app, "endpoint_id", eps.gone)

	// A manual resend and an example each make one more attempt to ok.
	r.do(t, "POST", msg+"/endpoint/{endpoint_id}/resend", with(m, "endpoint_id", eps.ok), "", nil, 202)
	r.waitAttempts(t, app["app_id"], 1)
	r.do(t, "POST", "/api/v1/app/{app_id}/endpoint/{endpoint_id}/send-example", ok, "", map[string]any{"eventType": "invoice.paid"}, 200)
	r.waitAttempts(t, app["app_id"], 1)

	r.do(t, "GET", msgs, app, "?with_content=true", nil, 200)
	r.do(t, "GET", msg, m, "", nil, 200)
	r.do(t, "GET", msg, with(app, "msg_id", "evt-1"), "", nil, 200)
	r.do(t, "GET", msg+"/endpoint", m, "", nil, 200)
	atts := r.do(t, "GET", "/api/v1/app/{app_id}/attempt/msg/{msg_id}", m, "", nil, 200).obj(t)["data"].([]any)
	if len(atts) == 0 {
		t.Fatal("no attempts listed for the message")
	}
	att := with(m, "attempt_id", atts[0].(map[string]any)["id"].(string))
	r.do(t, "GET", msg+"/attempt/{attempt_id}", att, "", nil, 200)
	for _, ep := range []map[string]string{ok, fail, gone} {
		r.do(t, "GET", "/api/v1/app/{app_id}/attempt/endpoint/{endpoint_id}", ep, "", nil, 200)
		r.do(t, "GET", "/api/v1/app/{app_id}/endpoint/{endpoint_id}/msg", ep, "?with_content=false", nil, 200)
		r.do(t, "GET", "/api/v1/app/{app_id}/endpoint/{endpoint_id}/stats", ep, "", nil, 200)
	}
	since := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	r.do(t, "POST", "/api/v1/app/{app_id}/endpoint/{endpoint_id}/recover", fail, "", map[string]any{"since": since}, 202)

	r.do(t, "DELETE", msg+"/attempt/{attempt_id}/content", att, "", nil, 204)
	r.do(t, "DELETE", msg+"/content", m, "", nil, 204)
}

func (r *refRun) checkAuth(t *testing.T, app map[string]string) {
	t.Helper()
	token := r.do(t, "POST", "/api/v1/auth/app-portal-access/{app_id}", app, "", map[string]any{}, 200).obj(t)["token"].(string)
	r.doAs(t, token, "POST", "/api/v1/auth/logout", nil, "", nil, 204)
}

// checkRemovals disables ok by hand (an endpoint.disabled event without
// failures), deletes fail, an event type and an application.
func (r *refRun) checkRemovals(t *testing.T, app map[string]string, eps refEndpoints) {
	t.Helper()
	const one = "/api/v1/app/{app_id}/endpoint/{endpoint_id}"
	r.do(t, "PATCH", one, with(app, "endpoint_id", eps.ok), "", map[string]any{"disabled": true}, 200)
	r.do(t, "DELETE", one, with(app, "endpoint_id", eps.fail), "", nil, 204)
	r.do(t, "DELETE", "/api/v1/event-type/{event_type_name}", map[string]string{"event_type_name": "order.shipped"}, "", nil, 204)
	r.do(t, "DELETE", "/api/v1/app/{app_id}", map[string]string{"app_id": "beta"}, "", nil, 204)
}

// checkOperationalEvents checks the payload of every operational webhook
// the run caused: all of them are published once the emitter stops.
func (r *refRun) checkOperationalEvents(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.emitter.Stop(ctx); err != nil {
		t.Fatalf("stop emitter: %v", err)
	}
	list := r.call(t, "GET", "/api/v1/app/"+r.opsApp+"/msg?limit=250&with_content=true", nil).want(t, 200).obj(t)
	schemas := r.webhookSchemas()
	seen := map[string]bool{}
	for _, item := range list["data"].([]any) {
		m := item.(map[string]any)
		typ := m["eventType"].(string)
		seen[typ] = true
		schema, ok := schemas[typ]
		if !ok {
			r.mismatch("operational event %s: the reference has no such webhook", typ)
			continue
		}
		raw, err := json.Marshal(m["payload"])
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range r.ref.validateJSON(schema, raw) {
			r.mismatch("operational event %s: %s (payload %s)", typ, e, raw)
		}
	}
	for _, typ := range []string{opevent.EndpointCreated, opevent.EndpointUpdated, opevent.EndpointDisabled, opevent.EndpointDeleted, opevent.AttemptExhausted} {
		if !seen[typ] {
			t.Errorf("no %s operational event was published", typ)
		}
	}
}

// with returns a copy of vars with k set to v.
func with(vars map[string]string, k, v string) map[string]string {
	out := make(map[string]string, len(vars)+1)
	for key, val := range vars {
		out[key] = val
	}
	out[k] = v
	return out
}
