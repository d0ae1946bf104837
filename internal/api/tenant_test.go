package api

import (
	"cmp"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/herald"
)

// tenant is one application with one of everything a route can name.
type tenant struct {
	app, uid, endpoint, msg, attempt, sink, source string
	url, payload                                   string // data that must not leak to the other tenant
}

// newTenant creates an application named uid with an endpoint, a message
// with one recorded attempt, a polling endpoint and an inbound source.
func (b *bundle) newTenant(t *testing.T, uid string) tenant {
	t.Helper()
	tn := tenant{uid: uid, url: "https://" + uid + ".example/hook", payload: uid + "-private-payload"}
	tn.app = b.createApp(t, uid, uid)
	tn.endpoint = b.createEndpoint(t, tn.app, map[string]any{"url": tn.url})
	tn.msg = b.sendMessage(t, tn.app, map[string]any{"payload": map[string]any{"secret": tn.payload}})
	b.attemptAll(t, 500)
	var attempts struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	raw := b.call(t, "GET", "/api/v1/app/"+tn.app+"/attempt/msg/"+tn.msg, nil).want(t, 200).raw
	if err := json.Unmarshal(raw, &attempts); err != nil || len(attempts.Data) != 1 {
		t.Fatalf("attempts of %s: got %s (%v), want one", tn.msg, raw, err)
	}
	tn.attempt = attempts.Data[0].ID
	tn.sink = b.call(t, "POST", "/api/v1/app/"+tn.app+"/poller", map[string]any{}).want(t, 201).obj(t)["id"].(string)
	tn.source = b.createSource(t, tn.app, map[string]any{"uid": uid + "-gh"})["id"].(string)
	return tn
}

// params fills a route pattern's parameters. app and objects may belong
// to different tenants.
func params(pattern string, app, objects tenant) string {
	r := strings.NewReplacer(
		"{app_id}", app.app,
		"{endpoint_id}", objects.endpoint,
		"{msg_id}", objects.msg,
		"{attempt_id}", objects.attempt,
		"{sink_id}", objects.sink,
		"{consumer_id}", "consumer-1",
		"{source_id}", objects.source,
		"{event_id}", "evt_0000000000000000000000000000",
		"{event_type_name}", "user.signup",
	)
	return r.Replace(pattern)
}

// bodies are valid request bodies by route, so a refused request is
// refused for its scope and the same request for its own application
// succeeds. Routes not listed send no body.
var bodies = map[string]any{
	"POST /api/v1/app":                                                       map[string]any{"name": "New"},
	"PUT /api/v1/app/{app_id}":                                               map[string]any{"name": "Renamed"},
	"PATCH /api/v1/app/{app_id}":                                             map[string]any{"name": "Renamed"},
	"POST /api/v1/event-type":                                                map[string]any{"name": "user.new", "description": "d"},
	"PUT /api/v1/event-type/{event_type_name}":                               map[string]any{"description": "changed"},
	"PATCH /api/v1/event-type/{event_type_name}":                             map[string]any{"description": "changed"},
	"POST /api/v1/app/{app_id}/endpoint":                                     map[string]any{"url": "https://new.example/hook"},
	"PUT /api/v1/app/{app_id}/endpoint/{endpoint_id}":                        map[string]any{"url": "https://stolen.example/hook"},
	"PATCH /api/v1/app/{app_id}/endpoint/{endpoint_id}":                      map[string]any{"url": "https://stolen.example/hook"},
	"PUT /api/v1/app/{app_id}/endpoint/{endpoint_id}/headers":                map[string]any{"headers": map[string]string{"X-Stolen": "1"}},
	"PATCH /api/v1/app/{app_id}/endpoint/{endpoint_id}/headers":              map[string]any{"headers": map[string]string{"X-Stolen": "1"}},
	"PUT /api/v1/app/{app_id}/endpoint/{endpoint_id}/ordering":               map[string]any{"fifo": true},
	"POST /api/v1/app/{app_id}/endpoint/{endpoint_id}/send-example":          map[string]any{"eventType": "user.signup"},
	"POST /api/v1/app/{app_id}/endpoint/{endpoint_id}/recover":               map[string]any{"since": "2000-01-01T00:00:00Z"},
	"POST /api/v1/app/{app_id}/msg":                                          map[string]any{"eventType": "user.signup", "payload": map[string]any{"a": 1}},
	"POST /api/v1/source":                                                    map[string]any{"name": "S", "app": "acme", "verifier": map[string]any{"type": "github", "secrets": []string{"s"}}},
	"PUT /api/v1/source/{source_id}":                                         map[string]any{"name": "S", "app": "acme", "verifier": map[string]any{"type": "github", "secrets": []string{"s"}}},
	"PATCH /api/v1/source/{source_id}":                                       map[string]any{"name": "Renamed"},
	"POST /api/v1/app/{app_id}/poller":                                       map[string]any{},
	"POST /api/v1/app/{app_id}/poller/{sink_id}/consumer/{consumer_id}/seek": map[string]any{"after": "2000-01-01T00:00:00Z"},
}

