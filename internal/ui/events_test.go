package ui

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// Endpoint changes made in the portal and the dashboard are reported once
// stored, as the API's are, so operational webhooks see them too; refused
// changes report nothing.
func TestEndpointChangesAreReported(t *testing.T) {
	t.Parallel()
	b := setup(t)
	pc, ptoken := b.portal(t, b.a)

	if r := pc.post(t, "/ui/portal/endpoints", url.Values{"_csrf": {ptoken}, "url": {"ftp://nope"}}); r.status != http.StatusBadRequest {
		t.Fatalf("bad create: got %d, want 400", r.status)
	}
	r := pc.post(t, "/ui/portal/endpoints", url.Values{"_csrf": {ptoken}, "url": {"https://new.example/hook"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("create: got %d, want 303", r.status)
	}
	path := strings.Split(r.location, "?")[0]
	ep := strings.TrimPrefix(path, "/ui/portal/endpoints/")
	for _, step := range []struct{ path, url string }{{path, "https://new.example/v2"}, {path + "/rotate", ""}} {
		form := url.Values{"_csrf": {ptoken}}
		if step.url != "" {
			form.Set("url", step.url)
		}
		if r := pc.post(t, step.path, form); r.status != http.StatusSeeOther {
			t.Fatalf("POST %s: got %d, want 303", step.path, r.status)
		}
	}

	oc, otoken := b.login(t)
	base := "/ui/apps/" + b.a.ID + "/endpoints/" + ep + "/"
	for _, action := range []string{"disable", "disable", "enable"} {
		if r := oc.post(t, base+action, url.Values{"_csrf": {otoken}}); r.status != http.StatusSeeOther {
			t.Fatalf("%s: got %d, want 303", action, r.status)
		}
	}
	if r := pc.post(t, path+"/delete", url.Values{"_csrf": {ptoken}}); r.status != http.StatusSeeOther {
		t.Fatalf("delete: got %d, want 303", r.status)
	}

	suffix := " " + b.a.ID + " " + ep
	want := []string{"created", "updated", "updated", "disabled", "updated", "updated", "deleted"}
	for i := range want {
		want[i] += suffix
	}
	if got := b.events.take(); !slices.Equal(got, want) {
		t.Errorf("reported:\n got %q\nwant %q", got, want)
	}
}
