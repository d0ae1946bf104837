package ui

import (
	"html"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/herald"
)

var textareaRE = regexp.MustCompile(`(?s)<textarea name="headers"[^>]*>(.*?)</textarea>`)

// The custom headers form keeps the API's rules (herald.CheckHeader and
// the count): what it refuses is refused with the reason and leaves the
// stored headers alone, and headers the API set, whatever token
// characters their names use, save back from the form unchanged.
func TestHeaderFormKeepsTheAPIRules(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c, token := b.login(t)
	path := "/ui/apps/" + b.a.ID + "/endpoints/" + b.a1.ID
	for _, tc := range []struct{ headers, problem string }{
		{"X-Forwarded-For: 6.6.6.6", `Header "X-Forwarded-For" is set by Herald and cannot be overridden`},
		{"Webhook-Version: evil", `Header "Webhook-Version" is set by Herald`},
		{"Svix-Foo: x", `Header "Svix-Foo" is set by Herald`},
		{"Expect: 100-continue", `Header "Expect" is set by Herald`},
		{"Keep-Alive: 5", `Header "Keep-Alive" is set by Herald`},
		{"X-Big: " + strings.Repeat("a", 10000), `The value of header "X-Big" must be at most 4096 characters`},
		{manyHeaders(100), "An endpoint may have at most 64 custom headers"},
	} {
		r := c.post(t, path+"/headers", url.Values{"_csrf": {token}, "headers": {tc.headers}})
		if r.status != http.StatusBadRequest || !strings.Contains(html.UnescapeString(r.body), tc.problem) {
			t.Errorf("headers %q: got %d, want 400 saying %q", short(40, tc.headers), r.status, tc.problem)
		}
	}
	ep, err := b.db.GetEndpoint(b.ctx, b.a.ID, b.a1.ID)
	must(t, "get endpoint", err)
	if len(ep.Headers) != 0 {
		t.Errorf("stored headers after refusals: got %d, want none", len(ep.Headers))
	}

	// As the API would store them: any token character, 64 of them.
	set := manyHeaderMap(63)
	set["X-Odd!#$%&'*+.^_`|~"] = "v"
	_, err = b.db.UpdateEndpoint(b.ctx, b.a.ID, b.a1.ID, func(ep *herald.Endpoint) error {
		ep.Headers = maps.Clone(set)
		return nil
	})
	must(t, "set headers", err)
	page := c.get(t, path).body
	form, text := formOf(t, page, path+"/headers"), textareaRE.FindStringSubmatch(page)
	if text == nil {
		t.Fatalf("no headers textarea in the endpoint page")
	}
	form.Set("headers", html.UnescapeString(text[1]))
	if r := c.post(t, path+"/headers", form); r.status != http.StatusSeeOther {
		t.Fatalf("saving the API's headers back: got %d (%s), want 303", r.status, r.body)
	}
	ep, err = b.db.GetEndpoint(b.ctx, b.a.ID, b.a1.ID)
	must(t, "get endpoint", err)
	if !maps.Equal(ep.Headers, set) {
		t.Errorf("headers after saving the form: got %d %v, want the %d set", len(ep.Headers), ep.Headers, len(set))
	}
}