// TestTenantIsolationEveryRoute walks the API's own route table with a
// token scoped to application A. Every route of application B, named by
// B's ID or UID or with B's objects under A's ID, is refused and shows
// none of B's data; every admin route is refused; and the same request
// with A's own objects is not refused for scope, so each refusal is real.
// B reads the same afterwards.
func TestTenantIsolationEveryRoute(t *testing.T) {
	t.Parallel()
	b, listened := setupRouteWalk(t)
	a := b.newTenant(t, "acme")
	other := b.newTenant(t, "globex")
	token := b.call(t, "POST", "/api/v1/auth/app-portal-access/"+a.app, nil).want(t, 200).obj(t)["token"].(string)
	byUID := other
	byUID.app = other.uid
	before := b.tenantState(t, other)

	routes := New(Config{Store: b.store, Publisher: b.pub}).table
	var scoped, adminOnly, global int
	for _, rt := range routes {
		method, pattern, _ := strings.Cut(rt.pattern, " ")
		call := func(app, objects tenant) response {
			return b.callAs(t, token, method, params(pattern, app, objects), bodies[rt.pattern], nil)
		}
		refused := func(how string, r response, codes ...int) {
			t.Helper()
			if !slices.Contains(codes, r.status) {
				t.Errorf("%s %s: got %d %.200s, want one of %v", rt.pattern, how, r.status, r.raw, codes)
			}
			// IDs the caller sent may be echoed in a not-found reason;
			// B's data may not.
			for _, leak := range []string{other.url, other.payload} {
				if strings.Contains(string(r.raw), leak) {
					t.Errorf("%s %s: the answer shows B's %q", rt.pattern, how, leak)
				}
			}
		}
		switch {
		case rt.access&public != 0:
			continue
		case rt.access&(admin|adminApp) != 0:
			adminOnly++
			refused("with A's token", call(other, other), 401, 403)
			if strings.Contains(pattern, "{app_id}") {
				refused("on A itself", call(a, a), 401, 403)
			}
		case rt.access&(appScoped|appOrMissing) != 0:
			scoped++
			refused("with B's ID", call(other, other), 403, 404)
			refused("with B's UID", call(byUID, other), 403, 404)
			if strings.Count(pattern, "{") > 1 {
				// A's application, B's objects. PUT of an endpoint is an
				// upsert: a missing one is created, in A, with a new ID.
				r := call(a, other)
				if rt.pattern == "PUT /api/v1/app/{app_id}/endpoint/{endpoint_id}" && r.status == 201 {
					if id := r.obj(t)["id"]; id == other.endpoint {
						t.Errorf("%s: the upsert took B's endpoint ID", rt.pattern)
					}
					continue
				}
				refused("with B's objects under A", r, 404)
			}
		case rt.access&anyToken != 0:
			// Global, not tenant data: event types are read by every
			// token (the portal lists them); logout ends the caller's
			// own token and runs last.
			global++
			if method != "GET" && !strings.HasSuffix(pattern, "/logout") {
				t.Errorf("%s: a route open to any token must only read", rt.pattern)
			}
		default:
			t.Errorf("%s: unknown access %b", rt.pattern, rt.access)
		}
	}
	if after := b.tenantState(t, other); after != before {
		t.Errorf("B changed:\nbefore %s\nafter  %s", before, after)
	}
	if scoped < 30 || adminOnly < 15 || global < 3 {
		t.Errorf("walked %d scoped, %d admin and %d global routes; want the whole table", scoped, adminOnly, global)
	}

	if len(*listened) != 0 {
		t.Errorf("listen sessions opened for %v before A's own call, want none", *listened)
	}

	// A's own requests, deletes last (the application itself at the very
	// end) so every route still finds its objects.
	own := slices.Clone(routes)
	slices.SortStableFunc(own, func(x, y route) int {
		return cmp.Compare(deleteRank(x.pattern), deleteRank(y.pattern))
	})
	for _, rt := range own {
		if rt.access&(appScoped|appOrMissing) == 0 || rt.access&(admin|adminApp) != 0 {
			continue
		}
		method, pattern, _ := strings.Cut(rt.pattern, " ")
		r := b.callAs(t, token, method, params(pattern, a, a), bodies[rt.pattern], nil)
		if r.status >= 300 {
			t.Errorf("%s on A's own objects: got %d %.200s, want success", rt.pattern, r.status, r.raw)
		}
	}
	if len(*listened) != 1 || (*listened)[0] != a.app {
		t.Errorf("listen sessions: got %v, want one for A", *listened)
	}
}

