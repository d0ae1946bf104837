package api

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// legacyGoSDKHeader is what the Svix Go SDK v1.44.0 sends: it rejects
// fields its models lack.
var legacyGoSDKHeader = http.Header{"User-Agent": {"svix-libs/1.44.0/go"}}

func TestLegacyGoSDKAgent(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		userAgent string
		want      bool
	}{
		{"svix-libs/1.44.0/go", true},
		{"svix-libs/1.39.0/go", true},
		{"svix-libs/1.56.12/go", true},
		{"svix-libs/01.044.0/go", true},
		{"svix-libs/1.38.9/go", false},
		{"svix-libs/1.57.0/go", false},
		{"svix-libs/1.84.1/go", false},
		{"svix-libs/0.44.0/go", false},
		{"svix-libs/2.44.0/go", false},
		{"svix-libs/1.44.0/javascript", false},
		{"svix-libs/1.44.0/rust", false},
		{"svix-libs/1.44/go", false},
		{"svix-libs/v1.44.0/go", false},
		{"svix-libs/1.44.0-beta.1/go", false},
		{"svix-libs//go", false},
		{"svix-libs/1.44.0/go ", false},
		{"svix-libs/1.44.0/go/extra", false},
		{"my-app svix-libs/1.44.0/go", false},
		{"Go-http-client/1.1", false},
		{"", false},
	} {
		if got := legacyGoSDKAgent(tc.userAgent); got != tc.want {
			t.Errorf("legacyGoSDKAgent(%q): got %v, want %v", tc.userAgent, got, tc.want)
		}
	}
}

func TestParseVersion(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in                  string
		major, minor, patch uint64
		ok                  bool
	}{
		{"1.44.0", 1, 44, 0, true},
		{"1.57.0", 1, 57, 0, true},
		{"10.200.3000", 10, 200, 3000, true},
		{"0.0.0", 0, 0, 0, true},
		{"01.044.00", 1, 44, 0, true},
		{"", 0, 0, 0, false},
		{"1", 0, 0, 0, false},
		{"1.44", 0, 0, 0, false},
		{"1.44.", 0, 0, 0, false},
		{"1..0", 0, 0, 0, false},
		{".44.0", 0, 0, 0, false},
		{"1.44.0.1", 0, 0, 0, false},
		{"1.44.0-rc1", 0, 0, 0, false},
		{"1.44.0+build", 0, 0, 0, false},
		{"v1.44.0", 0, 0, 0, false},
		{"+1.44.0", 0, 0, 0, false},
		{"-1.44.0", 0, 0, 0, false},
		{"1.44.0 ", 0, 0, 0, false},
		{"1._44.0", 0, 0, 0, false},
		{"1.0x2c.0", 0, 0, 0, false},
		{"1.4294967296.0", 0, 0, 0, false}, // past 32 bits
		{"a.b.c", 0, 0, 0, false},
	} {
		major, minor, patch, ok := parseVersion(tc.in)
		if major != tc.major || minor != tc.minor || patch != tc.patch || ok != tc.ok {
			t.Errorf("parseVersion(%q): got %d.%d.%d %v, want %d.%d.%d %v",
				tc.in, major, minor, patch, ok, tc.major, tc.minor, tc.patch, tc.ok)
		}
	}
}

// The Go SDKs that reject unknown fields get answers without the fields
// their models lack; every other caller gets the reference's.
func TestAnswerShapeFollowsUserAgent(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createEventType(t, "user.signup", nil)
	app := b.call(t, "POST", "/api/v1/app", map[string]any{"name": "Acme", "throttleRate": 10}).want(t, 201).obj(t)["id"].(string)
	ep := b.createEndpoint(t, app, map[string]any{"eventTypes": []string{"user.signup"}, "throttleRate": 5})
	epPath := "/api/v1/app/" + app + "/endpoint/" + ep
	msg := b.sendMessage(t, app, map[string]any{})
	b.sendMessage(t, app, map[string]any{})
	b.attemptAll(t, 500) // two failed deliveries
	b.sendMessage(t, app, map[string]any{})
	b.call(t, "PATCH", epPath, map[string]any{"disabled": true}).want(t, 200)
	b.attemptAll(t, 500) // the claim cancels the third: its endpoint is disabled
	b.call(t, "PATCH", epPath, map[string]any{"disabled": false}).want(t, 200)
	atts := b.call(t, "GET", "/api/v1/app/"+app+"/attempt/msg/"+msg, nil).want(t, 200).obj(t)["data"].([]any)
	att := atts[0].(map[string]any)["id"].(string)

	// Legacy stats count canceled as fail: the SDK has no canceled.
	var legacy, ref map[string]int
	_ = json.Unmarshal(b.callAs(t, b.token, "GET", epPath+"/stats", nil, legacyGoSDKHeader).want(t, 200).raw, &legacy)
	_ = json.Unmarshal(b.call(t, "GET", epPath+"/stats", nil).want(t, 200).raw, &ref)
	if ref["fail"] != 2 || ref["canceled"] != 1 || legacy["fail"] != 3 {
		t.Errorf("got reference stats %v and legacy stats %v, want 2 failed and 1 canceled, 3 failed in the legacy ones", ref, legacy)
	}

	agents := []struct {
		name   string
		header http.Header
		legacy bool
	}{
		{"Go SDK 1.44.0", legacyGoSDKHeader, true},
		{"Go SDK 1.57.0", http.Header{"User-Agent": {"svix-libs/1.57.0/go"}}, false},
		{"JavaScript SDK", http.Header{"User-Agent": {"svix-libs/1.99.1/javascript"}}, false},
		{"no User-Agent", http.Header{"User-Agent": {""}}, false},
	}
	since := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	// Recover comes last: it changes the deliveries the others count.
	for _, rt := range []struct {
		method, path string
		body         any
		status       int
		fields       []string // the reference's fields the legacy shape lacks
	}{
		{"GET", "/api/v1/app", nil, 200, []string{"throttleRate"}},
		{"GET", "/api/v1/app/" + app, nil, 200, []string{"throttleRate"}},
		{"GET", "/api/v1/app/" + app + "/endpoint", nil, 200, []string{"eventTypes", "throttleRate"}},
		{"GET", epPath, nil, 200, []string{"eventTypes", "throttleRate"}},
		{"GET", "/api/v1/app/" + app + "/msg/" + msg + "/endpoint", nil, 200, []string{"eventTypes", "throttleRate", "statusText"}},
		{"GET", "/api/v1/app/" + app + "/attempt/msg/" + msg, nil, 200, []string{"statusText"}},
		{"GET", "/api/v1/app/" + app + "/attempt/endpoint/" + ep, nil, 200, []string{"statusText"}},
		{"GET", "/api/v1/app/" + app + "/msg/" + msg + "/attempt/" + att, nil, 200, []string{"statusText"}},
		{"GET", epPath + "/msg", nil, 200, []string{"statusText"}},
		{"GET", epPath + "/stats", nil, 200, []string{"canceled"}},
		{"POST", epPath + "/recover", map[string]any{"since": since}, 202, []string{"updatedAt"}},
	} {
		for _, ag := range agents {
			raw := b.callAs(t, b.token, rt.method, rt.path, rt.body, ag.header).want(t, rt.status).raw
			objs := answerObjects(t, raw)
			if len(objs) == 0 {
				t.Fatalf("%s %s: got %s, want at least one object", rt.method, rt.path, raw)
			}
			for _, o := range objs {
				for _, f := range rt.fields {
					if _, ok := o[f]; ok == ag.legacy {
						t.Errorf("%s %s as %s: got %s, want %s present: %v", rt.method, rt.path, ag.name, raw, f, !ag.legacy)
					}
				}
				if !ag.legacy {
					checkRepeatedFields(t, rt.method+" "+rt.path, o)
				}
			}
		}
	}
}

