package api

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

// TestEveryReferenceRouteIsServed walks every path and method of the
// embedded OpenAPI document and checks that a route answers it (any
// status but the no-route 404 and 405).
func TestEveryReferenceRouteIsServed(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openapiDoc, &doc); err != nil {
		t.Fatal(err)
	}
	param := regexp.MustCompile(`\{[a-z_]+\}`)
	n := 0
	for path, ops := range doc.Paths {
		for method := range ops {
			if method == "parameters" {
				continue
			}
			n++
			concrete := param.ReplaceAllString(path, "x")
			r := b.call(t, strings.ToUpper(method), concrete, nil)
			if r.status == 405 || strings.Contains(string(r.raw), "No route") {
				t.Errorf("%s %s: got %d %s, want a route", strings.ToUpper(method), path, r.status, r.raw)
			}
		}
	}
	if n < 40 {
		t.Errorf("got %d operations, want every one of the reference's", n)
	}
}
