package api

import (
	"cmp"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/herald"
)

// TestPortalReadOnlyToken walks the route table with a token issued with
// readOnly: every request that would change something is refused with 403
// and the reason, whatever the route; every read of its own application
// succeeds; and the application is unchanged afterwards.
func TestPortalReadOnlyToken(t *testing.T) {
	t.Parallel()
	b, listened := setupRouteWalk(t)
	a := b.newTenant(t, "acme")
	token := b.call(t, "POST", "/api/v1/auth/app-portal-access/"+a.app, map[string]any{"readOnly": true}).want(t, 200).obj(t)["token"].(string)
	before := b.tenantState(t, a)

	// Deletes last and logout at the very end, so every route still finds
	// its objects and the token still works.
	routes := slices.Clone(New(Config{Store: b.store, Publisher: b.pub}).table)
	slices.SortStableFunc(routes, func(x, y route) int {
		return cmp.Compare(readOnlyRank(x.pattern), readOnlyRank(y.pattern))
	})
	var reads, writes int
	for _, rt := range routes {
		if rt.access&public != 0 {
			continue
		}
		method, pattern, _ := strings.Cut(rt.pattern, " ")
		r := b.callAs(t, token, method, params(pattern, a, a), bodies[rt.pattern], http.Header{"Idempotency-Key": {"k-" + rt.pattern}})
		switch {
		case strings.HasSuffix(pattern, "/logout"):
			r.want(t, 204)
		case method != "GET" || writingReads[rt.pattern]:
			writes++
			if r.status != 403 || r.obj(t)["code"] != herald.EFORBIDDEN || !strings.Contains(string(r.raw), "read-only") {
				t.Errorf("%s: got %d %.200s, want 403 with the read-only reason", rt.pattern, r.status, r.raw)
			}
		case rt.access&(admin|adminApp) != 0:
			r.want(t, 403) // an admin read: refused for scope
		default:
			reads++
			if r.status >= 300 {
				t.Errorf("%s: got %d %.200s, want a read-only token to read", rt.pattern, r.status, r.raw)
			}
		}
	}
	if reads < 15 || writes < 30 {
		t.Errorf("walked %d reads and %d writes; want the whole table", reads, writes)
	}
	if len(*listened) != 0 {
		t.Errorf("a read-only token opened listen sessions for %v", *listened)
	}
	if after := b.tenantState(t, a); after != before {
		t.Errorf("a read-only token changed its application:\nbefore %s\nafter  %s", before, after)
	}
	b.callAs(t, token, "GET", "/api/v1/app/acme", nil, nil).want(t, 401) // logged out

	// readOnly false, like no readOnly, may write.
	rw := b.call(t, "POST", "/api/v1/auth/app-portal-access/acme", map[string]any{"readOnly": false}).want(t, 200).obj(t)["token"].(string)
	b.callAs(t, rw, "POST", "/api/v1/app/acme/endpoint", map[string]any{"url": "https://example.com/hook"}, nil).want(t, 201)
}

func readOnlyRank(pattern string) int {
	if strings.HasSuffix(pattern, "/logout") {
		return 3
	}
	return deleteRank(pattern)
}
