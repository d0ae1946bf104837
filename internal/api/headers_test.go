package api

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// The custom header rules are shared with the dashboard (herald.CheckHeader);
// the API answers each refusal with the same 422 body as before they were.
func TestEndpointHeaderRulesAnswers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	app := b.createApp(t, "Acme", "")
	ep := b.createEndpoint(t, app, map[string]any{})
	base := "/api/v1/app/" + app + "/endpoint/" + ep + "/headers"

	many := map[string]string{}
	for i := range 65 {
		many[fmt.Sprintf("X-H%d", i)] = "v"
	}
	for _, tc := range []struct {
		name    string
		headers map[string]string
		msg     string
	}{
		{"empty name", map[string]string{"": "x"}, "Header names must be 1 to 256 characters"},
		{"long name", map[string]string{strings.Repeat("a", 257): "x"}, "Header names must be 1 to 256 characters"},
		{"bad name", map[string]string{"Bad Name": "x"}, `Header name "Bad Name" is not a valid HTTP header name`},
		{"reserved", map[string]string{"Expect": "100-continue"}, `Header "Expect" is set by Herald and cannot be overridden`},
		{"forwarded", map[string]string{"X-Forwarded-For": "1.2.3.4"}, `Header "X-Forwarded-For" is set by Herald and cannot be overridden`},
		{"svix prefix", map[string]string{"svix-foo": "x"}, `Header "svix-foo" is set by Herald and cannot be overridden`},
		{"long value", map[string]string{"X-Big": strings.Repeat("a", 4097)}, `The value of header "X-Big" must be at most 4096 characters`},
		{"control", map[string]string{"X-Token": "a\x01b"}, `The value of header "X-Token" must be on one line, without control characters other than tab`},
		{"too many", many, "An endpoint may have at most 64 custom headers"},
	} {
		for _, method := range []string{"PUT", "PATCH"} {
			if tc.name == "too many" && method == "PATCH" {
				continue // a patch is counted once merged, below
			}
			r := b.call(t, method, base, map[string]any{"headers": tc.headers}).want(t, 422)
			want, _ := json.Marshal(validationBody{Detail: []validationItem{{Loc: []string{"body", "headers"}, Msg: tc.msg, Type: "value_error"}}})
			if strings.TrimSpace(string(r.raw)) != string(want) {
				t.Errorf("%s %s: got %s, want %s", method, tc.name, r.raw, want)
			}
		}
	}

	// A patch that would bring the stored headers past 64 is refused the same way.
	sixty := map[string]string{}
	for i := range 60 {
		sixty[fmt.Sprintf("X-A%d", i)] = "v"
	}
	b.call(t, "PUT", base, map[string]any{"headers": sixty}).want(t, 204)
	five := map[string]any{}
	for i := range 5 {
		five[fmt.Sprintf("X-B%d", i)] = "v"
	}
	r := b.call(t, "PATCH", base, map[string]any{"headers": five}).want(t, 422)
	if !strings.Contains(string(r.raw), `"loc":["body","headers"],"msg":"An endpoint may have at most 64 custom headers"`) {
		t.Errorf("PATCH past 64: got %s, want the count refused on body.headers", r.raw)
	}
	// Names with any token character, as RFC 9110 allows, are accepted.
	b.call(t, "PUT", base, map[string]any{"headers": map[string]string{"X-Odd!#$%&'*+.^_`|~": "v"}}).want(t, 204)
}