// answerObjects returns the items of a list answer, or the answer itself.
func answerObjects(t *testing.T, raw []byte) []map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	data, ok := m["data"].([]any)
	if !ok {
		return []map[string]any{m}
	}
	out := make([]map[string]any, len(data))
	for i, d := range data {
		out[i] = d.(map[string]any)
	}
	return out
}

// checkRepeatedFields checks that the reference's names carry the same
// values as the older names beside them.
func checkRepeatedFields(t *testing.T, what string, o map[string]any) {
	t.Helper()
	for newer, older := range map[string]string{"throttleRate": "rateLimit", "eventTypes": "filterTypes"} {
		if v, ok := o[newer]; ok && !reflect.DeepEqual(v, o[older]) {
			t.Errorf("%s: got %s %v and %s %v, want the same", what, newer, v, older, o[older])
		}
	}
	if st, ok := o["status"].(float64); ok && o["statusText"] != nil {
		if want := [...]string{"success", "pending", "fail", "sending"}[int(st)]; o["statusText"] != want {
			t.Errorf("%s: got statusText %v for status %v, want %s", what, o["statusText"], st, want)
		}
	}
}

// TestIdempotentReplayFollowsUserAgent: an answer saved for one SDK and
// replayed to a legacy Go SDK (a client retrying after an upgrade or a
// rollback) leaves out the fields that SDK rejects.
func TestIdempotentReplayFollowsUserAgent(t *testing.T) {
	t.Parallel()
	b := setup(t)
	h := http.Header{"Idempotency-Key": {"k1"}, "User-Agent": {"svix-libs/1.60.0/go"}}
	body := map[string]any{"name": "Acme", "throttleRate": 10}
	first := b.callAs(t, b.token, "POST", "/api/v1/app", body, h).want(t, http.StatusCreated)
	if !strings.Contains(string(first.raw), `"throttleRate"`) {
		t.Fatalf("first answer %s lacks throttleRate", first.raw)
	}
	h.Set("User-Agent", "svix-libs/1.44.0/go")
	again := b.callAs(t, b.token, "POST", "/api/v1/app", body, h).want(t, http.StatusCreated)
	if again.header.Get("Idempotent-Replayed") != "true" || strings.Contains(string(again.raw), `"throttleRate"`) ||
		!strings.Contains(string(again.raw), `"updatedAt"`) {
		t.Errorf("replay to a legacy Go SDK: %s (replayed %q), want the saved answer without throttleRate",
			again.raw, again.header.Get("Idempotent-Replayed"))
	}
}

func TestLegacyReplayDropsOnlyWhatItMust(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, want string }{
		{`{"id":"app_1","throttleRate":10,"rateLimit":10,"updatedAt":"t"}`, `{"id":"app_1","rateLimit":10,"updatedAt":"t"}`},
		{`{"id":"ep_1","eventTypes":["a"],"filterTypes":["a"]}`, `{"filterTypes":["a"],"id":"ep_1"}`},
		{`{"id":"qtask_1","status":"running","task":"endpoint.recover","updatedAt":"t"}`, `{"id":"qtask_1","status":"running","task":"endpoint.recover"}`},
		{`{"id":"msg_1","payload":{"throttleRate":1}}`, `{"id":"msg_1","payload":{"throttleRate":1}}`},
		{`not json`, `not json`},
	} {
		if got := string(legacyReplay([]byte(tt.in))); got != tt.want {
			t.Errorf("legacyReplay(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