// deleteRank orders reads and writes before deletes, and deleting the
// application last.
func deleteRank(pattern string) int {
	switch {
	case pattern == "DELETE /api/v1/app/{app_id}":
		return 2
	case strings.HasPrefix(pattern, "DELETE "):
		return 1
	}
	return 0
}

var volatile = regexp.MustCompile(`"(nextAttempt|updatedAt|lastAttempt)":"[^"]*"`)

// tenantState reads everything of tn the admin can see, for before and
// after comparisons.
func (b *bundle) tenantState(t *testing.T, tn tenant) string {
	t.Helper()
	var out []string
	ep := "/api/v1/app/" + tn.app + "/endpoint/" + tn.endpoint
	for _, p := range []string{
		"/api/v1/app/" + tn.app,
		"/api/v1/app/" + tn.app + "/endpoint",
		ep, ep + "/headers", ep + "/secret",
		"/api/v1/app/" + tn.app + "/msg?with_content=true",
		"/api/v1/app/" + tn.app + "/msg/" + tn.msg,
		"/api/v1/app/" + tn.app + "/msg/" + tn.msg + "/attempt/" + tn.attempt,
		"/api/v1/app/" + tn.app + "/attempt/endpoint/" + tn.endpoint,
		"/api/v1/source/" + tn.source,
		"/api/v1/event-type/user.signup",
	} {
		r := b.call(t, "GET", p, nil).want(t, 200)
		out = append(out, p+" "+volatile.ReplaceAllString(string(r.raw), ""))
	}
	return strings.Join(out, "\n")
}

// setupRouteWalk is the server the route-walking tests use: a listener
// that accepts every session it is handed (recording the application in
// listened), so the listen route's own call succeeds and its refusals are
// the API's, and an event type with a schema for the example routes.
func setupRouteWalk(t *testing.T) (*bundle, *[]string) {
	t.Helper()
	listened := new([]string)
	b := setup(t, func(c *Config) {
		c.Listener = listenerFunc(func(w http.ResponseWriter, _ *http.Request, app *herald.Application) error {
			*listened = append(*listened, app.ID)
			w.WriteHeader(http.StatusNoContent)
			return nil
		})
	})
	b.createEventType(t, "user.signup", map[string]any{"1": map[string]any{"type": "object"}})
	return b, listened
}
